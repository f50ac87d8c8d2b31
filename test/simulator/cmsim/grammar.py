"""The ciphermail-cli command grammars, one table each.

Each command is a fixed sequence of words followed by ``--option value``
pairs: any order, each required option exactly once, no other options, no
positional extras, no ``--option=value`` form. The word after an option is
its value whatever it looks like (``--value --name`` sets the value
``--name``); an option with no word after it is an error.

Two grammars (``CIPHERMAIL_SIM_GRAMMAR``): ``vendor``, the vendor's page
and the rows inferred from it, and ``scoped``, a grammar unlike it
(``domains list``, ``property get --scope global --name N``) for a gateway
whose CLI the formula does not know. In the scoped grammar an option may
select the variant of a command (``--scope global|domain``), each variant
with its own required options. With ``CIPHERMAIL_SIM_DOCUMENTED_ONLY`` only
the documented commands exist; any other is an unknown (sub)command.
"""

from collections import namedtuple

from . import settings
from .errors import UsageError
from .validation import quote

PROG = "ciphermail-cli"

#: One variant of a command: the server action it runs (a key of
#: gateway.HANDLERS), its required options in the order the usage text shows
#: them, the options that select it with their value, and whether the vendor
#: documents it.
Variant = namedtuple("Variant", "action options selected documented")

DOMAIN_LIST = ("domain", "list")
DOMAIN_ADD = ("domain", "add")
DOMAIN_DELETE = ("domain", "delete")
DOMAIN_GET = ("property", "domain", "get")
DOMAIN_SET = ("property", "domain", "set")
GLOBAL_GET = ("property", "global", "get")
GLOBAL_SET = ("property", "global", "set")

#: command words -> variants
GRAMMARS = {
    "vendor": {
        DOMAIN_LIST: (Variant(DOMAIN_LIST, (), {}, False),),
        DOMAIN_ADD: (Variant(DOMAIN_ADD, ("domain",), {}, True),),
        DOMAIN_DELETE: (Variant(DOMAIN_DELETE, ("domain",), {}, False),),
        DOMAIN_GET: (Variant(DOMAIN_GET, ("domain", "name"), {}, False),),
        DOMAIN_SET: (Variant(DOMAIN_SET, ("domain", "name", "value"), {}, True),),
        GLOBAL_GET: (Variant(GLOBAL_GET, ("name",), {}, False),),
        GLOBAL_SET: (Variant(GLOBAL_SET, ("name", "value"), {}, True),),
    },
    "scoped": {
        ("domains", "list"): (Variant(DOMAIN_LIST, (), {}, False),),
        ("domains", "create"): (Variant(DOMAIN_ADD, ("domain",), {}, True),),
        ("domains", "remove"): (Variant(DOMAIN_DELETE, ("domain",), {}, False),),
        ("property", "get"): (
            Variant(GLOBAL_GET, ("name",), {"scope": "global"}, False),
            Variant(DOMAIN_GET, ("domain", "name"), {"scope": "domain"}, False),
        ),
        ("property", "set"): (
            Variant(GLOBAL_SET, ("name", "value"), {"scope": "global"}, True),
            Variant(DOMAIN_SET, ("domain", "name", "value"), {"scope": "domain"}, True),
        ),
    },
}

HELP_ARGV = (["-h"], ["--help"])

Command = namedtuple("Command", "words options")


def commands(environ):
    """The command table in effect: the chosen grammar, only its documented variants if so switched."""
    table = GRAMMARS[settings.grammar(environ)]
    if settings.documented_only(environ):
        table = {words: tuple(v for v in variants if v.documented) for words, variants in table.items()}
        table = {words: variants for words, variants in table.items() if variants}
    return table


def usage_text(environ):
    """The usage block, one line per command variant."""
    lines = []
    for words, variants in commands(environ).items():
        for variant in variants:
            selected = tuple("--%s %s" % item for item in variant.selected.items())
            required = tuple("--%s %s" % (o, o.upper()) for o in variant.options)
            synopsis = " ".join((PROG,) + words + selected + required)
            lines.append(("usage: " if not lines else "       ") + synopsis)
    lines.append("       %s -h|--help" % PROG)
    return "\n".join(lines) + "\n"


def parse(argv, environ):
    """Return the Command ``argv`` spells (its server action and options), or raise UsageError naming the problem."""
    table = commands(environ)
    words = _command_words(table, argv)
    variants = table[words]
    options = _options(words, variants, argv[len(words):])
    variant = _variant(words, variants, options)
    given = {key: value for key, value in options.items() if key not in variant.selected}
    return Command(variant.action, given)


def _command_words(table, argv):
    prefix = ()
    while prefix not in table:
        choices = sorted({words[len(prefix)] for words in table if words[: len(prefix)] == prefix})
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


def _options(words, variants, rest):
    allowed = {key for variant in variants for key in (*variant.selected, *variant.options)}
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
    return options


def _variant(words, variants, options):
    """The variant ``options`` select, checked to have exactly its own options."""
    command = quote(" ".join(words))
    selectors = sorted({key for variant in variants for key in variant.selected})
    missing = ["--" + key for key in selectors if key not in options]
    if missing:
        raise UsageError("%s: missing required option %s" % (command, ", ".join(missing)))
    chosen = [v for v in variants if all(options[key] == value for key, value in v.selected.items())]
    if not chosen:
        for key in selectors:
            values = sorted({v.selected[key] for v in variants if key in v.selected})
            if options[key] not in values:
                raise UsageError(
                    "%s: option --%s: invalid value %s (expected one of: %s)"
                    % (command, key, quote(options[key]), ", ".join(values))
                )
        raise UsageError("%s: no variant for these options" % command)
    variant = chosen[0]
    missing = ["--" + key for key in variant.options if key not in options]
    if missing:
        raise UsageError("%s: missing required option %s" % (command, ", ".join(missing)))
    for key in options:
        if key not in variant.options and key not in variant.selected:
            shown = " ".join("--%s %s" % item for item in variant.selected.items())
            raise UsageError("%s: option --%s does not go with %s" % (command, key, shown))
    return variant
