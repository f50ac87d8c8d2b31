"""
salt-ssh against a real sshd (:mod:`support.sshd`), set up as an admin sets
up an agentless master: a master config directory in the repository's
ignored build area, a file root serving this repository's formula, a pillar
root with one pillar per target, and a roster of the targets ``main`` and
``portal``. Each target is a sandboxed gateway (simulator + throwaway Postfix
config dir, :class:`support.sandbox.GatewaySandbox`) with its own
``thin_dir``, which only the target side sees. All targets are 127.0.0.1 as
root, through the one sshd.

salt-ssh and salt-run are the ones of the Salt under test: the venv that
runs pytest (``make test SALT_VERSION=3006`` runs it with ``.venv-salt3006``).
"""

import fcntl
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile

import yaml

from support.masterless import StateRun, gateway_pillar, link_formula
from support.sandbox import REPO_ROOT, GatewaySandbox

BUILD_DIR = REPO_ROOT / "build" / "salt-ssh"
SALT_BIN = pathlib.Path(sys.executable).parent
TARGETS = ("main", "portal")
#: Before the rest of the remote PATH: the system python3 (a pyenv shim is a
#: shell script, which salt-ssh's shim mishandles).
SET_PATH = "/usr/bin:/bin:/usr/sbin:/sbin:$PATH"


def new_master_root():
    """
    A fresh directory for a salt-ssh master config (``build/salt-ssh/master-*``).
    Give it to :class:`support.sshd.Sshd` as a ``master_dirs`` entry, so
    the target side cannot see it, then to :class:`SaltSsh` with that sshd.
    """
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    return pathlib.Path(tempfile.mkdtemp(prefix="master-", dir=BUILD_DIR))


class SaltSsh:
    """
    A salt-ssh master config in ``root`` (default: a new
    ``build/salt-ssh/master-*``) for the targets ``main`` and ``portal``
    behind ``sshd``. ``pillars`` maps a target to its ``ciphermail_split``
    pillar (lookup pointing at the target's sandbox is added);
    ``gateway_root`` holds the sandboxes. ``file_roots`` (default: a file
    root linking this repository's formula) and ``master_config`` (more
    master settings) change what the master serves.
    """

    def __init__(self, sshd, gateway_root, root=None, pillars=None, targets=TARGETS, file_roots=None, master_config=None):
        self.sshd = sshd
        self.root = pathlib.Path(root) if root else new_master_root()
        self.config_dir = self.root / "etc-salt"
        self.pillar_root = self.root / "pillar"
        self.file_roots = [str(path) for path in file_roots or [link_formula(self.root / "file-root")]]
        self.gateways = {name: GatewaySandbox(pathlib.Path(gateway_root) / name) for name in targets}
        self.minion_opts = {name: {} for name in targets}
        for path in (self.config_dir, self.pillar_root):
            path.mkdir(parents=True, exist_ok=True)
        self._write_master_config(master_config or {})
        seed_thin(self.root / "salt-root" / "cache")
        self._write_roster()
        self.pillars = {}
        for name in targets:
            self.set_pillar(name, (pillars or {}).get(name, {}))

    # -- configuration ----------------------------------------------------------
    def set_master_config(self, extra):
        """Rewrite the master config with ``extra`` over the harness's settings (e.g. ``module_dirs``)."""
        self._write_master_config(extra)

    def _write_master_config(self, extra):
        salt_root = self.root / "salt-root"
        config = {
            "root_dir": str(salt_root),
            "pki_dir": str(salt_root / "pki"),
            "cachedir": str(salt_root / "cache"),
            "sock_dir": str(salt_root / "run"),
            "log_file": str(salt_root / "master.log"),
            "ssh_log_file": str(salt_root / "ssh.log"),
            "log_level_logfile": "debug",
            "file_roots": {"base": self.file_roots},
            "pillar_roots": {"base": [str(self.pillar_root)]},
            "roster_file": str(self.roster_file),
            # As the README says: salt-ssh loads the formula's wrapper module
            # (_wrapper) from the directory that holds it.
            "module_dirs": self.file_roots[:1],
            # The sshd's throwaway host key: salt-ssh checks it (no
            # --ignore-host-keys needed, also not for the connections that
            # rendering or an orchestration opens), and nothing lands in ~/.ssh.
            "known_hosts_file": str(self.sshd.known_hosts),
            # The master's own key is the client key: salt-ssh does not make
            # one on its first call (two calls at once would race to).
            "ssh_priv": str(self.sshd.client_key),
            **extra,
        }
        (self.config_dir / "master").write_text(yaml.safe_dump(config))
        # salt-run writes a file per job here; a master daemon would have made it.
        (salt_root / "cache" / "proc").mkdir(parents=True, exist_ok=True)

    @property
    def roster_file(self):
        return self.config_dir / "roster"

    def thin_dir(self, target):
        """Where salt-ssh puts its thin on ``target``: only the target side sees it (``Sshd.target_dir``)."""
        return self.sshd.target_dir / f"thin-{target}"

    def _write_roster(self):
        roster = {
            name: {
                "host": self.sshd.host,
                "port": self.sshd.port,
                "user": "root",
                "priv": str(self.sshd.client_key),
                "thin_dir": str(self.thin_dir(name)),
                "set_path": SET_PATH,
                **({"minion_opts": self.minion_opts[name]} if self.minion_opts[name] else {}),
            }
            for name in self.gateways
        }
        self.roster_file.write_text(yaml.safe_dump(roster))

    def set_minion_opts(self, target, opts):
        """Replace the minion config salt-ssh gives ``target`` (the roster's ``minion_opts``)."""
        self.minion_opts[target] = opts
        self._write_roster()

    def lookup(self, target):
        """``ciphermail_split:lookup`` pointing at ``target``'s sandbox (for pillar or minion_opts)."""
        return gateway_pillar(self.gateways[target], {})["ciphermail_split"]["lookup"]

    def set_pillar(self, target, pillar):
        """Replace ``target``'s ``ciphermail_split`` pillar (lookup pointing at its sandbox is added)."""
        self.pillars[target] = pillar
        (self.pillar_root / f"{target}.sls").write_text(yaml.safe_dump(gateway_pillar(self.gateways[target], pillar)))
        top = {"base": {name: [name] for name in self.gateways}}
        (self.pillar_root / "top.sls").write_text(yaml.safe_dump(top))

    # -- running ----------------------------------------------------------------
    def ssh(self, target, fun, *args, options=(), timeout=300, **kwargs):
        """
        ``salt-ssh [options] <target> <fun> <args...> <key=value...> --out
        json``; returns a :class:`SaltSshRun`. Arguments that are not
        strings, and every keyword value, go as JSON (``pillar={...}``).
        """
        argv = [
            str(SALT_BIN / "salt-ssh"),
            f"--config-dir={self.config_dir}",
            "--out=json",
            *options,
            target,
            fun,
            *(arg if isinstance(arg, str) else json.dumps(arg) for arg in args),
            *(f"{key}={json.dumps(value)}" for key, value in kwargs.items()),
        ]
        return SaltSshRun(target, self._run(argv, timeout))

    def target(self, name):
        """The target ``name`` as the run contract sees a minion (:class:`SaltSshTarget`)."""
        return SaltSshTarget(self, name)

    def run(self, fun, *args, timeout=300):
        """``salt-run <fun> <args...> --out json`` with this master config; the CompletedProcess."""
        argv = [str(SALT_BIN / "salt-run"), f"--config-dir={self.config_dir}", "--out=json", fun, *args]
        return self._run(argv, timeout)

    def _run(self, argv, timeout):
        env = {key: value for key, value in os.environ.items() if not key.startswith("CIPHERMAIL_SIM_")}
        # A session of its own, so a run that hangs (say, on a host key
        # prompt) is killed with every process it forked.
        with subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
        ) as proc:
            try:
                stdout, stderr = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise
        return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)

    def cleanup(self):
        """Remove the master config and its cache (the thin dirs live and go with the sshd's namespace)."""
        shutil.rmtree(self.root, ignore_errors=True)


