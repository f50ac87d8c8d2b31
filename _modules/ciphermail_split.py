"""
The ciphermail_split formula's configuration: where the gateway tools live
and what pillar may say.

Host settings (commands, paths, timeouts, the environment for gateway
commands) have their defaults here, in one table, and can be overridden per
key in pillar or minion config under ``ciphermail_split:lookup``. Every
execution module of the formula reads them through :func:`settings`, so an
admin's ``salt <gw> ciphermail.domain_list`` uses the same tools as a state
run.
"""

import logging
import os
import re
import shlex

from salt.exceptions import SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "ciphermail_split"

LOOKUP_KEY = "ciphermail_split:lookup"

#: Host settings and their defaults (a CipherMail gateway on Debian/RHEL).
HOST_DEFAULTS = {
    "cli": "ciphermail-cli",
    "cli_timeout": 120,
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

_COMMAND_KEYS = ("cli", "playbook_cmd", "postconf", "postmap", "postfix")
_PATH_KEYS = ("ansible_vars_dir", "postfix_config_dir", "state_dir")
_TIMEOUT_KEYS = ("cli_timeout", "playbook_timeout", "postfix_timeout")
_MAX_TIMEOUT = 86400
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LINE_BREAK = re.compile(r"[\r\n\x00]")


def __virtual__():
    return __virtualname__


def _invalid(key, value, expected):
    return SaltInvocationError(f"{LOOKUP_KEY}:{key}: got {value!r}; expected {expected}")


def _command(key, value):
    if isinstance(value, str):
        if _LINE_BREAK.search(value):
            raise _invalid(key, value, "a command without line breaks")
        try:
            value = shlex.split(value)
        except ValueError as exc:
            raise _invalid(key, value, f"a command line that splits into words ({exc})") from exc
    if (
        not isinstance(value, (list, tuple))
        or not value
        or not all(isinstance(word, str) and word and not _LINE_BREAK.search(word) for word in value)
    ):
        raise _invalid(key, value, "a command: a string or a non-empty list of words")
    return list(value)


def _path(key, value):
    if not isinstance(value, str) or not os.path.isabs(value) or _LINE_BREAK.search(value):
        raise _invalid(key, value, "an absolute path")
    return os.path.normpath(value)


def _timeout(key, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= _MAX_TIMEOUT:
        raise _invalid(key, value, f"a number of seconds, more than 0 and at most {_MAX_TIMEOUT}")
    return value


def _override_file(key, value):
    if (
        not isinstance(value, str)
        or "/" in value
        or value.startswith(".")
        or not value.endswith(".yml")
        or _LINE_BREAK.search(value)
    ):
        raise _invalid(key, value, "a file name ending in .yml (Ansible reads every *.yml there)")
    return value


def _command_env(key, value):
    if not isinstance(value, dict) or not all(
        isinstance(name, str) and _ENV_NAME.match(name) and isinstance(val, str) for name, val in value.items()
    ):
        # The values may be credentials: never echo them.
        shown = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise _invalid(key, shown, "a mapping of environment variable names to string values")
    return dict(value)


def _check(key, value):
    if key in _COMMAND_KEYS:
        return _command(key, value)
    if key in _PATH_KEYS:
        return _path(key, value)
    if key in _TIMEOUT_KEYS:
        return _timeout(key, value)
    if key == "override_file":
        return _override_file(key, value)
    return _command_env(key, value)


def host_settings(lookup=None):
    """
    Return the effective host settings, validated, with commands as argument
    lists. ``lookup`` defaults to ``ciphermail_split:lookup`` from minion
    config or pillar; keys of it that are not host settings are ignored here
    (the formula's SLS data uses them).

    Secrets in ``command_env`` are included: use :func:`settings` to show.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_split.host_settings
    """
    if lookup is None:
        lookup = __salt__["config.get"](LOOKUP_KEY, {}) or {}
    if not isinstance(lookup, dict):
        raise SaltInvocationError(f"{LOOKUP_KEY}: got {lookup!r}; expected a mapping")
    return {key: _check(key, lookup.get(key, default)) for key, default in HOST_DEFAULTS.items()}


def settings(lookup=None):
    """
    Return the effective host settings (see :func:`host_settings`) with the
    values of ``command_env`` masked, fit to print.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_split.settings
    """
    shown = host_settings(lookup)
    shown["command_env"] = {name: "********" for name in shown["command_env"]}
    return shown
