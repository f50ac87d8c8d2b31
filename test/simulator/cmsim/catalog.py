"""The property names the simulated gateway knows, with their types and defaults.

The five names the vendor page uses (the four header triggers and
``revert-rewrite-recipient``) are the point of the simulator; the others are
plausible neighbours so that tests can tell "a known property" from "the one
property the formula happens to use". Only two types exist here: a ``string``
accepts any value without control characters, a ``boolean`` accepts
``true``/``false`` in any letter case and is stored verbatim.
"""

from collections import namedtuple

STRING = "string"
BOOLEAN = "boolean"

Property = namedtuple("Property", "type default")

GLOBAL_PROPERTIES = {
    "trigger-webmail-header": Property(STRING, ""),
    "trigger-webmail-header-enabled": Property(BOOLEAN, "false"),
    "trigger-otp-encryption-header": Property(STRING, ""),
    "trigger-otp-encryption-header-enabled": Property(BOOLEAN, "false"),
    "trigger-encryption-header": Property(STRING, ""),
    "trigger-encryption-header-enabled": Property(BOOLEAN, "false"),
    "trigger-subject": Property(STRING, "[encrypt]"),
    "trigger-subject-enabled": Property(BOOLEAN, "false"),
    "trigger-subject-remove": Property(BOOLEAN, "true"),
}

DOMAIN_PROPERTIES = {
    "revert-rewrite-recipient": Property(BOOLEAN, "false"),
    "sign-enabled": Property(BOOLEAN, "true"),
    "comment": Property(STRING, ""),
}

SCOPES = {"global": GLOBAL_PROPERTIES, "domain": DOMAIN_PROPERTIES}


def global_defaults():
    """A fresh ``{name: default}`` mapping of every global property."""
    return {name: prop.default for name, prop in GLOBAL_PROPERTIES.items()}


def lookup(scope, name):
    """Return the Property for ``name`` in ``scope`` ("global"/"domain"), or None."""
    return SCOPES[scope].get(name)