def seed_thin(cachedir):
    """
    Put the Salt thin into the master's ``cachedir``, so a test's first
    salt-ssh call does not spend seconds packing it. It is packed once per
    Salt version and Python, under a lock (tests run in parallel), into
    ``build/salt-ssh/thin-<salt>-py<x.y>/``; salt-ssh reuses a ``thin.tgz``
    whose ``version`` file names its own Salt version.
    """
    import salt.version  # pylint: disable=import-outside-toplevel

    shared = BUILD_DIR / f"thin-{salt.version.__version__}-py{sys.version_info[0]}.{sys.version_info[1]}"
    with open(BUILD_DIR / f"{shared.name}.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "thin" / "thin.tgz").exists():
            packing = pathlib.Path(tempfile.mkdtemp(prefix="packing-", dir=BUILD_DIR))
            subprocess.run(
                [sys.executable, "-c", "import sys, salt.utils.thin; salt.utils.thin.gen_thin(sys.argv[1])", str(packing)],
                check=True,
                capture_output=True,
            )
            shutil.rmtree(shared, ignore_errors=True)
            packing.rename(shared)
    shutil.copytree(shared / "thin", pathlib.Path(cachedir) / "thin")


class SaltSshTarget:
    """
    One roster target as :mod:`support.contract` uses a minion: its
    ``gateway`` and ``apply``, which runs ``salt-ssh <target> state.apply``.
    """

    def __init__(self, salt_ssh, name):
        self.salt_ssh = salt_ssh
        self.name = name
        self.gateway = salt_ssh.gateways[name]

    def apply(self, sls="ciphermail_split", test=False, extra_env=None):
        """``state.apply sls [test=True]``; the target's environment is the sshd's (``Sshd(env=...)``)."""
        if extra_env:
            raise ValueError("a salt-ssh target takes its environment from its sshd, not from the command")
        return self.salt_ssh.ssh(self.name, "state.apply", sls, **({"test": True} if test else {}))


class SaltSshRun(StateRun):
    """
    The outcome of one salt-ssh call on one target: ``data`` is the
    target's return; for ``state.apply`` the :class:`StateRun` views
    (states, changes, results, errors) apply.
    """

    def __init__(self, target, proc):  # pylint: disable=super-init-not-called
        self.target = target
        self.proc = proc
        self.returncode = proc.returncode
        try:
            self.data = json.loads(proc.stdout)[target] if proc.stdout.strip() else None
        except (ValueError, KeyError, TypeError):
            self.data = None

    def __repr__(self):
        return f"SaltSshRun(rc={self.returncode}, stdout={self.proc.stdout[-3000:]!r}, stderr={self.proc.stderr[-3000:]!r})"
