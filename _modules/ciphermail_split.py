"""
The ciphermail_split formula as an admin asks about it on a gateway: the
host settings in effect, whether the pillar is valid, the split-mode
constants, and the gateway's split-mode status.

The logic lives in ``_utils`` (``ciphermail_split_settings``,
``ciphermail_split_pillar``); these functions read this minion's pillar and
config and hand them over. ``status`` only reads, through the formula's
other execution modules (``ciphermail``, ``ciphermail_ansible``,
``ciphermail_mta``) and the ledger.
"""

import ciphermail_gateway_values as gateway_values
import ciphermail_postfix_values as postfix_values
import ciphermail_split_commands as commands
import ciphermail_split_files as files
import ciphermail_split_ledger
import ciphermail_split_pillar
import ciphermail_split_reads as reads
import ciphermail_split_settings as split_settings
from ciphermail_split_errors import invalid
from salt.exceptions import CommandExecutionError, SaltInvocationError

__virtualname__ = "ciphermail_split"

DEFAULTS_URL = "salt://ciphermail_split/parameters/defaults.yaml"
_THIS_MINION = object()


def __virtual__():
    return __virtualname__


def _config_lookup():
    """``ciphermail_split:lookup`` of the minion config (pillar is merged over it)."""
    return split_settings.configured_lookup(__opts__, {})


def host_settings():
    """
    Return the host settings in effect on this minion, checked, with
    commands as argument lists: ``ciphermail_split:lookup`` of pillar, else
    of the minion config, else the formula's defaults, key by key.

    Secrets in ``command_env`` are included: use :func:`settings` to show.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_split.host_settings
    """
    return split_settings.effective(__opts__, __pillar__)


def settings():
    """
    Return the host settings in effect (see :func:`host_settings`) with the
    values of ``command_env`` masked, fit to print.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_split.settings
    """
    return split_settings.masked(host_settings())


def _formula_defaults():
    text = __salt__["cp.get_file_str"](DEFAULTS_URL)
    if not text:
        raise SaltInvocationError(f"cannot read {DEFAULTS_URL}: is the formula in file_roots?")
    return __salt__["slsutil.deserialize"]("yaml", text)["values"]


def validate_pillar(pillar=_THIS_MINION, defaults=None, sls=None):
    """
    Check pillar ``ciphermail_split`` and return ``problems`` (each names
    the key, the value and what is expected; ``[]`` when the pillar is
    valid) and ``mapdata``: the pillar merged over the formula's defaults,
    the data the SLS files use (``command_env`` values masked). The
    formula's ``map.jinja`` calls it, and an SLS with problems renders one
    failing state per problem and nothing else, so a bad pillar changes
    nothing. Needs no gateway tool, but Postfix for a list of portal nodes.

    pillar
        The ``ciphermail_split`` pillar (default: this minion's).
    defaults
        The ``values`` of ``parameters/defaults.yaml`` (default: read from
        ``salt://ciphermail_split/parameters/defaults.yaml``).
    sls
        The SLS being rendered: a role SLS also checks that the pillar role
        matches it, a ``clean`` SLS needs only the role.

    A main gateway with several portal nodes in ``portal_server`` also
    needs Postfix 3.5 or later (``ciphermail_mta.postfix_version``): on an
    older one that is a problem too, naming the version.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_split.validate_pillar
    """
    if pillar is _THIS_MINION:
        pillar = __pillar__.get(split_settings.PILLAR_KEY)
    mapdata, problems = ciphermail_split_pillar.problems(
        pillar, defaults or _formula_defaults(), sls, _config_lookup()
    )
    if not problems and ciphermail_split_pillar.portal_nodes_listed(mapdata, sls):
        try:
            problems = ciphermail_split_pillar.postfix_problems(mapdata, __salt__["ciphermail_mta.postfix_version"]())
        except (CommandExecutionError, SaltInvocationError) as exc:
            problems = ciphermail_split_pillar.postfix_problems(mapdata, error=str(exc))
    return {"problems": problems, "mapdata": mapdata}


