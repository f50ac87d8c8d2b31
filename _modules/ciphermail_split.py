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

import os
import re
import shlex

import ciphermail_cli_commands as cli_grammar
import ciphermail_gateway_values as gateway_values
import ciphermail_postfix_values as postfix_values
import ciphermail_split_commands as commands
import ciphermail_split_files as files
import ciphermail_split_ledger
import ciphermail_split_pillar
import ciphermail_split_preflight as verdicts
import ciphermail_split_reads as reads
import ciphermail_split_settings as split_settings
import salt.utils.path
from ciphermail_gateway_values import UNKNOWN
from ciphermail_split_errors import invalid
from salt.exceptions import CommandExecutionError, SaltInvocationError

__virtualname__ = "ciphermail_split"

DEFAULTS_URL = "salt://ciphermail_split/parameters/defaults.yaml"
#: Ledger kinds that are bookkeeping of another item, not items of their own.
_BOOKKEEPING = ("mynetworks_param",)


def __virtual__():
    return __virtualname__


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


def validate_pillar(pillar=None, defaults=None, sls=None):
    """
    Check pillar ``ciphermail_split``, and ``ciphermail_split:lookup`` of
    the minion config (host settings only), and return ``problems`` (each
    names the key, the value and what is expected; ``[]`` when all is
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
    if pillar is None:
        pillar = __pillar__.get(split_settings.PILLAR_KEY)
    return ciphermail_split_pillar.checked(
        pillar, defaults or _formula_defaults(), sls, __opts__, __salt__["ciphermail_mta.postfix_version"]
    )


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
    problems = [*_missing_commands(settings, _role(role)).values(), _state_dir_problem(settings)]
    return [problem for problem in problems if problem]


def _missing_commands(settings, role):
    """``{key: why it cannot run, or None}`` for each command of ``role``."""
    return {key: commands.missing(settings, key) for key in commands.ROLE_COMMANDS[role]}


def _state_dir_problem(settings):
    return files.directory_problem(settings["state_dir"], f"{split_settings.LOOKUP_KEY}:state_dir:")


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
    if _domain_present(domain, clean):
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


def _domain_present(domain, clean):
    """
    Is the private domain on the gateway, as far as clean is concerned? Read
    back, or in documented-only mode from the ledger; there a domain with no
    ``domain_delete`` row stays by design (its clean state says so).
    """
    settings = host_settings()
    if settings["cli_read_back"]:
        return __salt__["ciphermail.domain_exists"](domain)
    deletable = "domain_delete" in settings["cli_commands"]
    return deletable and clean.ledger.record("domain", domain) is not None


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


def leftovers(role, cleaned=False, force=False, addresses=None, lookup=None):
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
    ``lookup``: the split-mode constants (default: :func:`constants`; the
    clean SLS passes its own, so that the target needs no file server).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_split.leftovers portal addresses='[192.0.2.10]'
    """
    role = _role(role)
    lookup = lookup or constants()
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


def _private_domain(lookup, read_back):
    domain = gateway_values.normalise_domain(lookup["private_domain"])
    if read_back:
        present = __salt__["ciphermail.domain_exists"](domain)
        properties = {
            name: __salt__["ciphermail.domain_property_get"](domain, name) if present else None
            for name in lookup["private_domain_properties"]
        }
    else:
        present, properties = UNKNOWN, dict.fromkeys(lookup["private_domain_properties"], UNKNOWN)
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


def _triggers(lookup, read_back):
    if not read_back:
        return dict.fromkeys(_trigger_names(lookup), UNKNOWN)
    return {name: __salt__["ciphermail.global_property_get"](name) for name in _trigger_names(lookup)}


def _applied_as_portal(lookup):
    """True when the ledger says the formula applied the private domain or switched a trigger on."""
    ledger = _ledger()
    domain = gateway_values.normalise_domain(lookup["private_domain"])
    return ledger.applied("domain", domain) == "present" or any(
        ledger.applied("global_property", trigger["enabled_property"]) == "true"
        for trigger in lookup["triggers"].values()
    )


