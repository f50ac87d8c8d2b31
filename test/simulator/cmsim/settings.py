"""The ``CIPHERMAIL_SIM_*`` environment variables, parsed and checked.

``home_from_environ`` is resolved first because the call log lives there;
everything else is parsed lazily by the accessor that needs it, so a bad
value fails only the calls that use it (and that failure is still logged).
"""

import math
import os

from .errors import ConfigError

HOME = "CIPHERMAIL_SIM_HOME"
FAIL = "CIPHERMAIL_SIM_FAIL"
LATENCY_MS = "CIPHERMAIL_SIM_LATENCY_MS"
PLAYBOOK_SECONDS = "CIPHERMAIL_SIM_PLAYBOOK_SECONDS"
ANSIBLE_VARS_DIR = "CIPHERMAIL_SIM_ANSIBLE_VARS_DIR"
SIM_PASSWORD = "CIPHERMAIL_SIM_PASSWORD"
CLI_PASSWORD = "CIPHERMAIL_CLI_PASSWORD"
GRAMMAR = "CIPHERMAIL_SIM_GRAMMAR"
DOCUMENTED_ONLY = "CIPHERMAIL_SIM_DOCUMENTED_ONLY"
GRAMMAR_NAMES = ("vendor", "scoped")


def home_from_environ(environ):
    """Return the absolute simulator home directory, creating it if missing."""
    home = environ.get(HOME, "")
    if not home:
        raise ConfigError("%s is not set; it must name the simulator's state directory" % HOME)
    home = os.path.abspath(home)
    try:
        os.makedirs(home, exist_ok=True)
    except OSError as exc:
        raise ConfigError("cannot create %s=%s: %s" % (HOME, home, exc.strerror)) from exc
    return home


def _non_negative_number(environ, name, default):
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise ConfigError("%s must be a non-negative number, got %r" % (name, raw))
    return value


def latency_seconds(environ):
    """Delay at the start of every call (``CIPHERMAIL_SIM_LATENCY_MS``, default 0)."""
    return _non_negative_number(environ, LATENCY_MS, 0.0) / 1000.0


def playbook_seconds(environ):
    """How long cm-run-playbook works (``CIPHERMAIL_SIM_PLAYBOOK_SECONDS``, default 0)."""
    return _non_negative_number(environ, PLAYBOOK_SECONDS, 0.0)


def ansible_vars_dir(environ, home):
    """The group_vars/all directory cm-run-playbook reads."""
    configured = environ.get(ANSIBLE_VARS_DIR, "")
    if configured:
        return os.path.abspath(configured)
    return os.path.join(home, "ansible", "group_vars", "all")


def fault_spec(environ):
    """The raw ``CIPHERMAIL_SIM_FAIL`` value ("" when unset)."""
    return environ.get(FAIL, "")


def password_requirement(environ):
    """Return (required, expected, given) for the ciphermail-cli credential.

    ``required`` is True when ``CIPHERMAIL_SIM_PASSWORD`` is present in the
    environment, even if empty. ``given`` is None when
    ``CIPHERMAIL_CLI_PASSWORD`` is absent. Callers must never print these.
    """
    required = SIM_PASSWORD in environ
    return required, environ.get(SIM_PASSWORD, ""), environ.get(CLI_PASSWORD)


def grammar(environ):
    """The ciphermail-cli grammar the gateway speaks (``CIPHERMAIL_SIM_GRAMMAR``, default ``vendor``)."""
    name = environ.get(GRAMMAR, "").strip() or "vendor"
    if name not in GRAMMAR_NAMES:
        raise ConfigError("%s must be one of %s, got %r" % (GRAMMAR, ", ".join(GRAMMAR_NAMES), name))
    return name


def documented_only(environ):
    """True when ciphermail-cli knows only the documented commands (``CIPHERMAIL_SIM_DOCUMENTED_ONLY=1``)."""
    raw = environ.get(DOCUMENTED_ONLY, "").strip()
    if raw not in ("", "0", "1"):
        raise ConfigError("%s must be 0 or 1, got %r" % (DOCUMENTED_ONLY, raw))
    return raw == "1"