def constants(pillar=None):
    """
    Return the split-mode constants in effect: ``lookup`` of
    ``parameters/defaults.yaml`` with ``ciphermail_split:lookup`` of
    ``pillar`` (default: this minion's pillar) merged over it, key by key:
    the private domain and its properties, the override key, the
    ``mynetworks`` parameter and the header triggers.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_split.constants
    """
    if pillar is None:
        pillar = __pillar__.get(split_settings.PILLAR_KEY, {})
    return ciphermail_split_pillar.constants(pillar, _formula_defaults())


def _role(role):
    """``role``, or the pillar role when None; refused when it is neither main nor portal."""
    if role is None:
        role = (__pillar__.get(split_settings.PILLAR_KEY) or {}).get("role")
    if role not in commands.ROLE_COMMANDS:
        raise invalid("role", role, "main or portal (or a pillar ciphermail_split:role)")
    return role


def ready(role=None):
    """
    Return what keeps this gateway from running its role (default: its
    pillar role), ``[]`` when nothing does: each command the role runs
    (``ciphermail_split:lookup``) must exist and be executable, and the
    state directory must be usable. Runs no command and writes nothing.
    Each role SLS checks this first, so a wrong path stops the role before
    anything is written, under test=True too.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_split.ready
        salt portal-gw ciphermail_split.ready role=portal
    """
    settings = host_settings()
    problems = [commands.missing(settings, key) for key in commands.ROLE_COMMANDS[_role(role)]]
    problems.append(files.directory_problem(settings["state_dir"], f"{split_settings.LOOKUP_KEY}:state_dir:"))
    return [problem for problem in problems if problem]


# -- what clean leaves ---------------------------------------------------------------

_FORCE_HINT = (
    "the ledger ({ledger}) does not show it as the formula's (it was there before the formula, or the "
    "ledger was lost), so clean leaves it; to take it back anyway: "
    "salt-call state.apply ciphermail_split.clean pillar='{{\"ciphermail_split\": {{\"clean_force\": true}}}}'"
)
_OTHER_ROLE_HINT = "the ledger records it for the {role} role: clean with pillar ciphermail_split:role: {role}"


class _Clean:
    """A clean of ``role`` on this gateway: what it takes back, and why it leaves the rest."""

    def __init__(self, role, cleaned, force):
        self.role, self.cleaned, self.force = role, cleaned, force
        self.ledger = _ledger()
        self.found = []

    def item(self, role, what, kind, key, current, taken_back):
        """
        Note an item of split mode ``role`` found on the gateway, unless this
        clean takes it back (``taken_back``: it would, before it ran). Of the
        other role, only what the ledger records as the formula's counts.
        """
        recorded = self.ledger.record(kind, key) is not None
        if role != self.role:
            if recorded:
                self.found.append({"what": what, "why": _OTHER_ROLE_HINT.format(role=role)})
            return
        if taken_back and not self.cleaned:
            return
        if not recorded:
            why = _FORCE_HINT.format(ledger=self.ledger.path)
        elif self.ledger.restore_plan(kind, key, current)["action"] == "release":
            why = "someone changed it since the formula set it, so clean leaves it; take it back by hand"
        else:
            why = "clean did not take it back: see the states before"
        self.found.append({"what": what, "why": why})

    def outside(self, role, what, why):
        """Note an item of split mode ``role`` that the formula does not manage (for its own role's clean)."""
        if role == self.role:
            self.found.append({"what": what, "why": why})

    def restores(self, kind, key, current):
        """True when clean of the item's role puts back the value from before the formula."""
        return self.ledger.restore_plan(kind, key, current)["action"] == "restore"


def _main_leftovers(lookup, clean):
    key, domain = lookup["override_key"], str(lookup["private_domain"]).lower()
    override_file = host_settings()["override_file"]
    found = __salt__["ciphermail_ansible.ansible_vars"]()
    if gateway_values.normalise_value(found["values"].get(key)) == "true":
        origin = found["origin"][key]
        what = f"{key} is true in {origin}"
        if origin != override_file:
            clean.outside("main", what, f"the formula edits only {override_file}: remove it from {origin}")
        else:
            record = clean.ledger.record("override_key", key) or {}
            taken = clean.force or (clean.restores("override_key", key, "true") and record.get("before") != "true")
            clean.item("main", what, "override_key", key, "true", taken)
    table = _part(__salt__["ciphermail_mta.transport_table"]).get("table")
    for route in __salt__["ciphermail_mta.transport_routes"](domain):
        what = f"Postfix routes {domain} to {route['value']} ({route['table']})"
        spec = postfix_values.table_spec(route["table"])
        if route["key"] != domain or not spec or ":".join(spec) != table:
            clean.outside("main", what, f"the formula does not edit that entry: remove it from {route['table']}")
            continue
        before = (clean.ledger.record("transport", domain) or {}).get("before")
        taken = before is None and (clean.force or clean.restores("transport", domain, route["value"]))
        clean.item("main", what, "transport", domain, route["value"], taken)


