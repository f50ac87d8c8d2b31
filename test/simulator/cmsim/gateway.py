"""The server side of each ciphermail-cli command, acting on the state dict.

Every handler takes ``(state, options)`` and returns the text to print on
stdout, or raises ServerError before changing anything. Checks run in this
order: domain name syntax, domain existence, property name, value.
"""

from . import catalog
from .errors import ServerError
from .validation import check_value, normalise_domain, quote


def _existing_domain(state, raw):
    domain = normalise_domain(raw)
    if domain not in state["domains"]:
        raise ServerError("domain %s does not exist" % quote(domain))
    return domain


def _known_property(scope, name):
    prop = catalog.lookup(scope, name)
    if prop is None:
        raise ServerError("unknown %s property %s" % (scope, quote(name)))
    return prop


def domain_list(state, _options):
    return "".join(domain + "\n" for domain in sorted(state["domains"]))


def domain_add(state, options):
    domain = normalise_domain(options["domain"])
    if domain in state["domains"]:
        raise ServerError("domain %s already exists" % quote(domain))
    state["domains"][domain] = {}
    return ""


def domain_delete(state, options):
    del state["domains"][_existing_domain(state, options["domain"])]
    return ""


def property_domain_get(state, options):
    domain = _existing_domain(state, options["domain"])
    prop = _known_property("domain", options["name"])
    return state["domains"][domain].get(options["name"], prop.default) + "\n"


def property_domain_set(state, options):
    domain = _existing_domain(state, options["domain"])
    prop = _known_property("domain", options["name"])
    check_value("domain", options["name"], prop, options["value"])
    state["domains"][domain][options["name"]] = options["value"]
    return ""


def property_global_get(state, options):
    prop = _known_property("global", options["name"])
    return state["global"].get(options["name"], prop.default) + "\n"


def property_global_set(state, options):
    prop = _known_property("global", options["name"])
    check_value("global", options["name"], prop, options["value"])
    state["global"][options["name"]] = options["value"]
    return ""


HANDLERS = {
    ("domain", "list"): domain_list,
    ("domain", "add"): domain_add,
    ("domain", "delete"): domain_delete,
    ("property", "domain", "get"): property_domain_get,
    ("property", "domain", "set"): property_domain_set,
    ("property", "global", "get"): property_global_get,
    ("property", "global", "set"): property_global_set,
}
