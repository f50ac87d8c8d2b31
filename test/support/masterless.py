"""
A masterless Salt minion (``salt-call --local``) for one sandboxed gateway,
set up as an admin installs the formula: a file server holding the formula and
its ``_modules``/``_states``/``_utils`` (by default a file root linking this
repository), ``saltutil.sync_all``, and a pillar with ``ciphermail_split``
(whose ``lookup`` points at the sandbox). Used by the integration tests and by
``make demo``.
"""

import atexit
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

from support.sandbox import REPO_ROOT, GatewaySandbox

FORMULA_PARTS = ("ciphermail_split", "_modules", "_states", "_utils", "_wrapper")


def link_formula(file_root):
    """Make ``file_root`` hold the formula as an admin installs it (symlinks to this repository)."""
    file_root = pathlib.Path(file_root)
    file_root.mkdir(parents=True, exist_ok=True)
    for part in FORMULA_PARTS:
        link = file_root / part
        if not link.exists():
            link.symlink_to(REPO_ROOT / part)
    return file_root


def gateway_pillar(gateway, pillar):
    """
    The ``ciphermail_split`` pillar of a sandboxed gateway: ``pillar`` with
    lookup pointing at the sandbox (``command_env`` entries are added to the
    simulator's).
    """
    given = pillar.get("lookup", {})
    lookup = {**gateway.lookup(), **given}
    lookup["command_env"] = {**gateway.env(), **given.get("command_env", {})}
    return {"ciphermail_split": {**pillar, "lookup": lookup}}


class MasterlessMinion:
    """
    ``salt-call --local`` with its own config, file server and pillar under
    ``root``. ``fileserver`` is the minion config that serves the formula
    (``file_roots``, or ``fileserver_backend`` and ``gitfs_*``); by default a
    file root linking this repository. ``log_level`` is the log file's level
    (``debug`` where a test reads the log).
    """

    def __init__(self, root, minion_id, gateway, pillar, fileserver=None, log_level="warning"):
        self.root = pathlib.Path(root)
        self.minion_id = minion_id
        self.gateway = gateway
        self.config_dir = self.root / "etc-salt"
        self.pillar_root = self.root / "pillar"
        for path in (self.config_dir, self.pillar_root):
            path.mkdir(parents=True, exist_ok=True)
        if fileserver is None:
            fileserver = {"file_roots": {"base": [str(link_formula(self.root / "file-root"))]}}
        self._write_config(fileserver, log_level)
        if pillar is not None:
            self.set_pillar(pillar)

    def _write_config(self, fileserver, log_level):
        config = {
            "id": self.minion_id,
            "file_client": "local",
            "root_dir": str(self.root / "salt-root"),
            "pki_dir": str(self.root / "salt-root" / "pki"),
            "cachedir": str(self.root / "salt-root" / "cache"),
            "extension_modules": str(self.extmods_dir),
            "sock_dir": str(self.root / "salt-root" / "run"),
            "log_file": str(self.root / "salt-root" / "minion.log"),
            "log_level_logfile": log_level,
            # Each salt-call of a minion after its first reads the grains it
            # found then (none the formula reads can change): a sixth of a call's CPU.
            "grains_cache": True,
            "grains_cache_expiration": 86400,
            "pillar_roots": {"base": [str(self.pillar_root)]},
            **fileserver,
        }
        (self.config_dir / "minion").write_text(yaml.safe_dump(config))

    @classmethod
    def synced(cls, root, name, pillar, main_cf_extra="", log_postfix=False, log_level="warning"):
        """A minion for a fresh sandboxed gateway under ``root``, its modules synced."""
        gateway = GatewaySandbox(pathlib.Path(root) / "gateway", main_cf_extra=main_cf_extra, log_postfix=log_postfix)
        minion = cls(pathlib.Path(root) / "salt", f"{name}-minion", gateway, pillar, log_level=log_level)
        shutil.copytree(synced_extmods(), minion.extmods_dir)
        return minion

    @property
    def extmods_dir(self):
        """Where ``saltutil.sync_all`` puts the formula's modules for this minion."""
        return self.root / "salt-root" / "extmods"

    @property
    def log_file(self):
        return self.root / "salt-root" / "minion.log"

    def set_pillar(self, pillar):
        """Replace the minion's pillar (``pillar`` is the ``ciphermail_split`` mapping)."""
        data = gateway_pillar(self.gateway, pillar)
        (self.pillar_root / "top.sls").write_text("base:\n  '*':\n    - ciphermail_split\n")
        (self.pillar_root / "ciphermail_split.sls").write_text(yaml.safe_dump(data))

    def salt_call(self, *args, output="json", extra_env=None):
        """Run ``salt-call --local`` and return the CompletedProcess."""
        argv = [
            str(pathlib.Path(sys.executable).parent / "salt-call"),
            "--local",
            f"--config-dir={self.config_dir}",
            "--retcode-passthrough",
            f"--out={output}",
            *args,
        ]
        env = {**os.environ, **(extra_env or {})}
        return subprocess.run(argv, capture_output=True, text=True, check=False, env=env)

    def sync(self):
        proc = self.salt_call("saltutil.sync_all")
        if proc.returncode:
            raise AssertionError(f"saltutil.sync_all failed: {proc.stderr}")
        return proc

    def apply(self, sls="ciphermail_split", test=False, extra_env=None):
        """``state.apply`` with JSON output; returns a StateRun."""
        args = ["state.apply", sls] + (["test=True"] if test else [])
        return StateRun(self.salt_call(*args, extra_env=extra_env))


