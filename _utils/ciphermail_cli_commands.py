"""
The ``ciphermail-cli`` grammar the formula uses, in one place: every command
as its argument words with ``{placeholders}``, and whether the vendor
documents it or it is inferred from the same grammar. Pure Python (no Salt
loader, no I/O), imported as a plain module by ``_modules/ciphermail.py``.

``documented`` rows are on the vendor's portal split-mode page; ``inferred``
rows follow the same grammar and are needed to read a gateway back
(idempotency, test=True) and to take split mode back (clean).
"""

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


def table():
    """Every command as ``{"argv": [words], "source": "documented"|"inferred"}``."""
    return {action: {"argv": list(words), "source": source} for action, (words, source) in COMMANDS.items()}


def words(action, params):
    """The argument words of ``action`` with its placeholders filled from ``params``, each value one word."""
    return [params[word[1:-1]] if word.startswith("{") else word for word in COMMANDS[action][0]]


def title(action):
    """The command's name as an admin types it, without its options (``property domain get``)."""
    return " ".join(word for word in COMMANDS[action][0] if not word.startswith(("-", "{")))