def _portal_leftovers(lookup, addresses, clean):
    domain = gateway_values.normalise_domain(lookup["private_domain"])
    if __salt__["ciphermail.domain_exists"](domain):
        taken = clean.force or clean.restores("domain", domain, "present")
        clean.item("portal", f"the domain {domain} exists", "domain", domain, "present", taken)
    parameter = lookup["mynetworks_parameter"]
    given = postfix_values.mynetworks_entries(addresses or [], allow_networks=True)
    current = __salt__["ciphermail_mta.mynetworks_get"](parameter)
    for entry in dict.fromkeys([*clean.ledger.mynetworks_entries(parameter), *given]):
        if entry in current:
            key = ciphermail_split_ledger.mynetworks_key(parameter, entry)
            taken = clean.force or clean.restores("mynetworks", key, "present")
            clean.item("portal", f"{parameter} has {entry}", "mynetworks", key, "present", taken)


#: The ledger kinds of each role's split mode (what :func:`leftovers` checks).
_ROLE_KINDS = {"main": ("override_key", "transport"), "portal": ("domain", "mynetworks")}


def _checked(clean, role, part, *args):
    """
    Run ``part`` for split mode ``role``; of the other role only when the
    ledger records some of it. A part that cannot be read is noted.
    """
    if role != clean.role and not any(clean.ledger.records(kind) for kind in _ROLE_KINDS[role]):
        return
    try:
        part(*args, clean)
    except (CommandExecutionError, SaltInvocationError) as exc:
        clean.found.append({"what": f"the {role} role's split mode could not be checked", "why": str(exc)})


def leftovers(role, cleaned=False, force=False, addresses=None):
    """
    Return the split mode this gateway still takes part in after
    ``ciphermail_split.clean`` of ``role`` (``cleaned``: the clean has run;
    else it is predicted): for the main role, the override key enabled for
    Ansible and a route Postfix takes for the private domain; for the
    portal role, the private domain and a main gateway address (the
    ledger's, or ``addresses``) in ``mynetworks``. Of the other role, only
    what the ledger records as the formula's. Each is ``{"what": ...,
    "why": ...}``: why clean leaves it and how to take it back. ``force``:
    the clean takes back what the ledger cannot show as the formula's.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_split.leftovers portal addresses='[192.0.2.10]'
    """
    role = _role(role)
    lookup = constants()
    clean = _Clean(role, cleaned, force)
    with reads.remembered(__context__):
        _checked(clean, "main", _main_leftovers, lookup)
        _checked(clean, "portal", _portal_leftovers, lookup, addresses)
    return clean.found


# -- status ---------------------------------------------------------------------------


def _part(read, *args):
    """What ``read(*args)`` reports, or ``{"error": <message>}`` when the gateway cannot say."""
    try:
        return read(*args)
    except (CommandExecutionError, SaltInvocationError) as exc:
        return {"error": str(exc)}


def _ledger():
    return ciphermail_split_ledger.Ledger(host_settings()["state_dir"])


def _override(lookup):
    key = lookup["override_key"]
    values = __salt__["ciphermail_ansible.override_read"]()
    return {
        "path": __salt__["ciphermail_ansible.override_path"](),
        "values": values,
        "portal_enabled": gateway_values.normalise_value(values.get(key)) == "true",
        "shadowed_by": __salt__["ciphermail_ansible.override_shadowed"]({key: True}).get(key),
    }


def _playbook():
    return {"pending": _ledger().playbook_pending}