_SYNCED = {}


def synced_extmods():
    """
    The ``extmods`` directory that ``saltutil.sync_all`` makes of this
    checkout, from one real sync per test process: each minion of
    :meth:`MasterlessMinion.synced` gets a copy. A sync is a whole
    ``salt-call``, and the modules do not change while the tests run.
    """
    if "extmods" not in _SYNCED:
        root = pathlib.Path(tempfile.mkdtemp(prefix="ciphermail-split-synced-"))
        atexit.register(shutil.rmtree, root, True)
        template = MasterlessMinion(root, "synced-template", gateway=None, pillar=None)
        template.sync()
        _SYNCED["extmods"] = template.extmods_dir
    return _SYNCED["extmods"]


#: The ID of a failing state that stands for one problem (see ciphermail_split/stop.jinja).
REFUSAL_ID = re.compile(r"-problem-[0-9]+$")


class StateRun:
    """The outcome of one ``state.apply`` run, keyed by state ID."""

    def __init__(self, proc):
        self.proc = proc
        self.returncode = proc.returncode
        try:
            self.data = json.loads(proc.stdout)["local"] if proc.stdout.strip() else None
        except (ValueError, KeyError, TypeError):
            self.data = None

    @property
    def states(self):
        """{state ID: result dict}, or {} when the run did not get to states (a render error)."""
        if not isinstance(self.data, dict):
            return {}
        return {ret["__id__"]: ret for ret in self.data.values() if isinstance(ret, dict) and "__id__" in ret}

    @property
    def changes(self):
        return {state_id: ret["changes"] for state_id, ret in self.states.items() if ret["changes"]}

    @property
    def results(self):
        return {state_id: ret["result"] for state_id, ret in self.states.items()}

    @property
    def refusals(self):
        """
        The messages of the failing states an SLS renders instead of its own
        when it must not run (a bad pillar, modules not synced), one per
        problem; [] when the run has other states too.
        """
        states = self.states
        if not states or not all(REFUSAL_ID.search(state_id) for state_id in states):
            return []
        return [ret["name"] for ret in states.values()]

    @property
    def errors(self):
        """The render/compile errors of a run that never reached states."""
        if isinstance(self.data, list):
            return self.data
        return []

    def __repr__(self):
        return f"StateRun(rc={self.returncode}, stdout={self.proc.stdout[-3000:]!r}, stderr={self.proc.stderr[-3000:]!r})"