def _now(kind, key, ours, read_cli):
    """The current value of an item the ledger records, as it was recorded; ``unknown`` when it cannot be read."""
    if kind in ("global_property", "domain", "domain_property") and not read_cli:
        return UNKNOWN
    if kind == "global_property":
        return gateway_values.normalise_value(__salt__["ciphermail.global_property_get"](key))
    if kind == "domain":
        return "present" if __salt__["ciphermail.domain_exists"](key) else None
    if kind == "domain_property":
        domain, name = key.split("|", 1)
        if not __salt__["ciphermail.domain_exists"](domain):
            return None
        return gateway_values.normalise_value(__salt__["ciphermail.domain_property_get"](domain, name))
    if kind == "override_key":
        return gateway_values.normalise_value(__salt__["ciphermail_ansible.override_read"]().get(key))
    if kind == "override_file":
        return "present" if os.path.exists(key) else None
    if kind == "transport":
        return __salt__["ciphermail_mta.transport_get"](key)
    if kind == "transport_maps":
        return __salt__["ciphermail_mta.main_cf_get"](key)
    if kind == "transport_file":
        return ours if os.path.exists(key) else None
    if kind == "mynetworks":
        parameter, entry = key.split("|", 1)
        return "present" if entry in __salt__["ciphermail_mta.mynetworks_get"](parameter) else None
    return UNKNOWN


def _formula_values(read_cli):
    """Each item the formula set (the ledger), whether it still holds the formula's value (CLI items: if ``read_cli``)."""
    items = []
    for kind, key, ours in _ledger().formula_items():
        if kind in _BOOKKEEPING:
            continue
        try:
            now = _now(kind, key, ours, read_cli)
        except (CommandExecutionError, SaltInvocationError):
            now = UNKNOWN
        items.append((kind, key, ours, now))
    return ciphermail_split_ledger.held(items)


def _configured_as_main(main):
    override, transport = main["override"], main["transport"]
    return override.get("portal_enabled") is True or bool(transport.get("entry") or transport.get("lookup"))


def _configured_as_portal(portal, lookup, applied):
    triggers = portal["triggers"]
    enabled = [trigger["enabled_property"] for trigger in lookup["triggers"].values()]
    return (
        applied
        or portal["private_domain"].get("present") is True
        or any(gateway_values.normalise_value(triggers[name]) == "true" for name in enabled if name in triggers)
        or bool(portal["mynetworks"].get("ours"))
    )


