"""
Real, running Postfix instances for the mail-flow tests: each with its own
configuration directory, queue, data directory and log file, listening for
SMTP on one loopback address and port, started with ``postfix -c <dir>
start`` and stopped with ``postfix -c <dir> stop``. Nothing under
/etc/postfix is read or written, and no default instance is needed.

What Postfix (3.7, run as root, with no /etc/postfix/main.cf) requires,
found out by trying:

* ``inet_interfaces`` takes only addresses of a network interface. Linux
  routes all of 127.0.0.0/8 to ``lo``, but ``lo`` holds only 127.0.0.1, so
  ``inet_interfaces = 127.0.0.2`` is fatal ("no local interface found").
  The instance therefore keeps ``loopback-only`` there, and its smtpd
  listens on ``<address>:<port>`` named in master.cf, which Postfix binds
  without that check. ``smtp_bind_address`` takes any 127/8 address.
* The master and its daemons open the queue and data directories as the
  ``postfix`` user: every directory above them must be searchable by
  others (pytest's ``tmp_path`` is below a 0700 directory), and the data
  directory must belong to ``postfix``. :func:`instance_root` makes such a
  place.
* ``postfix check`` wants the configuration tree owned by root, so the
  queue and data directories sit beside it, not in it.
* ``maillog_file`` must start with one of ``maillog_file_prefixes``; the
  ``postlog`` service of master.cf writes it.
* chroot is switched off, so no copies of /etc files are needed.
* ``postfix -c``, ``postqueue -c`` and ``sendmail -C`` need no
  ``alternate_config_directories`` when root runs them.
"""

import concurrent.futures
import contextlib
import email
import os
import pathlib
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

from support.sandbox import MASTER_CF_DIST, age_config

MASTER_CF_PROTO = pathlib.Path("/etc/postfix/master.cf.proto")

#: Postfix settings of an instance; ``mynetworks`` and more come from the caller.
BASE_MAIN_CF = """\
# A throwaway Postfix instance of the mail-flow tests.
compatibility_level = 3.6
queue_directory = {home}/spool
data_directory = {home}/data
maillog_file_prefixes = {home}
maillog_file = {home}/maillog
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = {name}.mailflow.test
mydestination =
alias_maps =
alias_database =
smtp_bind_address = {address}
# No DNS: clients show as unknown[address], nexthops are [address]:port.
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
mynetworks = {mynetworks}
"""

#: Seconds to wait for Postfix to start, stop or deliver.
DEADLINE = 30


