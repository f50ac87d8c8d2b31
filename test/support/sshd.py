"""
A real OpenSSH server for one test: Debian's ``/usr/sbin/sshd`` on
127.0.0.1 and a free high port, with a host key and a client key made for
the test, its own ``sshd_config`` and log, all under one directory. Root may
log in with the client key only. Needs root (CI is root).

sshd runs in a mount namespace of its own, with an empty tmpfs on
``target_dir``: files that ssh sessions write there (salt-ssh's thin and
the modules it ships) are invisible to the test and to the salt-ssh master,
as on a remote host. The other way round, ``master_dirs`` (the salt-ssh
master's config, file roots and cache) get an empty tmpfs too, so the target
side cannot read them. So nothing works here by one side reading the other
side's files. Everything else is shared (the sandboxes the test checks).

Every session's command line (what a client asks sshd to run, the
arguments of salt-ssh's calls included) is noted in ``commands.log``
before it runs, so a test can check what went over the wire:
:meth:`Sshd.commands`. ``env`` is set in every session (sshd's
``SetEnv``), as a gateway's own environment would be.

    with Sshd(tmp_path / "sshd") as sshd:
        ssh to 127.0.0.1:sshd.port as root with sshd.client_key,
        host key in sshd.known_hosts
"""

import base64
import binascii
import contextlib
import os
import pathlib
import re
import socket
import subprocess
import time

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
#: sshd's privilege separation directory (compiled in; not configurable).
PRIVSEP_DIR = pathlib.Path("/run/sshd")
HOST = "127.0.0.1"

SSHD_CONFIG = """\
# Throwaway sshd of one test: loopback only, root by key only.
ListenAddress {host}:{port}
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
# salt-ssh copies its thin with scp, which speaks sftp since OpenSSH 9.
Subsystem sftp {sftp_server}
# Each session's command is noted (commands.log), then run as sshd runs it.
ForceCommand {note_command}
{set_env}# VERBOSE logs each accepted key: one "Accepted publickey" line per session.
LogLevel VERBOSE
"""


#: Notes the command a client asked for (base64, one line each), then runs it.
NOTE_COMMAND = """\
#!/bin/sh
printf '%s' "$SSH_ORIGINAL_COMMAND" | base64 -w0 >> {log}
echo >> {log}
if [ -z "$SSH_ORIGINAL_COMMAND" ]; then exec /bin/sh -l; fi
exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"
"""


class SshdError(RuntimeError):
    """sshd did not come up."""


