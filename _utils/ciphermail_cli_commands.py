"""
The ``ciphermail-cli`` grammar the formula uses, in one place: every command
(a *row*) as its argument words with ``{placeholders}``, and whether the
vendor documents it or it is inferred from the same grammar. A gateway whose
CLI speaks otherwise gets its own words per row from
``ciphermail_split:lookup:cli_commands`` (checked here, :func:`checked_commands`).
Pure Python (no Salt loader, no I/O), imported as a plain module by
``_modules/ciphermail.py`` and the host settings.

``documented`` rows are on the vendor's portal split-mode page; ``inferred``
rows follow the same grammar and are needed to read a gateway back
(idempotency, test=True) and to take split mode back (clean). With
``cli_read_back: false`` the formula runs only the documented rows (and
``domain_delete`` when the admin gives it).
"""

import re
import shlex

from ciphermail_split_errors import invalid
from salt.exceptions import SaltInvocationError

COMMANDS = {
    "domain_add": (("domain", "add", "--domain", "{domain}"), "documented"),
    "domain_property_set": (
        ("property", "domain", "set", "--domain", "{domain}", "--name", "{name}", "--value", "{value}"),
        "documented",
    ),
    "global_property_set": (("property", "global", "set", "--name", "{name}", "--value", "{value}"), "documented"),
    "domain_list": (("domain", "list"), "inferred"),
    "domain_property_get": (("property", "domain", "get", "--domain", "{domain}", "--name", "{name}"), "inferred"),
    "global_property_get": (("property", "global", "get", "--name", "{name}"), "inferred"),
    "domain_delete": (("domain", "delete", "--domain", "{domain}"), "inferred"),
}
#: The commands that only read: within a state each runs once until a write.
READS = frozenset({"domain_list", "domain_property_get", "global_property_get"})
#: What a read row must print, for the README, the errors and preflight.
READ_OUTPUT = {
    "domain_list": "every domain, one a line, nothing else",
    "domain_property_get": "the value alone, on one line",
    "global_property_get": "the value alone, on one line",
}

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_LINE_BREAK = re.compile(r"[\r\n\x00]")
#: What a CLI says when it does not know a command (beside exit code 2).
_NOT_KNOWN = re.compile(
    r"unknown (sub)?command|not an? (known|valid) command|no such command|unrecogni[sz]ed command"
    r"|invalid command|command not (found|known|recogni[sz]ed)",
    re.IGNORECASE,
)
_ERROR_LINE = re.compile(r"error|unknown|invalid|not (found|known|allowed|permitted)|denied|fail", re.IGNORECASE)
_MESSAGE_LENGTH = 300


def placeholders(row):
    """The placeholders the words of ``row`` must hold (``{"domain", "name"}``)."""
    return {name for word in COMMANDS[row][0] for name in _PLACEHOLDER.findall(word)}


def _expected(row):
    needed = " and ".join(f"{{{name}}}" for name in sorted(placeholders(row)))
    if not needed:
        return "a list of words (or a command line) without placeholders, no word empty"
    return f"a list of words (or a command line) with {needed}, each once, no other placeholder, no word empty"


def checked_row(what, row, value):
    """The words of ``cli_commands`` row ``row``, checked; refused naming ``what`` (the row's key)."""
    if row not in COMMANDS:
        raise SaltInvocationError(f"{what}: unknown row (a typo?); expected one of {', '.join(sorted(COMMANDS))}")
    words = value
    if isinstance(value, str) and not _LINE_BREAK.search(value):
        try:
            words = shlex.split(value)
        except ValueError:
            words = None
    if (
        not isinstance(words, (list, tuple))
        or not words
        or not all(isinstance(word, str) and word and not _LINE_BREAK.search(word) for word in words)
    ):
        raise invalid(what, value, _expected(row))
    used = [name for word in words for name in _PLACEHOLDER.findall(word)]
    if sorted(used) != sorted(placeholders(row)):
        raise invalid(what, value, _expected(row))
    return list(words)


def checked_commands(what, value):
    """
    The ``cli_commands`` mapping (row -> words), each row checked. Refused
    with one line per bad row, each naming ``<what>:<row>``.
    """
    if not isinstance(value, dict):
        raise invalid(what, value, f"a mapping of rows ({', '.join(sorted(COMMANDS))}) to lists of words")
    checked, problems = {}, []
    for row, words in value.items():
        try:
            checked[row] = checked_row(f"{what}:{row}", row, words)
        except SaltInvocationError as exc:
            problems.append(str(exc))
    if problems:
        raise SaltInvocationError("\n".join(problems))
    return checked


def template(row, overrides=None):
    """The words of ``row`` with their placeholders: the admin's (``overrides``) or the formula's."""
    return list((overrides or {}).get(row) or COMMANDS[row][0])


def table(overrides=None):
    """Every row as ``{"argv": [words], "source": "documented"|"inferred", "overridden": bool}``."""
    return {
        row: {"argv": template(row, overrides), "source": source, "overridden": row in (overrides or {})}
        for row, (_words, source) in COMMANDS.items()
    }


def words(row, params, overrides=None):
    """
    The argument words of ``row`` with its placeholders filled from
    ``params``; a value never splits or joins words, and is never read for
    placeholders itself.
    """
    return [_PLACEHOLDER.sub(lambda match: params[match.group(1)], word) for word in template(row, overrides)]


def title(row, overrides=None):
    """The command's name as an admin types it: its words before the first option (``property domain get``)."""
    shown = []
    for word in template(row, overrides):
        if word.startswith("-") or _PLACEHOLDER.search(word):
            break
        shown.append(word)
    return " ".join(shown)


def is_documented(row):
    """True for the rows the vendor's page documents."""
    return COMMANDS[row][1] == "documented"


def is_unknown_command(retcode, output):
    """True when a failed call says the CLI does not know the command: exit code 2, or words to that effect."""
    return retcode == 2 or bool(_NOT_KNOWN.search(output or ""))


def gateway_message(output):
    """The gateway's own words from a failed call's output: its error lines (or its first line), shortened."""
    lines = [line.strip() for line in (output or "").splitlines() if line.strip()]
    chosen = [line for line in lines if _ERROR_LINE.search(line)] or lines[:1]
    message = " / ".join(chosen) or "no output"
    return message if len(message) <= _MESSAGE_LENGTH else message[: _MESSAGE_LENGTH - 3] + "..."


def unknown_command_message(lookup_key, row, argv, retcode, output, read_back):
    """
    The error of a row the gateway's CLI does not know: the command as run,
    the gateway's own message, and the settings that fix it.
    """
    fixes = f"set {lookup_key}:cli_commands:{row} to this gateway's words for it"
    if row in READS and read_back:
        fixes += f", or set {lookup_key}:cli_read_back: false to run only the documented commands"
    return (
        f"The gateway's ciphermail-cli does not know the command {shlex.join(argv)} "
        f"(row {row}, exit {retcode}): {gateway_message(output)}. Fix: {fixes}"
    )
