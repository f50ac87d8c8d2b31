"""
The formula's host settings: where a gateway's tools are, how long they may
take, the environment for gateway commands, how ``ciphermail-cli`` is spoken
(its words per command, whether the formula reads the gateway back, how it
says a domain exists), and where the formula keeps its ledger.
:data:`HOST_DEFAULTS` is the one table of their defaults.

Every module of the formula reads them one way, :func:`effective`: key by
key, ``ciphermail_split:lookup`` of pillar, else of the minion config, else
the default. So a host setting in minion config reaches every function, the
pillar validation included, and a pillar value wins over it.

Pure Python (no Salt loader, no I/O), imported as a plain module by the
execution and state modules.
"""

import os
import re
import shlex

import ciphermail_cli_commands as cli_grammar
from ciphermail_split_errors import invalid, type_of
from salt.exceptions import SaltInvocationError

PILLAR_KEY = "ciphermail_split"
LOOKUP_KEY = f"{PILLAR_KEY}:lookup"

#: Host settings and their defaults (a CipherMail gateway on Debian/RHEL).
HOST_DEFAULTS = {
    "cli": "ciphermail-cli",
    "cli_timeout": 120,
    "cli_commands": {},
    "cli_read_back": True,
    "cli_exists_pattern": "already exists",
    "playbook_cmd": "cm-run-playbook",
    "playbook_timeout": 3600,
    "ansible_vars_dir": "/etc/ciphermail/ansible/group_vars/all",
    "override_file": "ciphermail-split-mode.yml",
    "command_env": {},
    "postfix_config_dir": "/etc/postfix",
    "postconf": "postconf",
    "postmap": "postmap",
    "postfix": "postfix",
    "postfix_timeout": 60,
    "state_dir": "/var/lib/ciphermail_split",
}

#: The settings that name a command, each run as an argument list.
COMMAND_KEYS = ("cli", "playbook_cmd", "postconf", "postmap", "postfix")
_PATH_KEYS = ("ansible_vars_dir", "postfix_config_dir", "state_dir")
_TIMEOUT_KEYS = ("cli_timeout", "playbook_timeout", "postfix_timeout")
MAX_TIMEOUT = 86400
#: What is shown instead of a value of ``command_env``.
MASK = "********"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LINE_BREAK = re.compile(r"[\r\n\x00]")


def _invalid_setting(key, value, expected):
    return invalid(f"{LOOKUP_KEY}:{key}", value, expected)


def _command(key, value):
    if isinstance(value, str):
        if _LINE_BREAK.search(value):
            raise _invalid_setting(key, value, "a command without line breaks")
        try:
            value = shlex.split(value)
        except ValueError as exc:
            raise _invalid_setting(key, value, f"a command line that splits into words ({exc})") from exc
    if (
        not isinstance(value, (list, tuple))
        or not value
        or not all(isinstance(word, str) and word and not _LINE_BREAK.search(word) for word in value)
    ):
        raise _invalid_setting(key, value, "a command: a string or a non-empty list of words")
    return list(value)


def _path(key, value):
    if not isinstance(value, str) or not os.path.isabs(value) or _LINE_BREAK.search(value):
        raise _invalid_setting(key, value, "an absolute path")
    return os.path.normpath(value)