def _transport(lookup):
    domain = str(lookup["private_domain"]).lower()
    table = __salt__["ciphermail_mta.transport_table"]()
    return {
        "domain": domain,
        "table": table["table"] if table["configured"] else None,
        "entry": __salt__["ciphermail_mta.transport_get"](domain),
        "lookup": __salt__["ciphermail_mta.transport_lookup"](domain),
        "ours": _ledger().record("transport", domain) is not None,
        "shadowed_by": __salt__["ciphermail_mta.transport_shadowed"](domain),
    }


def _tls_policy(lookup):
    domain = str(lookup["private_domain"]).lower()
    table = __salt__["ciphermail_mta.tls_policy_table"]()
    nexthops = postfix_values.nexthop_list_elements(__salt__["ciphermail_mta.transport_get"](domain) or "")
    policy_of = __salt__["ciphermail_mta.tls_policy_get"]
    return {
        "table": table["table"] if table["configured"] else None,
        "entries": {nexthop: policy_of(nexthop) for nexthop in nexthops if nexthop.startswith("[")},
        "ours": sorted(_ledger().records("tls_policy")),
    }


def _mynetworks(lookup):
    parameter = lookup["mynetworks_parameter"]
    return {
        "parameter": parameter,
        "value": __salt__["ciphermail_mta.mynetworks_get"](parameter),
        "ours": _ledger().mynetworks_entries(parameter),
    }


def _private_domain(lookup):
    domain = gateway_values.normalise_domain(lookup["private_domain"])
    present = __salt__["ciphermail.domain_exists"](domain)
    properties = {
        name: __salt__["ciphermail.domain_property_get"](domain, name) if present else None
        for name in lookup["private_domain_properties"]
    }
    return {
        "name": domain,
        "present": present,
        "properties": properties,
        "ours": _ledger().record("domain", domain) is not None,
    }


def _trigger_names(lookup):
    return [
        trigger[prop] for trigger in lookup["triggers"].values() for prop in ("header_property", "enabled_property")
    ]


def _triggers(lookup):
    return {name: __salt__["ciphermail.global_property_get"](name) for name in _trigger_names(lookup)}


def _configured_as_main(main):
    override, transport = main["override"], main["transport"]
    return override.get("portal_enabled") is True or bool(transport.get("entry") or transport.get("lookup"))


def _configured_as_portal(portal, lookup):
    triggers = portal["triggers"]
    enabled = [trigger["enabled_property"] for trigger in lookup["triggers"].values()]
    return (
        portal["private_domain"].get("present") is True
        or any(gateway_values.normalise_value(triggers[name]) == "true" for name in enabled if name in triggers)
        or bool(portal["mynetworks"].get("ours"))
    )


def _configured_role(main, portal, lookup):
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
    back-end is down, a tool is missing) holds ``{"error": <why>}`` and the
    rest is reported. Each read command runs once.

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
        ``lookup`` by ``postmap -q``, whether the formula wrote it
        (``ours``), and ``shadowed_by``: the answer of a table that Postfix
        asks first (``table``, ``key``, ``value``), which then wins over the
        entry; ``tls_policy``: the ``smtp_tls_policy_maps`` ``table``, the
        policy ``entries`` of each nexthop of the transport entry, and the
        nexthops whose policy the formula set (``ours``).
    portal
        ``mynetworks``: the whole ``value`` and the entries the formula
        added (``ours``); ``private_domain``: ``present``, its
        ``properties`` and whether the formula added it (``ours``);
        ``triggers``: the four header trigger properties.

    CLI Example:

    .. code-block:: bash

        salt '*' ciphermail_split.status
    """
    lookup = constants()
    with reads.remembered(__context__):
        main = {
            "override": _part(_override, lookup),
            "playbook": _part(_playbook),
            "transport": _part(_transport, lookup),
            "tls_policy": _part(_tls_policy, lookup),
        }
        portal = {
            "mynetworks": _part(_mynetworks, lookup),
            "private_domain": _part(_private_domain, lookup),
            "triggers": _part(_triggers, lookup),
        }
    return {
        "role": _configured_role(main, portal, lookup),
        "role_in_pillar": (__pillar__.get(split_settings.PILLAR_KEY) or {}).get("role"),
        "main": main,
        "portal": portal,
    }
