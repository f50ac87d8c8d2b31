"""
The ciphermail_split formula's configuration: where the gateway tools live
and what pillar may say.

Host settings (commands, paths, timeouts, the environment for gateway
commands) have their defaults here, in one table, and can be overridden per
key in pillar or minion config under ``ciphermail_split:lookup``. Every
execution module of the formula reads them through :func:`settings`, so an
admin's ``salt <gw> ciphermail.domain_list`` uses the same tools as a state
run.
"""

import logging
import os
import re
import shlex

import salt.utils.path
from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "ciphermail_split"

LOOKUP_KEY = "ciphermail_split:lookup"

#: Host settings and their defaults (a CipherMail gateway on Debian/RHEL).
HOST_DEFAULTS = {
    "cli": "ciphermail-cli",
    "cli_timeout": 120,
    "playbook_cmd": "cm-run-playbook",
    "playbook_timeout": 3600,
    "ansible_vars_dir": "/etc/ciphermail/ansible/group_vars/all",
    "override_file": "ciphermail-split-mode.yml",
    "command_env": {},
    "postfix_config_dir": "/etc/postfix",
    "postconf": "postconf",
    "postmap": "postmap",
    "postfix": "postfix",
    "postfix_timeout": 60,
    "state_dir": "/var/lib/ciphermail_split",
}

_COMMAND_KEYS = ("cli", "playbook_cmd", "postconf", "postmap", "postfix")
_PATH_KEYS = ("ansible_vars_dir", "postfix_config_dir", "state_dir")
_TIMEOUT_KEYS = ("cli_timeout", "playbook_timeout", "postfix_timeout")
_MAX_TIMEOUT = 86400
#: What is shown instead of a value of ``command_env``.
MASK = "********"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LINE_BREAK = re.compile(r"[\r\n\x00]")


def __virtual__():
    return __virtualname__


def _invalid(key, value, expected):
    return SaltInvocationError(f"{LOOKUP_KEY}:{key}: got {value!r}; expected {expected}")


def _command(key, value):
    if isinstance(value, str):
        if _LINE_BREAK.search(value):
            raise _invalid(key, value, "a command without line breaks")
        try:
            value = shlex.split(value)
        except ValueError as exc:
            raise _invalid(key, value, f"a command line that splits into words ({exc})") from exc
    if (
        not isinstance(value, (list, tuple))
        or not value
        or not all(isinstance(word, str) and word and not _LINE_BREAK.search(word) for word in value)
    ):
        raise _invalid(key, value, "a command: a string or a non-empty list of words")
    return list(value)


def _path(key, value):
    if not isinstance(value, str) or not os.path.isabs(value) or _LINE_BREAK.search(value):
        raise _invalid(key, value, "an absolute path")
    return os.path.normpath(value)