def seconds(key, value, most=MAX_TIMEOUT):
    """``value`` when it is a number of seconds, more than 0 and at most ``most``; else raise naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= most:
        raise invalid(key, value, f"a number of seconds, more than 0 and at most {most}")
    return value


def _override_file(key, value):
    if (
        not isinstance(value, str)
        or "/" in value
        or value.startswith(".")
        or not value.endswith(".yml")
        or _LINE_BREAK.search(value)
    ):
        raise _invalid_setting(key, value, "a file name ending in .yml (Ansible reads every *.yml there)")
    return value


def _command_env(key, value):
    # The values may be credentials: whatever the shape, never show them.
    expected = "a mapping of environment variable names to string values (the values are never shown)"
    if not isinstance(value, dict):
        raise SaltInvocationError(f"{LOOKUP_KEY}:{key}: got {type_of(value)}; expected {expected}")
    for name, val in value.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise SaltInvocationError(f"{LOOKUP_KEY}:{key}: a variable name is not valid; expected {expected}")
        if not isinstance(val, str):
            raise SaltInvocationError(f"{LOOKUP_KEY}:{key}:{name}: got {type_of(val)}; expected {expected}")
    return dict(value)


def _boolean(key, value):
    if not isinstance(value, bool):
        raise _invalid_setting(key, value, "true or false")
    return value


def _pattern(key, value):
    if isinstance(value, str) and value.strip() and not _LINE_BREAK.search(value):
        try:
            re.compile(value)
            return value
        except re.error as exc:
            raise _invalid_setting(key, value, f"a regular expression ({exc})") from exc
    raise _invalid_setting(key, value, "a regular expression on one line, matched case-insensitively")


def checked_setting(key, value):
    """``value`` of the host setting ``key`` checked (a command as an argument list), or raise naming the key."""
    if key == "cli_commands":
        return cli_grammar.checked_commands(f"{LOOKUP_KEY}:{key}", value)
    if key == "cli_read_back":
        return _boolean(key, value)
    if key == "cli_exists_pattern":
        return _pattern(key, value)
    if key in COMMAND_KEYS:
        return _command(key, value)
    if key in _PATH_KEYS:
        return _path(key, value)
    if key in _TIMEOUT_KEYS:
        return seconds(f"{LOOKUP_KEY}:{key}", value)
    if key == "override_file":
        return _override_file(key, value)
    return _command_env(key, value)


def _lookup_of(data, where):
    """``ciphermail_split:lookup`` of ``data`` (pillar or minion config), ``{}`` when not set."""
    # Salt hands its dunders over as mapping-like proxies, not dicts.
    section = data.get(PILLAR_KEY) if hasattr(data, "get") else None
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise SaltInvocationError(f"{PILLAR_KEY} ({where}): got {type_of(section)}; expected a mapping")
    lookup = section.get("lookup")
    if lookup is None:
        return {}
    if not isinstance(lookup, dict):
        raise SaltInvocationError(f"{LOOKUP_KEY} ({where}): got {type_of(lookup)}; expected a mapping")
    return lookup


def minion_config_lookup(opts):
    """
    ``(lookup, problems)``: the host settings of ``ciphermail_split:lookup``
    in the minion config (``opts``), and a message for each thing wrong
    with it: not a mapping, or a key that is not a host setting (the
    minion config holds only those; the rest is read from pillar alone).
    """
    try:
        lookup = _lookup_of(opts, "minion config")
    except SaltInvocationError as exc:
        return {}, [str(exc)]
    problems = [
        f"{LOOKUP_KEY}:{key} (minion config): not a host setting (a typo?); the minion config "
        f"may set {', '.join(HOST_DEFAULTS)}, the rest of {PILLAR_KEY} goes in pillar"
        for key in lookup
        if key not in HOST_DEFAULTS
    ]
    return {key: value for key, value in lookup.items() if key in HOST_DEFAULTS}, problems


def configured_lookup(opts, pillar):
    """
    ``ciphermail_split:lookup`` as configured for this host: the minion
    config's (``opts``) with the pillar's merged over it, key by key.
    """
    return {**_lookup_of(opts, "minion config"), **_lookup_of(pillar, "pillar")}


def host_settings(lookup):
    """
    The host settings of ``lookup`` (keys that are not host settings are
    ignored), each checked, over :data:`HOST_DEFAULTS`; commands as argument
    lists. Includes the secrets of ``command_env``: use :func:`masked` to show.
    """
    return {key: checked_setting(key, lookup.get(key, default)) for key, default in HOST_DEFAULTS.items()}


def effective(opts, pillar):
    """The host settings in effect: pillar, then minion config, then :data:`HOST_DEFAULTS`."""
    return host_settings(configured_lookup(opts, pillar))


def exists_message(settings, output):
    """True when a failed ``domain add`` says the domain exists (``cli_exists_pattern``, any letter case)."""
    return re.search(settings["cli_exists_pattern"], output or "", re.IGNORECASE) is not None


def cli_mode(settings):
    """``read-back`` (the formula reads the gateway) or ``documented-only`` (``cli_read_back: false``)."""
    return "read-back" if settings["cli_read_back"] else "documented-only"


def masked(settings):
    """
    ``settings`` with the values of ``command_env`` replaced by :data:`MASK`,
    fit to show: only valid variable names are kept; a ``command_env`` of
    another shape, or a name that is not one, is shown as :data:`MASK` too.
    """
    env = settings["command_env"]
    if not isinstance(env, dict):
        return {**settings, "command_env": MASK}
    return {
        **settings,
        "command_env": {
            (name if isinstance(name, str) and _ENV_NAME.match(name) else MASK): MASK for name in env
        },
    }
