"""
The values the formula gives a CipherMail gateway, checked and normalised in
pure Python (no Salt loader, no I/O): property values, domain names,
property names, header lines and the variables of the Ansible override file.

Values are compared after normalising, so ``True``, ``"true"`` and
``"TRUE"`` are one value and a second run finds nothing to change. Invalid
input raises ``SaltInvocationError`` naming what was given and what is
expected. Imported as a plain module by the execution and state modules and
by the pillar validation.
"""

import re

from ciphermail_split_errors import invalid

_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PROPERTY_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_ANSIBLE_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_HEADER = re.compile(r"^[!-9;-~]+:[ \t]*\S")
_BOOLEANS = {"true": "true", "false": "false"}
#: How a value shows that the formula cannot read (``cli_read_back: false``).
UNKNOWN = "unknown"



def normalise_value(value):
    """
    A property or override value as the formula compares it: booleans
    (``True``, ``"true"``, ``"TRUE"``) become ``"true"``/``"false"``, numbers
    their decimal text, strings stay as they are, None stays None (not set).
    Line breaks and other control characters are refused.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        raise invalid("value", value, "a string, number or boolean")
    if _CONTROL_CHARS.search(value):
        raise invalid("value", value, "no line breaks or control characters")
    return _BOOLEANS.get(value.strip().lower(), value)


def normalise_domain(domain):
    """``domain`` as the gateway stores it (lowercase); anything but a DNS domain name is refused."""
    name = domain.lower() if isinstance(domain, str) else domain
    if (
        not isinstance(name, str)
        or len(name) > 253
        or not all(_DOMAIN_LABEL.match(label) for label in name.split("."))
    ):
        raise invalid("domain", domain, "a DNS domain name such as relay-to-webmail.private")
    return name


def normalise_property_name(name):
    """``name`` when it is a property name (lowercase words joined by ``-``)."""
    if not isinstance(name, str) or not _PROPERTY_NAME.match(name):
        raise invalid("property name", name, "lowercase words joined by '-'")
    return name


def header_line(value):
    """``value`` normalised, when it is a header line such as ``X-Name: value``."""
    header = normalise_value(value)
    if not isinstance(header, str) or not _HEADER.match(header):
        raise invalid("header", value, "a header line such as 'X-Name: value'")
    return header


def normalised_properties(values, what="properties"):
    """A non-empty mapping of property names to values, the values normalised."""
    if not isinstance(values, dict) or not values:
        raise invalid(what, values, "a non-empty mapping of names to values")
    return {normalise_property_name(name): normalise_value(value) for name, value in values.items()}


def names(value, what):
    """A non-empty list of names (a single string is one name)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(name, str) for name in value):
        raise invalid(what, value, "a list of names")
    return list(value)


def yaml_value(value):
    """A value as written to an Ansible vars file: booleans in any spelling as YAML booleans."""
    normalised = normalise_value(value)
    return {"true": True, "false": False}.get(normalised, value)


def normalise_override(values):
    """
    Override ``values`` as they are written to the file: keys checked to be
    Ansible variable names, scalar values, booleans in any spelling as YAML
    booleans.
    """
    if not isinstance(values, dict):
        raise invalid("values", values, "a mapping of Ansible variables")
    for key, value in values.items():
        if not isinstance(key, str) or not _ANSIBLE_VAR.match(key):
            raise invalid("override key", key, "an Ansible variable name")
        if isinstance(value, (dict, list)) or value is None:
            raise invalid(f"override value of {key}", value, "a scalar")
    return {key: yaml_value(value) for key, value in values.items()}


def same_values(left, right):
    """True when two mappings have the same keys and, normalised, the same values."""
    return left.keys() == right.keys() and all(
        normalise_value(left[key]) == normalise_value(right[key]) for key in left
    )


def switched_off(value):
    """
    What taking back ``value`` means when the value before it is not known:
    a boolean switched on (``"true"``) goes to ``"false"``; for anything else
    there is nothing safe to write (None).
    """
    return "false" if value == "true" else None
