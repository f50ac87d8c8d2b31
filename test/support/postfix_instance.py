"""
Real, running Postfix instances for the mail-flow tests: each with its own
configuration directory, queue, data directory and log file, listening for
SMTP on one loopback address and port, started with ``postfix -c <dir>
start`` and stopped the way ``postfix stop`` does it. Nothing under
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
  ``alternate_config_directories`` when root runs them; ``-c`` wants an
  absolute path (a relative one fails with no message).

For TLS between instances (see :mod:`support.tls_ca` for certificates):

* smtpd(8) reads its certificate and key, and smtp(8) its
  ``smtp_tls_CAfile``, as root before dropping privileges: root-only files
  do. Files under ``smtp_tls_CApath`` are read later, as ``postfix``.
* At the default ``smtp_tls_loglevel = 0`` the SMTP client logs no TLS line
  at all; :meth:`PostfixInstance.trust_ca` sets 1.
* With ``smtpd_tls_security_level = may`` and no usable certificate/key,
  smtpd still lists STARTTLS in EHLO and answers the command with ``454
  4.7.0 TLS not available due to local problem``.
"""

import concurrent.futures
import contextlib
import email
import json
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

from support import maillog
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


def nexthop_list(*instances):
    """The nexthop field of a transport entry that tries ``instances`` in order: ``[a]:p1, [b]:p2``."""
    return ", ".join(instance.nexthop for instance in instances)