def _configured_role(main, portal, lookup, applied):
    as_main, as_portal = _configured_as_main(main), _configured_as_portal(portal, lookup, applied)
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
    cli_mode
        ``read-back``, or ``documented-only`` (``cli_read_back: false``):
        then the CLI is not read, its values show as ``unknown``, and the
        role comes from what the ledger says the formula applied.
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
    set_by_formula
        Each item the ledger says the formula set (``<kind>:<key>``): its
        value then (``ours``), its value ``now``, and whether it still
        ``holds`` it (False: someone changed it since, for example a save in
        the web UI; None: it cannot be read).

    CLI Example:

    .. code-block:: bash

        salt '*' ciphermail_split.status
    """
    lookup = constants()
    read_back = host_settings()["cli_read_back"]
    with reads.remembered(__context__):
        main = {
            "override": _part(_override, lookup),
            "playbook": _part(_playbook),
            "transport": _part(_transport, lookup),
            "tls_policy": _part(_tls_policy, lookup),
        }
        portal = {
            "mynetworks": _part(_mynetworks, lookup),
            "private_domain": _part(_private_domain, lookup, read_back),
            "triggers": _part(_triggers, lookup, read_back),
        }
        cli_answered = not any("error" in portal[part] for part in ("private_domain", "triggers"))
        formula_values = _part(_formula_values, read_back and cli_answered)
    applied = not read_back and _part(_applied_as_portal, lookup) is True
    return {
        "role": _configured_role(main, portal, lookup, applied),
        "role_in_pillar": (__pillar__.get(split_settings.PILLAR_KEY) or {}).get("role"),
        "cli_mode": split_settings.cli_mode(host_settings()),
        "main": main,
        "portal": portal,
        "set_by_formula": formula_values,
    }


# -- preflight ------------------------------------------------------------------------


def _first_line(text):
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "(no output)")


def _pillar_check(role):
    """The pillar check, and the checked pillar (``mapdata``; None when it cannot be read)."""
    try:
        checked = validate_pillar(sls=f"ciphermail_split.{role}")
    except (CommandExecutionError, SaltInvocationError) as exc:
        checked = {"problems": [str(exc)], "mapdata": None}
    if checked["problems"]:
        fix = "Correct each key named (pillar.example shows every key), then refresh the pillar"
        return verdicts.verdict(verdicts.FAIL, "; ".join(checked["problems"]), fix), checked["mapdata"]
    evidence = f"pillar {split_settings.PILLAR_KEY} is valid for the {role} role"
    return verdicts.verdict(verdicts.OK, evidence), checked["mapdata"]


def _command_check(settings, key, problem):
    if problem:
        return verdicts.verdict(verdicts.FAIL, problem, f"Install it, or set {split_settings.LOOKUP_KEY}:{key}")
    found = salt.utils.path.which(settings[key][0])
    return verdicts.verdict(verdicts.OK, f"{key}: {shlex.join(settings[key])} ({found})")


def _state_dir_check(settings):
    problem = _state_dir_problem(settings)
    if problem:
        fix = f"Set {split_settings.LOOKUP_KEY}:state_dir to a writable directory"
        return verdicts.verdict(verdicts.FAIL, problem, fix)
    path = settings["state_dir"]
    how = "exists and is writable" if os.path.isdir(path) else "will be created on the first run"
    return verdicts.verdict(verdicts.OK, f"state_dir {path} {how}")


def _cli_failure(exc, row):
    """The verdict of a ``ciphermail-cli`` command that failed, with the fix that fits its message."""
    output = getattr(exc, "output", "") or ""
    if isinstance(exc, commands.CommandFailed) and cli_grammar.is_unknown_command(exc.retcode, output):
        fix = f"Set {split_settings.LOOKUP_KEY}:cli_commands:{row} to this gateway's words for it"
        if row in cli_grammar.READS:
            fix += f", or set {split_settings.LOOKUP_KEY}:cli_read_back: false"
    elif re.search(r"auth|credential|password|permission|denied|forbidden", output, re.IGNORECASE):
        fix = f"Give ciphermail-cli its credentials in {split_settings.LOOKUP_KEY}:command_env"
    else:
        fix = "Check that the CipherMail back-end is running and that ciphermail-cli works as root"
    return verdicts.verdict(verdicts.FAIL, str(exc), fix)


def _value_check(shown, row, value, wanted):
    """A ``get`` row must print the value alone on one line (a boolean where one was set)."""
    evidence = f"{shown}: {value!r}"
    boolean = gateway_values.normalise_value(wanted) in ("true", "false")
    if "\n" in value or (boolean and gateway_values.normalise_value(value.replace("\t", " ")) not in ("true", "false")):
        fix = (
            f"{split_settings.LOOKUP_KEY}:cli_commands:{row} must print {cli_grammar.READ_OUTPUT[row]}; "
            f"give it words that do, or set {split_settings.LOOKUP_KEY}:cli_read_back: false"
        )
        return verdicts.verdict(verdicts.FAIL, evidence, fix)
    return verdicts.verdict(verdicts.OK, evidence)


def _read_checks(settings, lookup, domains):
    """Each read row of the grammar in effect, tried once with harmless arguments."""
    overrides = settings["cli_commands"]

    def shown(row, **params):
        return shlex.join([*settings["cli"], *cli_grammar.words(row, params, overrides)])

    checks = {}
    bad = verdicts.not_domains(domains)
    listed = f"{shown('domain_list')}: {', '.join(domains) or '(no domains)'}"
    checks["cli_read:domain_list"] = (
        verdicts.verdict(
            verdicts.WARN,
            f"{listed}; not domain names: {', '.join(bad)}",
            f"{split_settings.LOOKUP_KEY}:cli_commands:domain_list must print {cli_grammar.READ_OUTPUT['domain_list']}",
        )
        if bad
        else verdicts.verdict(verdicts.OK, listed)
    )
    private = gateway_values.normalise_domain(lookup["private_domain"])
    domain = private if private in domains else next(iter(d for d in domains if d not in bad), None)
    props = lookup["private_domain_properties"]
    if domain is None or not props:
        checks["cli_read:domain_property_get"] = verdicts.verdict(
            verdicts.WARN,
            "the gateway has no domain yet to read a property of",
            "Nothing to do now: run preflight again after the portal role has added the private domain",
        )
    else:
        prop, wanted = next(iter(props.items()))
        try:
            value = __salt__["ciphermail.domain_property_get"](domain, prop)
            checks["cli_read:domain_property_get"] = _value_check(
                shown("domain_property_get", domain=domain, name=prop), "domain_property_get", value, wanted
            )
        except CommandExecutionError as exc:
            checks["cli_read:domain_property_get"] = _cli_failure(exc, "domain_property_get")
    name = next(iter(lookup["triggers"].values()))["enabled_property"]
    try:
        value = __salt__["ciphermail.global_property_get"](name)
        checks["cli_read:global_property_get"] = _value_check(
            shown("global_property_get", name=name), "global_property_get", value, True
        )
    except CommandExecutionError as exc:
        checks["cli_read:global_property_get"] = _cli_failure(exc, "global_property_get")
    return checks


def _cli_checks(settings, lookup):
    """Does the CLI answer: one harmless read (read-back), or its help (documented-only); then each read row."""
    if not settings["cli_read_back"]:
        shown = shlex.join([*settings["cli"], "--help"])
        try:
            text = __salt__["ciphermail.cli_help"]()
        except CommandExecutionError as exc:
            return {
                "cli_answers": verdicts.verdict(
                    verdicts.WARN,
                    f"{shown}: {exc}",
                    "Nothing to do if this CLI has no --help: the first write shows whether it answers and "
                    "is authenticated (no read command is documented)",
                )
            }
        evidence = f"{shown}: {_first_line(text)} (documented-only mode: authentication shows at the first write)"
        return {"cli_answers": verdicts.verdict(verdicts.OK, evidence)}
    try:
        domains = __salt__["ciphermail.domain_list"]()
    except CommandExecutionError as exc:
        failed = _cli_failure(exc, "domain_list")
        return {"cli_answers": failed, "cli_read:domain_list": failed}
    shown = shlex.join([*settings["cli"], *cli_grammar.words("domain_list", {}, settings["cli_commands"])])
    count = f"{len(domains)} domain{'' if len(domains) == 1 else 's'}"
    answers = verdicts.verdict(verdicts.OK, f"{shown}: answered, authenticated, {count}")
    return {"cli_answers": answers, **_read_checks(settings, lookup, domains)}


def _postconf_shown(settings, *args):
    return shlex.join([*settings["postconf"], "-c", settings["postfix_config_dir"], *args])


def _postfix_version_check(settings, mapdata):
    shown = _postconf_shown(settings, "-h", "mail_version")
    try:
        version = __salt__["ciphermail_mta.postconf_get"]("mail_version", expand=False)
    except CommandExecutionError as exc:
        fix = f"Check {split_settings.LOOKUP_KEY}:postconf and postfix_config_dir"
        return verdicts.verdict(verdicts.FAIL, str(exc), fix)
    return verdicts.postfix_version(shown, version, mapdata or {})


def _override_check(settings, lookup):
    vars_dir = settings["ansible_vars_dir"]
    if not os.path.isdir(vars_dir):
        return verdicts.verdict(
            verdicts.FAIL,
            f"ansible_vars_dir {vars_dir} is not a directory",
            f"Set {split_settings.LOOKUP_KEY}:ansible_vars_dir to the gateway's Ansible group_vars/all directory",
        )
    key = lookup["override_key"]
    path = __salt__["ciphermail_ansible.override_path"]()
    try:
        shadowed = __salt__["ciphermail_ansible.override_shadowed"]({key: True})
    except CommandExecutionError as exc:
        return verdicts.verdict(verdicts.FAIL, str(exc), "Correct that vars file: Ansible would fail on it too")
    if shadowed:
        origin = shadowed[key]
        return verdicts.verdict(
            verdicts.FAIL,
            f"{os.path.join(vars_dir, origin)} sets {key} otherwise, and Ansible reads it after {path}",
            f"Remove {key} from {origin}",
        )
    return verdicts.verdict(verdicts.OK, f"{vars_dir} exists; no vars file read after {path} sets {key}")


def _transport_check(settings):
    shown = _postconf_shown(settings, "-hx", "transport_maps")
    try:
        table = __salt__["ciphermail_mta.transport_table"]()
        # postconf knows a parameter of its own only once something refers to it: else main.cf's text.
        maps_d_dir = __salt__["ciphermail_mta.postconf_get"]("maps_d_dir") or __salt__["ciphermail_mta.main_cf_get"](
            "maps_d_dir"
        )
    except CommandExecutionError as exc:
        fix = "Make transport_maps a file-based table (hash:, lmdb:, cdb:, ...), or add the entry by hand"
        return verdicts.verdict(verdicts.FAIL, f"{shown}: {exc}", fix)
    return verdicts.transport_table(shown, table, maps_d_dir)


def _mynetworks_check(lookup):
    parameter = lookup["mynetworks_parameter"]
    try:
        written = __salt__["ciphermail_mta.main_cf_get"](parameter)
        in_effect = __salt__["ciphermail_mta.mynetworks_get"](parameter)
    except CommandExecutionError as exc:
        return verdicts.verdict(verdicts.FAIL, str(exc), f"Check {split_settings.LOOKUP_KEY}:postfix_config_dir")
    in_main_cf = None if written is None else postfix_values.split_list(written)
    return verdicts.mynetworks(parameter, in_main_cf, in_effect)


def _portal_smtp_check(mapdata):
    host = (mapdata or {}).get("portal_server")
    if not host:
        fix = f"Set {split_settings.PILLAR_KEY}:portal_server"
        return verdicts.verdict(verdicts.FAIL, "the pillar gives no portal_server", fix)
    port = mapdata.get("portal_port")
    try:
        check = __salt__["ciphermail_mta.smtp_check"](host=host, port=port)
    except (CommandExecutionError, SaltInvocationError) as exc:
        return verdicts.verdict(verdicts.FAIL, str(exc), "Correct portal_server and portal_port")
    nodes = check["nodes"]
    if check["ok"]:
        return verdicts.verdict(
            verdicts.OK, "; ".join(f"smtp_check {node['host']}:{node['port']}: {node['banner']}" for node in nodes)
        )
    ports = ", ".join(sorted({str(node["port"]) for node in nodes}))
    return verdicts.verdict(
        verdicts.FAIL,
        "; ".join(f"smtp_check {node['host']}:{node['port']}: {node['error']}" for node in nodes if node["error"]),
        f"Let this gateway reach the portal's SMTP service on port {ports} (firewall, the portal's "
        "inet_interfaces), or correct portal_server and portal_port",
    )


def preflight(role=None):
    """
    Check, read-only, whether this gateway can take its role (default: its
    pillar role; or ``role=main|portal``), and say what to fix. It writes
    nothing and runs only harmless read commands: ``postconf -h``, one
    ``ciphermail-cli`` read per read row (documented-only mode:
    ``ciphermail-cli --help``), and, for the main role, an SMTP
    ``EHLO``/``QUIT`` to the portal.

    Returns ``role``, ``cli_mode``, ``result`` (the worst of the checks),
    ``summary`` and ``checks``: each ``ok``, ``warn`` or ``fail`` with its
    ``evidence`` (the command or file and what it gave) and, unless ok, its
    ``fix``. The checks: ``pillar``; ``command:<key>`` for each command the
    role runs; ``state_dir``; portal: ``cli_answers``, ``cli_read:<row>``
    (read-back mode), ``mynetworks``; main: ``override``,
    ``transport_maps``, ``portal_smtp``; both: ``postfix_version`` and
    ``formula_values`` (whether each item the formula set still holds its
    value, or someone, such as a save in the web UI, changed it since).
    The salt command's exit code is 1 when a check fails.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_split.preflight
        salt main-gw ciphermail_split.preflight role=main --out=json
    """
    role = _role(role)
    checks = {}
    checks["pillar"], mapdata = _pillar_check(role)
    try:
        settings = host_settings()
        lookup = constants()
    except (CommandExecutionError, SaltInvocationError):
        __context__["retcode"] = 1
        return {"role": role, "cli_mode": None, "result": verdicts.FAIL, "summary": "see pillar", "checks": checks}
    for key, problem in _missing_commands(settings, role).items():
        checks[f"command:{key}"] = _command_check(settings, key, problem)
    checks["state_dir"] = _state_dir_check(settings)
    with reads.remembered(__context__):
        if role == "portal":
            if not checks["command:cli"]["result"] == verdicts.FAIL:
                checks.update(_cli_checks(settings, lookup))
            checks["mynetworks"] = _mynetworks_check(lookup)
        else:
            checks["override"] = _override_check(settings, lookup)
            checks["transport_maps"] = _transport_check(settings)
            checks["portal_smtp"] = _portal_smtp_check(mapdata)
        checks["postfix_version"] = _postfix_version_check(settings, mapdata)
        read_back = settings["cli_read_back"]
        cli_answered = role == "main" or checks.get("cli_answers", {}).get("result") == verdicts.OK
        try:
            values = _formula_values(read_back and cli_answered)
            checks["formula_values"] = verdicts.formula_values(values, read_back and cli_answered)
        except CommandExecutionError as exc:
            checks["formula_values"] = verdicts.verdict(verdicts.FAIL, str(exc), "See the state_dir check")
    result, summary = verdicts.overall(checks)
    if result == verdicts.FAIL:
        __context__["retcode"] = 1
    return {
        "role": role,
        "cli_mode": split_settings.cli_mode(settings),
        "result": result,
        "summary": summary,
        "checks": checks,
    }
