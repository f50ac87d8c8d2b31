"""
The ``ciphermail_split`` pillar, checked in pure Python (no Salt loader, no
I/O): merged over the formula's defaults (``parameters/defaults.yaml``),
every key checked, every problem named with the key, the value and what is
expected. Checking a pillar needs no gateway tool: the main role's pillar is
checked on a host without ``ciphermail-cli``.

Imported as a plain module by ``_modules/ciphermail_split.py``
(``validate_pillar``, ``constants``), whose functions the formula's
``map.jinja`` calls while it renders, before any state runs; under
salt-ssh, by ``_wrapper/ciphermail_split.py`` on the master.
"""

import ciphermail_gateway_values as gateway_values
import ciphermail_postfix_tls as postfix_tls
import ciphermail_postfix_values as postfix_values
import ciphermail_split_settings as settings
from ciphermail_split_errors import invalid, type_of
from salt.exceptions import CommandExecutionError, SaltInvocationError

PILLAR_KEY = settings.PILLAR_KEY
LOOKUP_PATH = settings.LOOKUP_KEY
ROLES = ("main", "portal")
#: Mappings whose keys are the admin's to choose (no unknown-key check).
_FREE_MAPPINGS = ("private_domain_properties", "command_env")
NO_PILLAR = (
    f"This minion has no {PILLAR_KEY} pillar: give it one with at least {PILLAR_KEY}:role "
    "(main or portal); pillar.example shows every key"
)


def _unknown_keys(given, defaults, path, problems):
    """Add a problem for each key the formula does not know (likely a typo) or of the wrong shape."""
    for key, value in given.items():
        key_path = f"{path}:{key}"
        if key not in defaults:
            expected = "one of " + ", ".join(sorted(defaults))
            problems.append(f"{key_path}: unknown key (a typo?); expected {expected}")
        elif isinstance(defaults[key], dict) or key in _FREE_MAPPINGS:
            if not isinstance(value, dict):
                shown = type_of(value) if key == "command_env" else repr(value)
                problems.append(f"{key_path}: got {shown}; expected a mapping")
            elif key not in _FREE_MAPPINGS:
                _unknown_keys(value, defaults[key], key_path, problems)


def _merged(defaults, given):
    merged = dict(defaults)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(defaults.get(key), dict) and key not in _FREE_MAPPINGS:
            merged[key] = _merged(defaults[key], value)
        else:
            merged[key] = value
    return merged


def _lookup_defaults(defaults):
    """The keys ``ciphermail_split:lookup`` may hold: the split-mode constants and the host settings."""
    return {**defaults["lookup"], **{key: None for key in settings.HOST_DEFAULTS}}


def _check(problems, key, check, *args):
    """
    Run ``check(*args)``; a refusal becomes a problem naming ``key``, one
    per line of its message. Returns the checked value or None.
    """
    try:
        return check(*args)
    except SaltInvocationError as exc:
        for message in str(exc).splitlines():
            problems.append(message if message.startswith(f"{key}:") else f"{key}: {message}")
        return None


def _bool(value):
    if not isinstance(value, bool):
        raise SaltInvocationError(f"got {value!r}; expected true or false")
    return value


def _check_constants(lookup, problems):
    _check(problems, f"{LOOKUP_PATH}:private_domain", gateway_values.normalise_domain, lookup["private_domain"])
    for name, value in lookup["private_domain_properties"].items():
        key = f"{LOOKUP_PATH}:private_domain_properties:{name}"
        _check(problems, key, gateway_values.normalise_property_name, name)
        _check(problems, key, gateway_values.normalise_value, value)
    key = f"{LOOKUP_PATH}:override_key"
    _check(problems, key, gateway_values.normalise_override, {lookup["override_key"]: True})
    key = f"{LOOKUP_PATH}:mynetworks_parameter"
    _check(problems, key, postfix_values.parameter_name, lookup["mynetworks_parameter"])
    for messenger, trigger in lookup["triggers"].items():
        key = f"{LOOKUP_PATH}:triggers:{messenger}"
        for prop in ("header_property", "enabled_property"):
            _check(problems, f"{key}:{prop}", gateway_values.normalise_property_name, trigger[prop])
        _check(problems, f"{key}:header", gateway_values.header_line, trigger["header"])


