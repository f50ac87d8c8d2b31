"""
Postfix TLS values, built and checked in pure Python (no Salt loader, no
I/O): the TLS security levels the formula sets for the hop to the portal,
the ``match=`` names of ``verify`` and ``secure``, the text of an
``smtp_tls_policy_maps`` entry (built and read back), the level that takes
effect from ``*_tls_security_level`` and the older ``*_use_tls`` and
``*_enforce_tls``, and the names a certificate must carry for a nexthop.

Imported as a plain module by ``ciphermail_split_pillar`` (the pillar key
``portal_tls``), ``_modules/ciphermail_mta.py`` and
``_states/ciphermail_mta.py``.
"""

import ipaddress
import re

from ciphermail_split_errors import invalid

#: The levels of the hop to the portal the formula sets, weakest first.
LEVELS = ("may", "encrypt", "verify", "secure")
#: The levels that check the portal's certificate, and so take ``match=``.
MATCH_LEVELS = ("verify", "secure")
#: The levels at which Postfix sends no mail without TLS.
ENFORCING_LEVELS = ("encrypt", "verify", "secure", "dane-only", "fingerprint")
#: The words Postfix puts in place of a name in ``match=``.
MATCH_WORDS = ("nexthop", "dot-nexthop", "hostname")
#: What ``match=`` means when a policy leaves it out: the parameter that says, and its default.
DEFAULT_MATCH = {
    "verify": ("smtp_tls_verify_cert_match", "hostname"),
    "secure": ("smtp_tls_secure_cert_match", "nexthop, dot-nexthop"),
}
#: What smtpd(8) offers at each of its levels: STARTTLS from ``may`` on.
SMTPD_LEVELS = ("none", "may", "encrypt")

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MATCH_EXPECTED = (
    "Postfix match= names separated by ':' (or a list): host names, .domain for any name below it, "
    "or nexthop, dot-nexthop, hostname"
)


def tls_level(value, what="level"):
    """``value`` if it is one of :data:`LEVELS`, else raise."""
    if value not in LEVELS:
        raise invalid(what, value, " or ".join(LEVELS))
    return value


def _match_name(name):
    if name in MATCH_WORDS:
        return name
    dotted = name.startswith(".")
    labels = (name[1:] if dotted else name).split(".")
    try:
        if not dotted and ipaddress.IPv4Address(name):
            return name
    except ValueError:
        pass
    if len(name) <= 253 and all(_LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit():
        return name
    return None


def match_value(value, what="match"):
    """
    The ``match=`` value of ``value``: names separated by ``:`` or a list of
    them, each a host name, ``.domain`` (any name below it), an IPv4 address,
    or one of :data:`MATCH_WORDS`; lowercased and joined with ``:``.
    """
    if isinstance(value, str):
        names = value.lower().split(":")
    elif isinstance(value, (list, tuple)) and all(isinstance(name, str) for name in value):
        names = [name.lower() for name in value]
    else:
        names = []
    checked = [_match_name(name) for name in names]
    if not checked or None in checked:
        raise invalid(what, value, _MATCH_EXPECTED)
    return ":".join(dict.fromkeys(checked))


def policy(level, match=None):
    """
    The ``smtp_tls_policy_maps`` value for ``level`` and ``match``:
    ``encrypt``, ``secure match=portal.example.net:.dmz.example.net``.
    ``match`` only with ``verify`` or ``secure``.
    """
    level = tls_level(level)
    if match is None:
        return level
    if level not in MATCH_LEVELS:
        raise invalid("match", match, f"no match with level {level}: only verify and secure check names")
    return f"{level} match={match_value(match)}"


def portal_tls(value, what="portal_tls"):
    """
    ``{"level", "match"}`` of the pillar value ``portal_tls`` (a mapping;
    ``level`` None: the formula sets no TLS policy), checked.
    """
    if not isinstance(value, dict):
        raise invalid(what, value, "a mapping with level (and match for verify or secure)")
    level, match = value.get("level"), value.get("match")
    if level is None:
        if match is not None:
            raise invalid(f"{what}:match", match, "no match without a level: set level to verify or secure")
        return {"level": None, "match": None}
    level = tls_level(level, f"{what}:level")
    if match is not None:
        if level not in MATCH_LEVELS:
            raise invalid(f"{what}:match", match, f"no match with level {level}: only verify and secure check names")
        match = match_value(match, f"{what}:match")
    return {"level": level, "match": match}


def parse_policy(text):
    """
    ``{"level", "match"}`` of an ``smtp_tls_policy_maps`` value
    (``secure match=a:b ciphers=high``): the level, and the ``match=``
    names as a list (None: the policy has no ``match=``).
    """
    words = (text or "").split()
    matches = [word[len("match=") :] for word in words[1:] if word.startswith("match=")]
    names = [name for value in matches for name in value.split(":") if name]
    return {"level": words[0] if words else None, "match": names if matches else None}


def effective_level(level, enforce, use):
    """
    The TLS level in effect from ``*_tls_security_level`` (``level``) and,
    when that is empty, the older ``*_enforce_tls`` and ``*_use_tls``.
    """
    if level:
        return level
    if enforce == "yes":
        return "encrypt"
    return "may" if use == "yes" else "none"


def default_match(level, configured):
    """
    The ``match=`` names Postfix uses for ``level`` when a policy gives none:
    ``configured`` is the value of the parameter :data:`DEFAULT_MATCH` names
    (separated by commas, whitespace or ``:``).
    """
    return [name for name in re.split(r"[\s,:]+", configured or "") if name]


def certificate_names(match, destination_host):
    """
    The names a portal's certificate must carry (any one of them) for the
    ``match`` names of a policy, at the bracketed nexthop
    ``[destination_host]``: ``nexthop`` and ``hostname`` are the host itself,
    ``dot-nexthop`` any name below it.
    """
    resolved = {"nexthop": destination_host, "hostname": destination_host, "dot-nexthop": f".{destination_host}"}
    return list(dict.fromkeys(resolved.get(name, name) for name in match))
