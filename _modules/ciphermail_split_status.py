"""
``ciphermail_split.status``: the portal split-mode configuration of this
gateway as it stands, for an admin to compare across a fleet
(``salt '*' ciphermail_split.status``).

It only reads, through the formula's other execution modules
(``ciphermail``, ``ciphermail_mta``, ``ciphermail_ledger``) and the
split-mode constants of ``ciphermail_split.constants``. A part the gateway
cannot report (the CipherMail back-end is down, a tool is missing) holds
``{"error": <why>}``; the other parts are still reported. Each read
command runs once (``ciphermail_split_reads``), although several parts ask
Postfix for the transport table.

This file shares the ``ciphermail_split`` name with ``ciphermail_split.py``
(settings and pillar): Salt's loader serves the functions of both under it.
"""

import ciphermail_split_reads as reads
from salt.exceptions import CommandExecutionError, SaltInvocationError

__virtualname__ = "ciphermail_split"


def __virtual__():
    return __virtualname__


def _call(function, *args):
    """Call an execution function of the formula; say why when it is not loaded."""
    reason = __salt__["ciphermail_split.unavailable"](function)
    if reason:
        raise CommandExecutionError(reason)
    return __salt__[function](*args)


def _part(read, *args):
    """What ``read(*args)`` reports, or ``{"error": <message>}`` when the gateway cannot say."""
    try:
        return read(*args)
    except (CommandExecutionError, SaltInvocationError) as exc:
        return {"error": str(exc)}


# -- main gateway -------------------------------------------------------------------


def _override(lookup):
    key = lookup["override_key"]
    values = _call("ciphermail.override_read")
    return {
        "path": _call("ciphermail.override_path"),
        "values": values,
        "portal_enabled": _call("ciphermail.normalise_value", values.get(key)) == "true",
        "shadowed_by": _call("ciphermail.override_shadowed", {key: True}).get(key),
    }


def _playbook():
    return {"pending": _call("ciphermail_ledger.playbook_pending")}


def _transport(lookup):
    domain = str(lookup["private_domain"]).lower()
    table = _call("ciphermail_mta.transport_table")
    return {
        "domain": domain,
        "table": table["table"] if table["configured"] else None,
        "entry": _call("ciphermail_mta.transport_get", domain),
        "lookup": _call("ciphermail_mta.transport_lookup", domain),
        "ours": _call("ciphermail_ledger.record", "transport", domain) is not None,
    }


# -- portal gateway -----------------------------------------------------------------


def _mynetworks(lookup):
    parameter = lookup["mynetworks_parameter"]
    return {
        "parameter": parameter,
        "value": _call("ciphermail_mta.mynetworks_get", parameter),
        "ours": _call("ciphermail_ledger.mynetworks_entries", parameter),
    }


def _private_domain(lookup):
    domain = _call("ciphermail.normalise_domain", lookup["private_domain"])
    present = _call("ciphermail.domain_exists", domain)
    properties = {
        name: _call("ciphermail.domain_property_get", domain, name) if present else None
        for name in lookup["private_domain_properties"]
    }
    return {
        "name": domain,
        "present": present,
        "properties": properties,
        "ours": _call("ciphermail_ledger.record", "domain", domain) is not None,
    }


def _trigger_names(lookup):
    return [
        trigger[prop] for trigger in lookup["triggers"].values() for prop in ("header_property", "enabled_property")
    ]


def _triggers(lookup):
    return {name: _call("ciphermail.global_property_get", name) for name in _trigger_names(lookup)}


# -- the role ------------------------------------------------------------------------


def _configured_as_main(main):
    override, transport = main["override"], main["transport"]
    return override.get("portal_enabled") is True or bool(transport.get("entry") or transport.get("lookup"))


def _configured_as_portal(portal, lookup):
    triggers = portal["triggers"]
    enabled = [trigger["enabled_property"] for trigger in lookup["triggers"].values()]
    return (
        portal["private_domain"].get("present") is True
        or any(_call("ciphermail.normalise_value", triggers[name]) == "true" for name in enabled if name in triggers)
        or bool(portal["mynetworks"].get("ours"))
    )


def _role(main, portal, lookup):
    as_main, as_portal = _configured_as_main(main), _configured_as_portal(portal, lookup)
    if as_main and as_portal:
        return "both"
    if as_main:
        return "main"
    return "portal" if as_portal else "none"


def status():
    """
    Report this gateway's portal split-mode configuration as it stands. It
    only reads; a part the gateway cannot report (e.g. the CipherMail
    back-end is down) holds ``{"error": <why>}`` and the rest is reported.

    role
        What the gateway is configured as: ``main`` (the override enables
        the remote portal, or the private domain has a transport entry),
        ``portal`` (the private domain exists, a header trigger is enabled,
        or ``mynetworks`` has entries the formula added), ``both`` or
        ``none``.
    role_in_pillar
        ``ciphermail_split:role`` of this minion's pillar (None: not set).
    main
        ``override``: the override file's ``path``, its ``values``,
        ``portal_enabled`` and ``shadowed_by`` (a later vars file that sets
        the key otherwise); ``playbook``: ``pending`` (the override changed
        and ``cm-run-playbook`` has not succeeded since); ``transport``: the
        ``table``, the private domain's ``entry`` in its source file, its
        ``lookup`` by ``postmap -q``, and whether the formula wrote it
        (``ours``).
    portal
        ``mynetworks``: the whole ``value`` and the entries the formula
        added (``ours``); ``private_domain``: ``present``, its
        ``properties`` and whether the formula added it (``ours``);
        ``triggers``: the four header trigger properties.

    CLI Example:

    .. code-block:: bash

        salt '*' ciphermail_split.status
    """
    lookup = __salt__["ciphermail_split.constants"]()
    with reads.remembered(__context__):
        main = {
            "override": _part(_override, lookup),
            "playbook": _part(_playbook),
            "transport": _part(_transport, lookup),
        }
        portal = {
            "mynetworks": _part(_mynetworks, lookup),
            "private_domain": _part(_private_domain, lookup),
            "triggers": _part(_triggers, lookup),
        }
    return {
        "role": _role(main, portal, lookup),
        "role_in_pillar": (__pillar__.get("ciphermail_split") or {}).get("role"),
        "main": main,
        "portal": portal,
    }
