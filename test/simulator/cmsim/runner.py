"""What every invocation of either simulated program does around its own work.

1. resolve ``CIPHERMAIL_SIM_HOME`` (missing: exit 2, nothing logged: there is
   nowhere to log to) and create state.json there if it does not exist;
2. sleep ``CIPHERMAIL_SIM_LATENCY_MS``;
3. run the program body, which returns the exit code;
4. append one line to the call log (also after an unexpected exception,
   which prints a traceback and exits 70).

SIGTERM, SIGINT and SIGHUP during steps 2-3 unwind the body (so nothing is
applied unless it was already applied atomically), are logged with
``rc = -<signal number>`` (what Python's subprocess reports) and then kill the
process with the same signal, so the caller sees a death by signal. SIGKILL
cannot be caught: such a call leaves no log line.
"""

import contextlib
import os
import signal
import sys
import time
import traceback

from . import settings
from .errors import EXIT_INTERNAL, EXIT_USAGE, ConfigError, Interrupted
from .store import Store

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def run(prog, argv, body, environ=None):
    """Run ``body(argv, environ, store) -> exit code`` as program ``prog``."""
    environ = os.environ if environ is None else environ
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        home = settings.home_from_environ(environ)
    except ConfigError as exc:
        sys.stderr.write("%s: error: %s\n" % (prog, exc))
        return EXIT_USAGE
    started = time.time()
    store = Store(home)
    signum = None
    with _signals_interrupt():
        try:
            rc = _run_body(prog, argv, body, environ, store)
        except Interrupted as exc:
            signum = exc.signum
            rc = -signum
    store.append_call(prog, argv, rc, started)
    if signum is not None:
        return _die_by(signum)
    return rc


def _run_body(prog, argv, body, environ, store):
    try:
        store.ensure_initialised()
        time.sleep(settings.latency_seconds(environ))
        return body(argv, environ, store)
    except ConfigError as exc:
        sys.stderr.write("%s: error: %s\n" % (prog, exc))
        return exc.exit_code
    except Exception:  # a simulator bug or an unusable home: still one log line
        traceback.print_exc()
        return EXIT_INTERNAL


def _raise_interrupted(signum, _frame):
    for handled in HANDLED_SIGNALS:
        signal.signal(handled, signal.SIG_IGN)
    raise Interrupted(signum)


@contextlib.contextmanager
def _signals_interrupt():
    previous = {signum: signal.signal(signum, _raise_interrupted) for signum in HANDLED_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _die_by(signum):
    """Terminate this process by ``signum``; return 128+signum if that fails."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return 128 + signum