def _timeout(key, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= _MAX_TIMEOUT:
        raise _invalid(key, value, f"a number of seconds, more than 0 and at most {_MAX_TIMEOUT}")
    return value


def _override_file(key, value):
    if (
        not isinstance(value, str)
        or "/" in value
        or value.startswith(".")
        or not value.endswith(".yml")
        or _LINE_BREAK.search(value)
    ):
        raise _invalid(key, value, "a file name ending in .yml (Ansible reads every *.yml there)")
    return value


def _command_env(key, value):
    if not isinstance(value, dict) or not all(
        isinstance(name, str) and _ENV_NAME.match(name) and isinstance(val, str) for name, val in value.items()
    ):
        # The values may be credentials: never echo them.
        shown = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise _invalid(key, shown, "a mapping of environment variable names to string values")
    return dict(value)


def _check(key, value):
    if key in _COMMAND_KEYS:
        return _command(key, value)
    if key in _PATH_KEYS:
        return _path(key, value)
    if key in _TIMEOUT_KEYS:
        return _timeout(key, value)
    if key == "override_file":
        return _override_file(key, value)
    return _command_env(key, value)


def host_settings(lookup=None):
    """
    Return the effective host settings, validated, with commands as argument
    lists. ``lookup`` defaults to ``ciphermail_split:lookup`` from minion
    config or pillar; keys of it that are not host settings are ignored here
    (the formula's SLS data uses them).

    Secrets in ``command_env`` are included: use :func:`settings` to show.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_split.host_settings
    """
    if lookup is None:
        lookup = __salt__["config.get"](LOOKUP_KEY, {}) or {}
    if not isinstance(lookup, dict):
        raise SaltInvocationError(f"{LOOKUP_KEY}: got {lookup!r}; expected a mapping")
    return {key: _check(key, lookup.get(key, default)) for key, default in HOST_DEFAULTS.items()}


def tool_problem(tool):
    """
    Say why the configured command ``tool`` (``cli``, ``playbook_cmd``,
    ``postconf``, ...) cannot run on this minion, or return None when it
    can. The formula's modules do not load while their tool has a problem.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_split.tool_problem cli
    """
    try:
        command = host_settings()[tool]
    except SaltInvocationError as exc:
        return str(exc)
    if not salt.utils.path.which(command[0]):
        return f"{command[0]} not found (set {LOOKUP_KEY}:{tool})"
    return None


def _masked(env):
    return {name: MASK for name in env}


def settings(lookup=None):
    """
    Return the effective host settings (see :func:`host_settings`) with the
    values of ``command_env`` masked, fit to print.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_split.settings
    """
    shown = host_settings(lookup)
    shown["command_env"] = _masked(shown["command_env"])
    return shown


# -- pillar --------------------------------------------------------------------

PILLAR_KEY = "ciphermail_split"
ROLES = ("main", "portal")
DEFAULTS_URL = "salt://ciphermail_split/parameters/defaults.yaml"
#: Mappings whose keys are the admin's to choose (no unknown-key check).
_FREE_MAPPINGS = ("private_domain_properties", "command_env")
_HEADER = re.compile(r"^[!-9;-~]+:[ \t]*\S")


def _bad(key, value, expected):
    return SaltInvocationError(f"{key}: got {value!r}; expected {expected}")


def _relabel(key, call, *args):
    """Run a check of another module, naming the pillar key in its error."""
    try:
        return call(*args)
    except SaltInvocationError as exc:
        raise SaltInvocationError(f"{key}: {exc}") from exc


def _refuse_unknown_keys(given, defaults, path):
    """Fail on a key the formula does not know (likely a typo)."""
    for key, value in given.items():
        key_path = f"{path}:{key}"
        if key not in defaults:
            expected = "one of " + ", ".join(sorted(defaults))
            raise SaltInvocationError(f"{key_path}: unknown key (a typo?); expected {expected}")
        if isinstance(defaults[key], dict) or key in _FREE_MAPPINGS:
            if not isinstance(value, dict):
                raise _bad(key_path, value, "a mapping")
            if key not in _FREE_MAPPINGS:
                _refuse_unknown_keys(value, defaults[key], key_path)


def _merged(defaults, given):
    merged = dict(defaults)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(defaults.get(key), dict) and key not in _FREE_MAPPINGS:
            merged[key] = _merged(defaults[key], value)
        else:
            merged[key] = value
    return merged


def _formula_defaults():
    text = __salt__["cp.get_file_str"](DEFAULTS_URL)
    if not text:
        raise SaltInvocationError(f"cannot read {DEFAULTS_URL}: is the formula in file_roots?")
    return __salt__["slsutil.deserialize"]("yaml", text)["values"]


def constants(pillar=None):
    """
    Return the split-mode constants in effect: ``lookup`` of
    ``parameters/defaults.yaml`` with ``ciphermail_split:lookup`` of
    ``pillar`` (default: this minion's pillar) merged over it, key by key.
    These are the private domain and its properties, the override key, the
    ``mynetworks`` parameter and the header triggers. Only their shape is
    checked here (mappings, no unknown keys); :func:`validate_pillar`
    checks the values.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_split.constants
    """
    if pillar is None:
        pillar = __pillar__.get(PILLAR_KEY, {})
    if not isinstance(pillar, dict):
        raise _bad(PILLAR_KEY, pillar, "a mapping")
    defaults = _formula_defaults()["lookup"]
    given = pillar.get("lookup") or {}
    path = f"{PILLAR_KEY}:lookup"
    if not isinstance(given, dict):
        raise _bad(path, given, "a mapping")
    _refuse_unknown_keys(given, {**defaults, **{key: None for key in HOST_DEFAULTS}}, path)
    merged = _merged(defaults, given)
    return {key: merged[key] for key in defaults}


def _sls_role(sls):
    """The role an SLS belongs to (``ciphermail_split.main.clean`` -> main) and whether it cleans."""
    parts = (sls or "").split(".")
    role = parts[1] if len(parts) > 1 and parts[1] in ROLES else None
    return role, parts[-1] == "clean"


def _check_bool(key, value):
    if not isinstance(value, bool):
        raise _bad(key, value, "true or false")


def _check_lookup(lookup):
    path = f"{PILLAR_KEY}:lookup"
    _relabel(f"{path}:private_domain", __salt__["ciphermail.normalise_domain"], lookup["private_domain"])
    for name, value in lookup["private_domain_properties"].items():
        key = f"{path}:private_domain_properties:{name}"
        _relabel(key, __salt__["ciphermail.normalise_property_name"], name)
        _relabel(key, __salt__["ciphermail.normalise_value"], value)
    _relabel(f"{path}:override_key", __salt__["ciphermail.normalise_override"], {lookup["override_key"]: True})
    _relabel(f"{path}:mynetworks_parameter", __salt__["ciphermail_mta.parameter_name"], lookup["mynetworks_parameter"])
    for messenger, trigger in lookup["triggers"].items():
        key = f"{path}:triggers:{messenger}"
        for prop in ("header_property", "enabled_property"):
            _relabel(f"{key}:{prop}", __salt__["ciphermail.normalise_property_name"], trigger[prop])
        header = _relabel(f"{key}:header", __salt__["ciphermail.normalise_value"], trigger["header"])
        if not isinstance(header, str) or not _HEADER.match(header):
            raise _bad(f"{key}:header", trigger["header"], "a header line such as 'X-Name: value'")


def _check_main(config, cleaning):
    if config["portal_server"] is None:
        if cleaning:
            return
        raise _bad(f"{PILLAR_KEY}:portal_server", None, "the FQDN, IPv4 or IPv6 address of the portal gateway")
    nexthop = __salt__["ciphermail_mta.nexthop"]
    _relabel(f"{PILLAR_KEY}:portal_server", nexthop, config["portal_server"])
    if config["portal_port"] is not None:
        _relabel(f"{PILLAR_KEY}:portal_port", nexthop, config["portal_server"], config["portal_port"])


def _check_portal(config, cleaning):
    key = f"{PILLAR_KEY}:main_gateway_addresses"
    addresses = config["main_gateway_addresses"]
    if not isinstance(addresses, list) or (not addresses and not cleaning):
        raise _bad(key, addresses, "a list with the main gateway's IP address(es)")
    for index, address in enumerate(addresses):
        _relabel(f"{key}[{index}]", __salt__["ciphermail_mta.mynetworks_entry"], address, config["allow_networks"])


#: The checks of the other modules that validating a pillar uses.
_CHECKS = (
    "ciphermail.normalise_domain",
    "ciphermail.normalise_property_name",
    "ciphermail.normalise_value",
    "ciphermail.normalise_override",
    "ciphermail_mta.nexthop",
    "ciphermail_mta.mynetworks_entry",
    "ciphermail_mta.parameter_name",
)


#: The command each execution module of the formula needs in order to load.
MODULE_TOOLS = {"ciphermail": "cli", "ciphermail_mta": "postconf"}


def unavailable(function):
    """
    Say why the formula's execution function ``function`` cannot be called
    on this minion (its module did not load: a missing tool, or the modules
    are not synced), or return None when it can.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_split.unavailable ciphermail.domain_list
    """
    if function in __salt__:
        return None
    tool = MODULE_TOOLS.get(function.split(".")[0])
    problem = tool_problem(tool) if tool else None
    return f"{function} is not available: " + (
        problem or "run saltutil.sync_all so the formula's _modules and _utils are on the minion"
    )


def _require_checks():
    """Fail, saying why, when a module of the formula did not load."""
    for function in _CHECKS:
        reason = unavailable(function)
        if reason:
            raise CommandExecutionError(reason)


def validate_pillar(pillar=None, defaults=None, sls=None):
    """
    Validate pillar ``ciphermail_split`` and return it merged over the
    formula's defaults (``parameters/defaults.yaml``): the ``mapdata`` the
    SLS files use. The first bad key fails with a message naming the key,
    the value and what is expected; the formula's ``map.jinja`` calls this,
    so a bad pillar fails the run before any state changes anything.

    pillar
        The ``ciphermail_split`` pillar (default: this minion's).
    defaults
        The ``values`` of ``parameters/defaults.yaml`` (default: read from
        ``salt://ciphermail_split/parameters/defaults.yaml``).
    sls
        The SLS being rendered: a role SLS also checks the pillar role
        matches it, a ``clean`` SLS needs only the role.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_split.validate_pillar
    """
    if pillar is None:
        pillar = __pillar__.get(PILLAR_KEY, {})
    if defaults is None:
        defaults = _formula_defaults()
    if not isinstance(pillar, dict):
        raise _bad(PILLAR_KEY, pillar, "a mapping")
    host_keys = {key: None for key in HOST_DEFAULTS}
    _refuse_unknown_keys(pillar, {**defaults, "lookup": {**defaults["lookup"], **host_keys}}, PILLAR_KEY)
    config = _merged(defaults, pillar)
    sls_role, cleaning = _sls_role(sls)
    if config["role"] not in ROLES:
        raise _bad(f"{PILLAR_KEY}:role", config["role"], "main or portal")
    if sls_role and sls_role != config["role"]:
        raise _bad(f"{PILLAR_KEY}:role", config["role"], f"{sls_role}, since {sls} configures a {sls_role} gateway")
    host_settings(config["lookup"])
    _require_checks()
    _check_lookup(config["lookup"])
    for messenger, enabled in config["messengers"].items():
        _check_bool(f"{PILLAR_KEY}:messengers:{messenger}", enabled)
    _check_bool(f"{PILLAR_KEY}:allow_networks", config["allow_networks"])
    if config["role"] == "main":
        _check_main(config, cleaning)
    if config["role"] == "portal":
        _check_portal(config, cleaning)
    # The SLS files never need the credentials; keep them out of mapdata.
    if "command_env" in config["lookup"]:
        config["lookup"] = {**config["lookup"], "command_env": _masked(config["lookup"]["command_env"])}
    return config