def free_port(address, *others):
    """A TCP port on ``address`` (and on each of ``others``) that nothing listens on right now."""
    while True:
        with socket.socket() as probe:
            probe.bind((address, 0))
            port = probe.getsockname()[1]
        try:
            for other in others:
                with socket.socket() as check:
                    check.bind((other, port))
        except OSError:
            continue
        return port


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

    def __init__(self, root, name, address, mynetworks, main_cf_extra="", port=None):
        self.name = name
        self.address = address
        self.port = port or free_port(address)
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

    @property
    def nexthop(self):
        """This instance as a nexthop of a transport or TLS policy entry: ``[address]:port``."""
        return f"[{self.address}]:{self.port}"

    @property
    def peer_name(self):
        """How an SMTP client without DNS logs this instance: ``address[address]:port``."""
        return f"{self.address}[{self.address}]:{self.port}"

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

    def offer_starttls(self, cert_file=None, key_file=None):
        """
        The SMTP server offers STARTTLS with ``cert_file`` and ``key_file``
        (``smtpd_tls_security_level = may``), or, without them, offers no
        STARTTLS (``none``). A running instance reloads.
        """
        if cert_file:
            settings = [f"smtpd_tls_cert_file = {cert_file}", f"smtpd_tls_key_file = {key_file}"]
            self.postconf("-e", "smtpd_tls_security_level = may", "smtpd_tls_loglevel = 1", *settings)
        else:
            self.postconf("-e", "smtpd_tls_security_level = none")
            self.postconf("-X", "smtpd_tls_cert_file", "smtpd_tls_key_file")
        self._changed()

    def trust_ca(self, cafile):
        """The SMTP client verifies servers against the CA certificates in ``cafile``, and logs each TLS handshake."""
        self.postconf("-e", f"smtp_tls_CAfile = {cafile}", "smtp_tls_loglevel = 1")
        self._changed()

    def use_table(self, parameter, name, entries):
        """
        Write ``entries`` (``{key: value}``) into ``etc/<name>``, build it with
        ``postmap``, set ``parameter`` to it (``hash:``) and, if Postfix
        runs, reload; return the table's path.

        A running Postfix needs the reload for a rebuilt table, as for
        main.cf: trivial-rewrite(8) keeps answering the queue manager's
        open connection from the transport table it opened (seen for
        seconds after a rebuild). smtp(8) notices a rebuilt
        ``smtp_tls_policy_maps`` before its next delivery, but only by the
        ``.db`` file's mtime in whole seconds: a rebuild within the second
        of the last one goes unnoticed.
        """
        path = self.config_dir / name
        path.write_text("".join(f"{key} {value}\n" for key, value in entries.items()))
        _run(["postmap", "-c", str(self.config_dir), f"hash:{path}"])
        self.postconf("-e", f"{parameter} = hash:{path}")
        self._changed()
        return path

    def _changed(self):
        """main.cf was written: date it back, and put it in force if Postfix runs."""
        age_config(self.config_dir)
        if self.master_pid() is not None:
            self.reload()

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
        except (OSError, ValueError, IndexError):
            return None
        return pid if _running(pid) else None

    def reload(self):
        """``postfix reload``, waiting until the master logged it."""
        reloads = self._reloads()
        _run(["postfix", "-c", str(self.config_dir), "reload"])
        wait_for(f"{self.name} reloaded", lambda: self._reloads() > reloads, explain=self.log_tail)

    def _reloads(self):
        return self.log().count("reload -- version")

    def flush(self):
        """``postqueue -f``: try every queued message now, deferred ones too (and destinations marked dead)."""
        _run(["postqueue", "-c", str(self.config_dir), "-f"])

    def queue(self):
        """The queued messages, as ``postqueue -j`` reports them (``queue_id``, ``queue_name``, ``recipients``...)."""
        output = _run(["postqueue", "-c", str(self.config_dir), "-j"])
        return [json.loads(line) for line in output.splitlines()]

    def stop(self):
        """
        Stop Postfix as ``postfix stop`` does (SIGTERM to the master, which
        ends its process group), and wait until every process of the
        instance is gone, so nothing listens any more. ``postfix stop`` itself
        sleeps a second before it looks again. A master that is still there
        after the deadline is killed with its group.
        """
        pid = self.master_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        try:
            wait_for(f"{self.name}: processes of master {pid} gone", lambda: not _group_alive(pid), deadline=10)
        except AssertionError:
            os.killpg(pid, signal.SIGKILL)

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

    def submit(self, recipient, subject, sender="sender@main.mailflow.test", headers=()):
        """
        Submit a message for ``recipient`` by SMTP, from the envelope
        ``sender`` ("" for the null sender) and with ``headers`` (lines
        ``Name: value``) added; return its queue ID here.
        """
        lines = ["From: <sender@main.mailflow.test>", f"To: <{recipient}>", f"Subject: {subject}", *headers]
        with smtplib.SMTP(self.address, self.port, local_hostname="client.mailflow.test", timeout=DEADLINE) as client:
            client.ehlo()
            client.mail(sender)
            code, text = client.rcpt(recipient)
            assert code == 250, (code, text)
            code, text = client.data("\r\n".join([*lines, "", "Hello.", ""]).encode())
        assert code == 250, text
        return text.decode().rsplit(" ", 1)[-1]

    def deliveries(self, queue_id=None):
        """The SMTP client's delivery attempts (:class:`support.maillog.Delivery`), of ``queue_id`` or all."""
        return [d for d in maillog.deliveries(self.log()) if queue_id in (None, d.queue_id)]

    def wait_for_delivery(self, queue_id, attempt=1):
        """The ``attempt``-th delivery attempt of ``queue_id`` (1: the first), waiting for it."""
        found = wait_for(
            f"{self.name}: delivery attempt {attempt} of {queue_id}",
            lambda: self.deliveries(queue_id)[attempt - 1 :],
            explain=self.log_tail,
        )
        return found[0]

    def sessions_from(self, client):
        """The SMTP server's finished sessions with ``client`` (an address): ``{command: count}`` each."""
        return [counts for name, counts in maillog.smtpd_sessions(self.log()) if name.endswith(f"[{client}]")]

    def messages(self):
        """The messages delivered into :attr:`mailbox` (see :meth:`deliver_to_mailbox`), parsed."""
        return [email.message_from_bytes(path.read_bytes()) for path in sorted(self.mailbox.glob("*.eml"))]

    def wait_for_messages(self, count):
        """The messages in :attr:`mailbox`, once there are ``count`` of them (a relay's status=sent comes first)."""

        def enough():
            messages = self.messages()
            return messages if len(messages) >= count else None

        return wait_for(f"{self.name}: {count} message(s) in the mailbox", enough, explain=self.log_tail)


def _running(pid):
    """True while process ``pid`` runs; a zombie does not (the master is a child of init, which may reap late)."""
    try:
        return _proc_stat(pid)[0] != "Z"
    except OSError:
        return False


def _group_alive(pgid):
    """True while a process of the group ``pgid`` runs (the master leads its group: it calls setsid)."""
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state, group = _proc_stat(entry.name)
            except OSError:
                continue
            if group == pgid and state != "Z":
                return True
    return False


def _proc_stat(pid):
    """``(state, process group)`` of process ``pid``, from /proc/<pid>/stat."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[0], int(fields[2])


def _run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise AssertionError(f"{' '.join(argv)} failed: {proc.stderr}")
    return proc.stdout