class Sshd:
    """One sshd under ``root``; :meth:`start` it, :meth:`stop` it (or use ``with``)."""

    def __init__(self, root, master_dirs=(), env=None):
        self.root = pathlib.Path(root)
        self.master_dirs = [pathlib.Path(path) for path in master_dirs]
        self.env = dict(env or {})
        self.root.mkdir(parents=True, exist_ok=True)
        self.host = HOST
        self.port = None
        self.host_key = self.root / "ssh_host_ed25519_key"
        self.client_key = self.root / "id_ed25519"
        self.authorized_keys = self.root / "authorized_keys"
        self.known_hosts = self.root / "known_hosts"
        self.config = self.root / "sshd_config"
        self.pid_file = self.root / "sshd.pid"
        self.log_file = self.root / "sshd.log"
        self.target_dir = self.root / "target-only"
        self.note_command = self.root / "note-command"
        self.commands_log = self.root / "commands.log"
        self.process = None

    # -- keys -------------------------------------------------------------------
    def _make_keys(self):
        for key in (self.host_key, self.client_key):
            if not key.exists():
                subprocess.run(
                    ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key.name, "-f", str(key)],
                    check=True,
                    capture_output=True,
                )
        self.authorized_keys.write_text(pathlib.Path(f"{self.client_key}.pub").read_text())

    def _write_known_hosts(self):
        key_type, key = pathlib.Path(f"{self.host_key}.pub").read_text().split()[:2]
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {key_type} {key}\n")

    # -- the daemon -------------------------------------------------------------
    def start(self, attempts=5):
        """Start sshd on a free port (another one if that port was taken meanwhile)."""
        self._make_keys()
        self.note_command.write_text(NOTE_COMMAND.format(log=self.commands_log))
        self.note_command.chmod(0o755)
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        self.target_dir.mkdir(exist_ok=True)
        for _ in range(attempts):
            self.port = _free_port()
            self.config.write_text(
                SSHD_CONFIG.format(
                    host=self.host,
                    port=self.port,
                    host_key=self.host_key,
                    pid_file=self.pid_file,
                    authorized_keys=self.authorized_keys,
                    sftp_server=SFTP_SERVER,
                    note_command=self.note_command,
                    set_env="".join(f"SetEnv {name}={value}\n" for name, value in self.env.items()),
                )
            )
            # unshare and sh exec into sshd: one process, our child. sshd -D
            # stays in the foreground; -E: its log, appended.
            in_namespace = (
                'mount -t tmpfs -o mode=0755 target-only "$1" && shift && '
                'config=$1 log=$2 && shift 2 && '
                'for dir; do mount -t tmpfs -o mode=0755 master-only "$dir" || exit 1; done && '
                f'exec {SSHD} -D -f "$config" -E "$log"'
            )
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", in_namespace, "sh"]
                + [str(self.target_dir), str(self.config), str(self.log_file)]
                + [str(path) for path in self.master_dirs],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_listening():
                self._write_known_hosts()
                return self
        raise SshdError(f"sshd did not start: {self.log_text()[-2000:]}")

    def _wait_listening(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            # sshd writes its PidFile once it listens.
            if self.pid_file.exists():
                return True
            time.sleep(0.01)
        self.stop()
        return False

    def stop(self):
        """Stop sshd and the sessions it forked (no error if it is not running)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self.pid_file.unlink(missing_ok=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- reading its log --------------------------------------------------------
    def log_text(self):
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def sessions(self):
        """How many ssh sessions sshd accepted so far (one per salt-ssh connection)."""
        return len(re.findall(r"^.*Accepted publickey for ", self.log_text(), flags=re.MULTILINE))

    def commands(self):
        """The command line of every session so far, in order (decoded)."""
        if not self.commands_log.exists():
            return []
        lines = self.commands_log.read_text().splitlines()
        return [base64.b64decode(line).decode(errors="replace") for line in lines if line]

    def wire_text(self):
        """
        Every session's command line, and the decoded text of each base64
        run in it (salt-ssh sends its call's arguments base64-encoded):
        what a process listing or an audit log on the target could show.
        """
        texts = []
        for command in self.commands():
            texts.append(command)
            for run in re.findall(r"[A-Za-z0-9+/]{16,}={0,2}", command):
                with contextlib.suppress(binascii.Error, ValueError):
                    texts.append(base64.b64decode(run + "=" * (-len(run) % 4)).decode(errors="replace"))
        return "\n".join(texts)

    def ssh(self, command):
        """Run a shell command on the target side as root; the CompletedProcess."""
        return subprocess.run(self.ssh_argv(command), capture_output=True, text=True, check=False)

    def ssh_argv(self, *command):
        """An ``ssh`` command line to this sshd as root (for a look by hand)."""
        return [
            "ssh",
            "-i",
            str(self.client_key),
            "-p",
            str(self.port),
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "BatchMode=yes",
            f"root@{self.host}",
            *command,
        ]


def _free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


if __name__ == "__main__":  # a look by hand: python test/support/sshd.py DIR
    import sys

    with Sshd(sys.argv[1]) as server:
        print(" ".join(server.ssh_argv()), flush=True)
        try:
            os.pause() if hasattr(os, "pause") else time.sleep(3600)
        except KeyboardInterrupt:
            pass
