"""
The one shape of the formula's refusals: ``<what>: got <value>; expected
<what is expected>``, raised as ``SaltInvocationError``, so a message always
names the key (or argument), the value and what would be right. Imported as
a plain module by the other ``_utils`` modules.
"""

from salt.exceptions import SaltInvocationError


def invalid(what, value, expected):
    """The error for a bad ``value`` of ``what`` (a pillar key or an argument)."""
    return SaltInvocationError(f"{what}: got {value!r}; expected {expected}")


def type_of(value):
    """``value``'s type with its article, for a message that must not show the value: ``a str``, ``an int``."""
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
