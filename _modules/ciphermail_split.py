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
    nothing. Needs no gateway tool.

    pillar
        The ``ciphermail_split`` pillar (default: this minion's).
    defaults
        The ``values`` of ``parameters/defaults.yaml`` (default: read from
        ``salt://ciphermail_split/parameters/defaults.yaml``).
    sls
        The SLS being rendered: a role SLS also checks that the pillar role
        matches it, a ``clean`` SLS needs only the role.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_split.validate_pillar
    """
    if pillar is _THIS_MINION:
        pillar = __pillar__.get(split_settings.PILLAR_KEY)
    mapdata, problems = ciphermail_split_pillar.problems(
        pillar, defaults or _formula_defaults(), sls, _config_lookup()
    )
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
        entry.
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