def _check_main(config, cleaning, problems):
    key = f"{PILLAR_KEY}:portal_server"
    if config["portal_server"] is None:
        if not cleaning:
            problems.append(
                str(invalid(key, None, "the FQDN, IPv4 or IPv6 address of the portal gateway, or a list of its nodes"))
            )
        return
    if _check(problems, key, postfix_values.portal_nodes, config["portal_server"], key):
        _check_port(config, problems)


def _check_port(config, problems):
    if config["portal_port"] is not None:
        _check(problems, f"{PILLAR_KEY}:portal_port", postfix_values.port_number, config["portal_port"])


def _check_portal(config, cleaning, problems):
    key = f"{PILLAR_KEY}:main_gateway_addresses"
    addresses = config["main_gateway_addresses"]
    if not isinstance(addresses, list) or (not addresses and not cleaning):
        problems.append(str(invalid(key, addresses, "a list with the main gateway's IP address(es)")))
    else:
        allow_networks = config["allow_networks"] is True
        for index, address in enumerate(addresses):
            _check(problems, f"{key}[{index}]", postfix_values.mynetworks_entry, address, allow_networks)
    if config["portal_tls"]["level"] is not None:
        _check_port(config, problems)


def portal_nodes_listed(config, sls=None):
    """
    True when ``config`` (a checked pillar) has the main role route to
    several portal nodes, which needs Postfix 3.5 or later: see
    :func:`postfix_problems`. Not when ``sls`` cleans.
    """
    servers = config.get("portal_server")
    return (
        config.get("role") == "main"
        and not sls_role(sls)[1]
        and isinstance(servers, (list, tuple))
        and len(servers) > 1
    )


def postfix_problems(config, version=None, error=None):
    """
    The problem of a list of portal nodes on this gateway's Postfix:
    ``version`` is its ``mail_version``; ``error``, why it could not be read.
    """
    key = f"{PILLAR_KEY}:portal_server"
    if error is not None:
        return [
            f"{key}: a list of portal nodes needs Postfix 3.5 or later, "
            f"and the Postfix version cannot be read: {error}"
        ]
    refusal = postfix_values.nexthop_lists_refusal(version)
    return [str(invalid(key, config["portal_server"], f"one host: {refusal}"))] if refusal else []


def sls_role(sls):
    """The role an SLS configures (``ciphermail_split.main.clean`` -> main), and whether it cleans."""
    parts = (sls or "").split(".")
    role = parts[1] if len(parts) > 1 and parts[1] in ROLES else None
    return role, parts[-1] == "clean"