def loopback_address(host):
    """
    ``127.0.<100 + n>.<host>``, where n is the pytest-xdist worker's number:
    tests that run at the same time on different workers never share an
    address.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    number = int(worker[2:]) if worker[2:].isdigit() else 0
    return f"127.0.{100 + number}.{host}"


def free_port(address):
    """A TCP port on ``address`` that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def instance_root():
    """A directory for Postfix instances that the ``postfix`` user can reach; removed afterwards."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="ciphermail-postfix-"))
    root.chmod(0o711)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def running(*instances):
    """Start the Postfix ``instances`` and stop them afterwards, whatever happens (each step in parallel)."""
    with concurrent.futures.ThreadPoolExecutor() as pool:
        try:
            list(pool.map(PostfixInstance.start, instances))
            yield instances
        finally:
            list(pool.map(PostfixInstance.stop, instances))


def wait_for(what, check, deadline=DEADLINE, explain=lambda: ""):
    """Poll ``check()`` until it returns something true, and return that; fail naming ``what`` after ``deadline`` s."""
    end = time.monotonic() + deadline
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not seen within {deadline} s. {explain()}")
        time.sleep(0.1)


def rcpt_reply(host, port, recipient, source=None, sender="probe@mailflow.test"):
    """
    The server's ``(code, text)`` to ``RCPT TO:<recipient>`` in an SMTP
    session to ``host:port`` from ``source`` (an address to bind to). No
    mail is sent: the session ends with QUIT.
    """
    with smtplib.SMTP(
        host,
        port,
        local_hostname="probe.mailflow.test",
        timeout=DEADLINE,
        source_address=(source, 0) if source else None,
    ) as client:
        client.ehlo()
        client.mail(sender)
        code, text = client.rcpt(recipient)
        return code, text.decode()


class PostfixInstance:
    """One Postfix instance under ``root/name``: config dir ``etc``, ``spool``, ``data`` and ``maillog``."""

    def __init__(self, root, name, address, mynetworks, main_cf_extra=""):
        self.name = name
        self.address = address
        self.port = free_port(address)
        self.home = pathlib.Path(root) / name
        self.config_dir = self.home / "etc"
        self.maillog = self.home / "maillog"
        self.mailbox = self.home / "mailbox"
        for sub in ("etc", "spool", "data"):
            (self.home / sub).mkdir(parents=True)
        shutil.chown(self.home / "data", user="postfix")
        main_cf = BASE_MAIN_CF.format(home=self.home, name=name, address=address, mynetworks=mynetworks)
        (self.config_dir / "main.cf").write_text(main_cf + main_cf_extra)
        shutil.copyfile(MASTER_CF_DIST if MASTER_CF_DIST.exists() else MASTER_CF_PROTO, self.config_dir / "master.cf")
        self.postconf("-F", "*/*/chroot = n")
        self.postconf("-M#", "smtp/inet")  # the default smtpd would listen on 127.0.0.1:25
        self.postconf("-M", f"{self.listener}/inet = {self.listener} inet n - n - - smtpd")
        self.postconf("-M", "postlog/unix-dgram = postlog unix-dgram n - n - 1 postlogd")
        age_config(self.config_dir)

    @property
    def listener(self):
        return f"{self.address}:{self.port}"

    # -- configuration ----------------------------------------------------------
    def postconf(self, *args):
        return _run(["postconf", "-c", str(self.config_dir), *args]).strip()

    def mynetworks(self):
        return self.postconf("-h", "mynetworks").replace(",", " ").split()

    def deliver_to_mailbox(self, domain):
        """
        Deliver mail for ``domain`` into files in :attr:`mailbox`: a ``pipe``
        transport (as ``nobody``) chosen by ``transport_maps``. ``domain`` is
        in no domain list, so only clients in ``mynetworks`` can send to it.
        """
        self.mailbox.mkdir()
        shutil.chown(self.mailbox, user="nobody")
        self.mailbox.chmod(0o700)
        dd = shutil.which("dd")
        self.postconf(
            "-M",
            f"mailbox/unix = mailbox unix - n n - - pipe flags=R user=nobody "
            f"argv={dd} of={self.mailbox}/${{queue_id}}.eml status=none",
        )
        self.postconf("-e", f"transport_maps = inline:{{ {domain}=mailbox: }}")
        age_config(self.config_dir)

    # -- running -------------------------------------------------------------------
    def start(self):
        proc = subprocess.run(
            ["postfix", "-c", str(self.config_dir), "start"], capture_output=True, text=True, check=False
        )
        if proc.returncode:
            raise AssertionError(f"postfix -c {self.config_dir} start failed: {proc.stderr}{self.log_tail()}")
        return self

    def master_pid(self):
        """The PID of the running master process, or None."""
        try:
            pid = int((self.home / "spool" / "pid" / "master.pid").read_text().split()[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return None
        return pid

    def stop(self):
        """``postfix stop``; a master that is still there after the deadline is killed."""
        pid = self.master_pid()
        if pid is None:
            return
        subprocess.run(["postfix", "-c", str(self.config_dir), "stop"], capture_output=True, check=False)
        try:
            wait_for(f"{self.name}: master {pid} gone", lambda: self.master_pid() is None, deadline=10)
        except AssertionError:
            os.kill(pid, signal.SIGKILL)

    # -- what happened ------------------------------------------------------------
    def log(self):
        return self.maillog.read_text() if self.maillog.exists() else ""

    def log_tail(self, lines=20):
        return "\n" + "\n".join(self.log().splitlines()[-lines:])

    def wait_for_log(self, pattern, deadline=DEADLINE):
        """The first match of the regular expression ``pattern`` in the maillog, waiting for it."""
        regex = re.compile(pattern)
        return wait_for(
            f"{self.name} maillog: {pattern}", lambda: regex.search(self.log()), deadline, explain=self.log_tail
        )

    def messages(self):
        """The messages delivered into :attr:`mailbox` (see :meth:`deliver_to_mailbox`), parsed."""
        return [email.message_from_bytes(path.read_bytes()) for path in sorted(self.mailbox.glob("*.eml"))]


def _run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise AssertionError(f"{' '.join(argv)} failed: {proc.stderr}")
    return proc.stdout
