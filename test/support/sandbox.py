"""
A sandboxed gateway: the CipherMail simulator's home, the Ansible vars
directory it reads, the formula's state directory and a throwaway Postfix
configuration directory, all under one root. Nothing here touches /etc.

``GatewaySandbox.lookup()`` is the ``ciphermail_split:lookup`` pillar that
points the formula at the sandbox.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SIMULATOR_DIR = REPO_ROOT / "test" / "simulator"
MASTER_CF_DIST = pathlib.Path("/usr/share/postfix/master.cf.dist")

#: Postfix settings of a fresh sandbox: loopback only, its own spool.
BASE_MAIN_CF = """\
# Throwaway Postfix configuration of a sandboxed gateway.
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
inet_interfaces = loopback-only
mydestination =
mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128
"""

#: Words of a ciphermail-cli write, in the vendor grammar and the simulator's scoped one.
WRITE_WORDS = {"set", "add", "delete", "create", "remove"}
POSTFIX_TOOLS = ("postconf", "postmap", "postfix")


def is_write_call(call):
    """True for a call-log entry that changes the gateway (a set/add/delete or a playbook run)."""
    return call["prog"] == "cm-run-playbook" or bool(WRITE_WORDS & set(call["argv"][:3]))


def is_postfix_write(argv):
    """True for a logged Postfix command (``[tool, args...]``) that changes files or the running MTA."""
    tool, args = argv[0], argv[1:]
    if tool == "postconf":
        return bool({"-e", "-X", "-#"} & set(args))
    if tool == "postmap":
        return "-q" not in args
    return "status" not in args


class GatewaySandbox:
    """One simulated gateway with its own Postfix configuration directory."""

    def __init__(self, root, main_cf_extra="", log_postfix=False):
        self.root = pathlib.Path(root)
        self.log_postfix = log_postfix
        self.home = self.root / "sim"
        self.ansible_vars_dir = self.home / "ansible" / "group_vars" / "all"
        self.state_dir = self.root / "state"
        self.postfix_dir = self.root / "postfix"
        self.ansible_vars_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("spool", "data"):
            (self.postfix_dir / sub).mkdir(parents=True, exist_ok=True)
        main_cf_path = self.postfix_dir / "main.cf"
        if not main_cf_path.exists():
            # ``main_cf_extra``: more lines; ``{root}`` is the Postfix config dir.
            main_cf_path.write_text((BASE_MAIN_CF + main_cf_extra).format(root=self.postfix_dir))
        master_cf = self.postfix_dir / "master.cf"
        if not master_cf.exists() and MASTER_CF_DIST.exists():
            shutil.copyfile(MASTER_CF_DIST, master_cf)
        if log_postfix:
            self._write_postfix_wrappers()
        self.age_config()

    def _write_postfix_wrappers(self):
        """
        ``bin/postconf`` etc.: log one tab-separated line (a checksum of the
        Postfix config dir's files, the tool, its arguments), then run the
        real tool. The checksum tells whether anything was written between
        two commands, by a command or by the formula editing a file.
        """
        bin_dir = self.root / "bin"
        bin_dir.mkdir(exist_ok=True)
        for tool in POSTFIX_TOOLS:
            real = shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin")
            wrapper = bin_dir / tool
            wrapper.write_text(
                "#!/bin/sh\n"
                f"sum=$(cat '{self.postfix_dir}'/* 2>/dev/null | cksum | tr ' ' -)\n"
                f"( IFS=\"$(printf '\\t')\"; printf '%s\\n' \"$sum\t{tool}\t$*\" ) >> '{self.postfix_log}'\n"
                f'exec {real} "$@"\n'
            )
            wrapper.chmod(0o755)

    @property
    def postfix_log(self):
        return self.root / "postfix-calls.log"

    def postfix_calls(self):
        """
        The Postfix commands the formula ran, oldest first, as ``{"config":
        <checksum of the config files when it ran>, "argv": [tool, args...]}``;
        needs ``log_postfix``.
        """
        if not self.postfix_log.exists():
            return []
        lines = [line.split("\t") for line in self.postfix_log.read_text().splitlines()]
        return [{"config": fields[0], "argv": fields[1:]} for fields in lines]

    def age_config(self):
        """Date main.cf/master.cf back after a test wrote them (see :func:`age_config`)."""
        age_config(self.postfix_dir)

    # -- pointing the formula at the sandbox ---------------------------------
    def env(self):
        """The environment the simulator needs."""
        return {"CIPHERMAIL_SIM_HOME": str(self.home)}

    def lookup(self):
        """``ciphermail_split:lookup`` for this sandbox."""
        return {
            "cli": [sys.executable, str(SIMULATOR_DIR / "ciphermail-cli")],
            "playbook_cmd": [sys.executable, str(SIMULATOR_DIR / "cm-run-playbook")],
            "ansible_vars_dir": str(self.ansible_vars_dir),
            "state_dir": str(self.state_dir),
            "postfix_config_dir": str(self.postfix_dir),
            "command_env": self.env(),
            **({tool: str(self.root / "bin" / tool) for tool in POSTFIX_TOOLS} if self.log_postfix else {}),
        }

    # -- running Postfix for real -----------------------------------------------
    def start_postfix(self, workdir):
        """
        Run the sandbox's Postfix for real (needs root): unix-domain services
        only (no ports), spool, data and log in ``workdir``, which Postfix's
        unprivileged processes must be able to reach (pytest's own tmp dirs
        are private to root). Its log is ``workdir/data/maillog``.
        """
        workdir = pathlib.Path(workdir)
        master_cf = self.postfix_dir / "master.cf"
        kept = [line for line in master_cf.read_text().splitlines(keepends=True) if line.split()[1:2] != ["inet"]]
        master_cf.write_text("".join(kept))
        (workdir / "spool").mkdir(parents=True)
        (workdir / "data").mkdir()
        shutil.chown(workdir / "data", user="postfix")
        main_cf = (self.postfix_dir / "main.cf").read_text()
        main_cf = re.sub(r"(?m)^(queue|data)_directory = .*\n", "", main_cf) + (
            f"queue_directory = {workdir}/spool\ndata_directory = {workdir}/data\n"
            f"maillog_file = {workdir}/data/maillog\nmaillog_file_prefixes = {workdir}\n"
        )
        (self.postfix_dir / "main.cf").write_text(main_cf)
        self.age_config()
        subprocess.run(["postfix", "-c", str(self.postfix_dir), "start"], check=True, capture_output=True)

    def stop_postfix(self):
        """Stop a Postfix that :meth:`start_postfix` started (no error if it is not running)."""
        subprocess.run(["postfix", "-c", str(self.postfix_dir), "stop"], check=False, capture_output=True)

    # -- reading the simulated gateway ----------------------------------------
    def sim_state(self):
        path = self.home / "state.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def calls(self):
        path = self.home / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def write_calls(self, since=0):
        """The write calls (set/add/delete, playbook) logged after call number ``since``."""
        return [call for call in self.calls()[since:] if is_write_call(call)]

    def cli(self, *argv, check=True):
        """Run the simulated ciphermail-cli directly (as an admin would)."""
        proc = subprocess.run(
            [sys.executable, str(SIMULATOR_DIR / "ciphermail-cli"), *argv],
            env={**_base_env(), **self.env()},
            capture_output=True,
            text=True,
            check=False,
        )
        if check and proc.returncode:
            raise AssertionError(f"ciphermail-cli {argv} failed: {proc.stderr}")
        return proc

    # -- an admin's own Postfix configuration --------------------------------
    def admin_postfix(self, tool, *args):
        """Run a Postfix command on the sandbox as an admin would (then date main.cf back)."""
        subprocess.run([tool, "-c", str(self.postfix_dir), *args], check=True, capture_output=True)
        self.age_config()

    def admin_table(self, parameter, name, text, kind="hash"):
        """
        The admin's table file ``name`` with ``text``, built (unless
        ``texthash``) and configured as ``parameter``; returns its path and
        ``kind:path``.
        """
        path = self.postfix_dir / name
        path.write_text(text)
        table = f"{kind}:{path}"
        if kind != "texthash":
            self.admin_postfix("postmap", table)
        self.admin_postfix("postconf", "-e", f"{parameter}={table}")
        return path, table

    # -- reading Postfix --------------------------------------------------------
    def postconf(self, parameter, expand=False):
        flags = "-hx" if expand else "-h"
        return _run(["postconf", "-c", str(self.postfix_dir), flags, parameter]).strip()

    def mynetworks(self):
        """The elements of ``mynetworks`` as Postfix shows them."""
        return self.postconf("mynetworks").replace(",", " ").split()

    def postmap_query(self, key, table):
        proc = subprocess.run(
            ["postmap", "-c", str(self.postfix_dir), "-q", key, table],
            capture_output=True,
            text=True,
            check=False,
        )
        return proc.stdout.strip() if proc.returncode == 0 else None

    def files(self):
        """Every regular file of the Postfix dir and the Ansible vars dir, by relative path, as bytes."""
        snapshot = {}
        for base in (self.postfix_dir, self.ansible_vars_dir):
            for path in sorted(base.rglob("*")):
                if path.is_file() and "spool" not in path.parts and "data" not in path.parts:
                    snapshot[str(path.relative_to(self.root))] = path.read_bytes()
        return snapshot


def age_config(postfix_dir, seconds=60):
    """
    Date the Postfix configuration files back, as if an admin wrote them a
    while ago: Postfix commands wait until main.cf is older than about a
    second, so a just-written sandbox would make every command pause.
    """
    for name in ("main.cf", "master.cf"):
        path = pathlib.Path(postfix_dir) / name
        if path.exists():
            stamp = path.stat().st_mtime - seconds
            os.utime(path, (stamp, stamp))


def _base_env():
    return {key: value for key, value in os.environ.items() if not key.startswith("CIPHERMAIL_SIM_")}


def _run(argv):
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout
