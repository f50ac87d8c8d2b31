"""The ciphermail-cli command grammar, in one table.

Each command is a fixed sequence of words followed by ``--option value``
pairs: any order, each required option exactly once, no other options, no
positional extras, no ``--option=value`` form. The word after an option is
its value whatever it looks like (``--value --name`` sets the value
``--name``); an option with no word after it is an error.
"""

from collections import namedtuple

from .errors import UsageError
from .validation import quote

PROG = "ciphermail-cli"

#: command words -> required options, in the order the usage text shows them
COMMANDS = {
    ("domain", "list"): (),
    ("domain", "add"): ("domain",),
    ("domain", "delete"): ("domain",),
    ("property", "domain", "get"): ("domain", "name"),
    ("property", "domain", "set"): ("domain", "name", "value"),
    ("property", "global", "get"): ("name",),
    ("property", "global", "set"): ("name", "value"),
}

HELP_ARGV = (["-h"], ["--help"])

Command = namedtuple("Command", "words options")


def usage_text():
    """The usage block, one line per command."""
    lines = []
    for words, options in COMMANDS.items():
        synopsis = " ".join((PROG,) + words + tuple("--%s %s" % (o, o.upper()) for o in options))
        lines.append(("usage: " if not lines else "       ") + synopsis)
    lines.append("       %s -h|--help" % PROG)
    return "\n".join(lines) + "\n"


def parse(argv):
    """Return the Command ``argv`` spells, or raise UsageError naming the problem."""
    words = _command_words(argv)
    return Command(words, _options(words, argv[len(words):]))


def _command_words(argv):
    prefix = ()
    while prefix not in COMMANDS:
        choices = sorted({words[len(prefix)] for words in COMMANDS if words[: len(prefix)] == prefix})
        expected = "expected one of: %s" % ", ".join(choices)
        if len(argv) <= len(prefix):
            if not prefix:
                raise UsageError("missing command (%s)" % expected)
            raise UsageError("%s: missing subcommand (%s)" % (quote(" ".join(prefix)), expected))
        word = argv[len(prefix)]
        if word not in choices:
            if not prefix:
                raise UsageError("unknown command %s (%s)" % (quote(word), expected))
            raise UsageError(
                "%s: unknown subcommand %s (%s)" % (quote(" ".join(prefix)), quote(word), expected)
            )
        prefix += (word,)
    return prefix


def _options(words, rest):
    allowed = COMMANDS[words]
    command = quote(" ".join(words))
    options = {}
    index = 0
    while index < len(rest):
        word = rest[index]
        if not word.startswith("--"):
            raise UsageError("%s: unexpected argument %s" % (command, quote(word)))
        key = word[2:]
        if "=" in key:
            raise UsageError(
                "%s: %s: the --option=value form is not supported, give the value as the next word"
                % (command, quote(word))
            )
        if key not in allowed:
            raise UsageError("%s: unknown option %s" % (command, quote(word)))
        if key in options:
            raise UsageError("%s: option --%s given more than once" % (command, key))
        if index + 1 >= len(rest):
            raise UsageError("%s: option --%s requires a value" % (command, key))
        options[key] = rest[index + 1]
        index += 2
    missing = ["--" + key for key in allowed if key not in options]
    if missing:
        raise UsageError("%s: missing required option %s" % (command, ", ".join(missing)))
    return options
