"""Server-side checks of domain names and property values.

Each check raises :class:`~cmsim.errors.ServerError` with the message the
simulated back-end reports; :func:`quote` renders untrusted text on one line.
"""

import json
import re

from . import catalog
from .errors import ServerError

MAX_DOMAIN_LENGTH = 253
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_FORBIDDEN_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")
BOOLEAN_VALUES = ("true", "false")


def quote(text):
    """Double-quoted, escaped, single-line rendering of ``text``."""
    return json.dumps(text)


def normalise_domain(domain):
    """Return ``domain`` lowercased, or raise if it is not a valid DNS name.

    Labels of letters, digits and hyphens, 1-63 characters, not starting or
    ending with a hyphen; at most 253 characters; no trailing dot.
    """
    labels = domain.split(".")
    if (
        not domain
        or len(domain) > MAX_DOMAIN_LENGTH
        or not all(_LABEL.fullmatch(label) for label in labels)
    ):
        raise ServerError("invalid domain name %s" % quote(domain))
    return domain.lower()


def check_value(scope, name, prop, value):
    """Raise unless ``value`` is acceptable for property ``name`` of type ``prop``."""
    if _FORBIDDEN_CONTROL.search(value):
        raise ServerError(
            "invalid value for %s property %s: control characters are not allowed"
            % (scope, quote(name))
        )
    if prop.type == catalog.BOOLEAN and value.lower() not in BOOLEAN_VALUES:
        raise ServerError(
            "invalid value for %s property %s: %s is not a boolean (expected true or false)"
            % (scope, quote(name), quote(value))
        )
