"""
Running the gateway's tools (``ciphermail-cli``, ``postconf``, ``postmap``,
``postfix``) the one way the formula runs them: the command of a host
setting (``ciphermail_split:lookup:<key>``) plus arguments, as an argument
list (never through a shell), with the environment of ``command_env``
(never shown), a timeout, and errors that name the lookup key and the
command, never the environment.

Imported as a plain module by the execution modules, which pass Salt's
``cmd.run_all`` in.
"""

import re

import salt.utils.path
from ciphermail_split_settings import LOOKUP_KEY
from salt.exceptions import CommandExecutionError

#: The commands each role runs (apply and clean alike), as host-setting keys.
ROLE_COMMANDS = {
    "main": ("postconf", "postmap", "postfix", "playbook_cmd"),
    "portal": ("cli", "postconf", "postfix"),
}

#: The host setting that limits each command's run time.
TIMEOUT_KEYS = {
    "cli": "cli_timeout",
    "playbook_cmd": "playbook_timeout",
    "postconf": "postfix_timeout",
    "postmap": "postfix_timeout",
    "postfix": "postfix_timeout",
}

# What Salt's cmd.run_all returns for a command it killed at its timeout:
# exit code 1, no stderr, and this on stdout (salt/utils/timed_subprocess.py).
_SALT_TIMEOUT = re.compile(r" : Timed out after [0-9.]+ seconds\Z")


def missing(settings, key):
    """Why the command of host setting ``key`` cannot run here (not found, not executable), or None."""
    command = settings[key][0]
    if salt.utils.path.which(command):
        return None
    return f"{LOOKUP_KEY}:{key}: {command} is not found or not executable (set {LOOKUP_KEY}:{key})"


def require(settings, keys):
    """Raise, naming each, when a command of the host settings ``keys`` cannot run."""
    problems = [problem for problem in (missing(settings, key) for key in keys) if problem]
    if problems:
        raise CommandExecutionError("; ".join(problems))


class CommandFailed(CommandExecutionError):
    """A command ran and exited with a code it should not have; ``retcode`` and ``output`` say how."""

    def __init__(self, message, retcode, output):
        super().__init__(message)
        self.retcode = retcode
        self.output = output


def _reason(exc):
    """What Salt says of a command it could not start, without its context (which names the command line)."""
    message = str(exc)
    return message.rsplit("reason: ", 1)[-1]


def run(run_all, settings, key, args, title, timeout, env=None, ok_codes=(0,)):
    """
    Run the command of host setting ``key`` with ``args`` through
    ``run_all`` (Salt's ``cmd.run_all``) and return its result. ``title``
    names the command in errors (without values that need not be shown).
    Raises ``CommandExecutionError`` when the command cannot run or times
    out, and :class:`CommandFailed` when it exits with a code not in
    ``ok_codes``.
    """
    require(settings, [key])
    argv = [*settings[key], *args]
    try:
        result = run_all(
            argv,
            python_shell=False,
            env=env or {},
            timeout=timeout,
            ignore_retcode=True,
            output_loglevel="quiet",
            rstrip=False,
        )
    except CommandExecutionError as exc:
        raise CommandExecutionError(f"{LOOKUP_KEY}:{key}: cannot run {title}: {_reason(exc)}") from None
    if _timed_out(result):
        raise CommandExecutionError(
            f"{LOOKUP_KEY}:{key}: {title} timed out after {timeout} s ({LOOKUP_KEY}:{TIMEOUT_KEYS[key]})"
        )
    if result["retcode"] not in ok_codes:
        output = (result.get("stderr") or result.get("stdout") or "").strip()
        message = f"{LOOKUP_KEY}:{key}: {title} failed (exit {result['retcode']}): {output or 'no output'}"
        raise CommandFailed(message, result["retcode"], output)
    return result


def _timed_out(result):
    """True when Salt killed the command at its timeout (older releases: exit code None)."""
    if result["retcode"] is None:
        return True
    return result["retcode"] == 1 and not result.get("stderr") and bool(_SALT_TIMEOUT.search(result.get("stdout") or ""))
