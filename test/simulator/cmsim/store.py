"""The simulated gateway's persistent state and the call log, both under one lock.

``$CIPHERMAIL_SIM_HOME/state.json`` (indent=2, sorted keys)::

    {"domains":  {"<domain>": {"<property>": "<value>", ...}, ...},
     "global":   {"<property>": "<value>", ...},   # every known name, always
     "playbook": {"runs": 0, "applied": {...}, "files": [...]}}

``$CIPHERMAIL_SIM_HOME/calls.jsonl``: one JSON object per invocation.

Every read-modify-write and every log append holds an exclusive ``flock`` on
``$CIPHERMAIL_SIM_HOME/.lock``; the state file is replaced atomically
(written beside it, then renamed; no fsync: a test gateway need not survive
a power cut), so concurrent calls and a call killed half-way never leave a
torn file.
"""

import contextlib
import fcntl
import json
import os

from . import catalog
from .errors import ConfigError

STATE_FILE = "state.json"
CALL_LOG = "calls.jsonl"
LOCK_FILE = ".lock"


def initial_state():
    """The state of a gateway nobody has touched yet."""
    return {
        "domains": {},
        "global": catalog.global_defaults(),
        "playbook": {"runs": 0, "applied": {}, "files": []},
    }


def serialise(state):
    """The exact text state.json holds for ``state``."""
    return json.dumps(state, indent=2, sort_keys=True) + "\n"


class Store:
    """state.json and calls.jsonl of one simulator home directory."""

    def __init__(self, home):
        self.home = home
        self.state_path = os.path.join(home, STATE_FILE)
        self.log_path = os.path.join(home, CALL_LOG)
        self.lock_path = os.path.join(home, LOCK_FILE)

    @contextlib.contextmanager
    def _locked(self):
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def transaction(self):
        """Yield the state under the lock; write it back if the block changed it.

        If the block raises, nothing is written (apart from the initial state
        on first use).
        """
        with self._locked():
            state, text = self._load_initialised()
            yield state
            new_text = serialise(state)
            if new_text != text:
                self._write(new_text)

    def ensure_initialised(self):
        """Create state.json with the initial state if it does not exist yet."""
        if not os.path.exists(self.state_path):
            with self._locked():
                self._load_initialised()

    def _load_initialised(self):
        state, text = self._load()
        if text is None:
            text = serialise(state)
            self._write(text)
        return state, text

    def append_call(self, prog, argv, rc, ts):
        """Append one invocation to the call log (never the environment or stdin)."""
        record = {"prog": prog, "argv": list(argv), "rc": rc, "ts": ts}
        line = json.dumps(record, sort_keys=True) + "\n"
        with self._locked():
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(line)

    def _load(self):
        """Return (state, text on disk or None), completing missing sections."""
        try:
            with open(self.state_path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            return initial_state(), None
        try:
            state = json.loads(text)
        except ValueError as exc:
            raise ConfigError("simulator state file %s is not valid JSON: %s" % (self.state_path, exc)) from exc
        if not isinstance(state, dict):
            raise ConfigError("simulator state file %s does not hold an object" % self.state_path)
        for key, value in initial_state().items():
            state.setdefault(key, value)
        for name, default in catalog.global_defaults().items():
            state["global"].setdefault(name, default)
        return state, text

    def _write(self, text):
        tmp_path = os.path.join(self.home, ".state.%d.tmp" % os.getpid())
        try:
            fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp_path, self.state_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_path)
            raise