def problems(pillar, defaults, sls=None, config_lookup=None):
    """
    Check the ``ciphermail_split`` pillar. Returns ``(mapdata, problems)``:
    the pillar merged over ``defaults`` (the ``values`` of
    ``parameters/defaults.yaml``) with the values of ``command_env`` masked,
    and a list of messages, each naming a key, the value and what is
    expected (``[]``: the pillar is fine). ``mapdata`` is None when the
    pillar cannot be merged at all.

    ``sls``: the SLS being rendered; a role SLS also checks that the pillar
    role matches it, a ``clean`` SLS needs only the role.
    ``config_lookup``: ``ciphermail_split:lookup`` of the minion config; the
    host settings are checked as they take effect (pillar over it).
    """
    if pillar is None:
        return None, [NO_PILLAR]
    if not isinstance(pillar, dict):
        return None, [f"{PILLAR_KEY}: got {type_of(pillar)}; expected a mapping (see pillar.example)"]
    found = []
    _unknown_keys(pillar, {**defaults, "lookup": _lookup_defaults(defaults)}, PILLAR_KEY, found)
    if found:
        return None, found
    config = _merged(defaults, pillar)
    role, cleaning = sls_role(sls)
    if config["role"] not in ROLES:
        found.append(str(invalid(f"{PILLAR_KEY}:role", config["role"], "main or portal")))
    elif role and role != config["role"]:
        found.append(str(invalid(f"{PILLAR_KEY}:role", config["role"], f"{role}, since {sls} configures a {role} gateway")))
    lookup = {**(config_lookup or {}), **pillar.get("lookup", {})}
    for key in [key for key in settings.HOST_DEFAULTS if key in lookup]:
        _check(found, f"{LOOKUP_PATH}:{key}", settings.checked_setting, key, lookup[key])
    _check_constants(config["lookup"], found)
    for messenger, enabled in config["messengers"].items():
        _check(found, f"{PILLAR_KEY}:messengers:{messenger}", _bool, enabled)
    _check(found, f"{PILLAR_KEY}:allow_networks", _bool, config["allow_networks"])
    _check(found, f"{PILLAR_KEY}:clean_force", _bool, config["clean_force"])
    key = f"{PILLAR_KEY}:portal_tls"
    _check(found, key, postfix_tls.portal_tls, config["portal_tls"], key)
    if config["role"] == "main":
        _check_main(config, cleaning, found)
    elif config["role"] == "portal":
        _check_portal(config, cleaning, found)
    if "command_env" in config["lookup"]:
        # The SLS files never need the credentials; keep them out of mapdata.
        config["lookup"] = {**config["lookup"], "command_env": settings.masked(config["lookup"])["command_env"]}
    return config, found


def checked(pillar, defaults, sls=None, opts=None, postfix_version=None):
    """
    :func:`problems`, as ``validate_pillar`` returns them: ``{"problems":
    [...], "mapdata": ...}``, after the problems of the minion config's
    ``ciphermail_split:lookup`` (``opts``; its host settings count under
    the pillar's). A main gateway with several portal nodes
    also needs Postfix 3.5 or later: ``postfix_version()`` gives the
    gateway's ``mail_version`` (or raises ``CommandExecutionError`` or
    ``SaltInvocationError``), asked only then.
    """
    config_lookup, config_found = settings.minion_config_lookup(opts or {})
    config, found = problems(pillar, defaults, sls, config_lookup)
    found = config_found + found
    if not found and portal_nodes_listed(config, sls):
        try:
            found = postfix_problems(config, postfix_version())
        except (CommandExecutionError, SaltInvocationError) as exc:
            found = postfix_problems(config, error=str(exc))
    return {"problems": found, "mapdata": config}


def validate(pillar, defaults, sls=None, config_lookup=None):
    """``mapdata`` of :func:`problems`, or raise ``SaltInvocationError`` with every problem, one per line."""
    config, found = problems(pillar, defaults, sls, config_lookup)
    if found:
        raise SaltInvocationError("\n".join(found))
    return config


def constants(pillar, defaults):
    """
    The split-mode constants in effect: ``lookup`` of ``defaults`` with
    ``ciphermail_split:lookup`` of ``pillar`` merged over it, key by key
    (the private domain and its properties, the override key, the
    ``mynetworks`` parameter, the header triggers). Only their shape is
    checked here; :func:`problems` checks the values.
    """
    pillar = pillar or {}
    if not isinstance(pillar, dict):
        raise SaltInvocationError(f"{PILLAR_KEY}: got {type_of(pillar)}; expected a mapping")
    given = pillar.get("lookup") or {}
    if not isinstance(given, dict):
        raise SaltInvocationError(f"{LOOKUP_PATH}: got {type_of(given)}; expected a mapping")
    found = []
    _unknown_keys(given, _lookup_defaults(defaults), LOOKUP_PATH, found)
    if found:
        raise SaltInvocationError("\n".join(found))
    merged = _merged(defaults["lookup"], given)
    return {key: merged[key] for key in defaults["lookup"]}
