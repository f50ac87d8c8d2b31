"""Injected failures: ``CIPHERMAIL_SIM_FAIL`` holds comma-separated command prefixes.

A prefix matches a call when the call's argv words, joined by single spaces,
equal the prefix or start with the prefix followed by a space (so
``domain`` matches ``domain add ...`` but not ``domains``). cm-run-playbook
is matched as the single word ``run-playbook``.
"""

PLAYBOOK_COMMAND = "run-playbook"


def parse_prefixes(spec):
    """The non-empty, stripped items of a ``CIPHERMAIL_SIM_FAIL`` value."""
    return [item.strip() for item in spec.split(",") if item.strip()]


def matching_prefix(words, spec):
    """Return the first configured prefix that matches ``words``, or None."""
    command = " ".join(words)
    for prefix in parse_prefixes(spec):
        if command == prefix or command.startswith(prefix + " "):
            return prefix
    return None


def backend_unavailable_message(prefix):
    """The server-style message of an injected ciphermail-cli fault (after "Error: ")."""
    return "the CipherMail back-end is not available (injected fault: %s)" % prefix
