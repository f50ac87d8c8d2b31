"""
Execution module for a CipherMail gateway: domains and properties through
``ciphermail-cli``, the Ansible override file and ``cm-run-playbook``.

The commands, paths and timeouts come from ``ciphermail_split.host_settings``
(pillar or minion config ``ciphermail_split:lookup``). ``ciphermail-cli`` is
always run with an argument list, never through a shell; credentials it may
need go in ``command_env`` (its environment), never on its command line.
"""

import logging
import os
import re
import signal
import subprocess
import time

import ciphermail_split_files as files
import ciphermail_split_reads as reads
import yaml
from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "ciphermail"

#: The ``ciphermail-cli`` grammar, in one place. ``documented`` rows are on
#: the vendor's portal split-mode page; ``inferred`` rows follow the same
#: grammar and are needed to read a gateway back (idempotency, test=True) and
#: to take split mode back (clean).
CLI_COMMANDS = {
    "domain_add": (("domain", "add", "--domain", "{domain}"), "documented"),
    "domain_property_set": (
        ("property", "domain", "set", "--domain", "{domain}", "--name", "{name}", "--value", "{value}"),
        "documented",
    ),
    "global_property_set": (("property", "global", "set", "--name", "{name}", "--value", "{value}"), "documented"),
    "domain_list": (("domain", "list"), "inferred"),
    "domain_property_get": (("property", "domain", "get", "--domain", "{domain}", "--name", "{name}"), "inferred"),
    "global_property_get": (("property", "global", "get", "--name", "{name}"), "inferred"),
    "domain_delete": (("domain", "delete", "--domain", "{domain}"), "inferred"),
}
#: The commands above that only read: within a state each runs once until a write.
CLI_READS = frozenset({"domain_list", "domain_property_get", "global_property_get"})

#: Lines of playbook output shown when it fails.
PLAYBOOK_TAIL_LINES = 20
PLAYBOOK_LOG = "playbook.log"
#: Mode of the override file (Ansible runs as root; the file holds no secret).
OVERRIDE_MODE = 0o644
#: What Ansible loads from a group_vars directory ("" = no extension).
ANSIBLE_VARS_EXTENSIONS = ("", ".yml", ".yaml", ".json")

_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PROPERTY_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_ANSIBLE_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BOOLEANS = {"true": "true", "false": "false"}
OVERRIDE_HEADER = (
    "---\n"
    "# Managed by Salt (ciphermail_split formula): portal split-mode.\n"
    "# Other keys in this file are kept; keys Salt manages are edited in place.\n"
)


def __virtual__():
    problem = __salt__["ciphermail_split.tool_problem"]("cli")
    return (False, f"ciphermail: {problem}") if problem else __virtualname__


# -- values --------------------------------------------------------------------


def normalise_value(value):
    """
    Return a property or override value as the formula compares it: booleans
    (``True``, ``"true"``, ``"TRUE"``) become ``"true"``/``"false"``, numbers
    their decimal text, strings stay as they are. ``None`` stays ``None``
    (not set). Refuses line breaks and other control characters.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.normalise_value TRUE
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        raise SaltInvocationError(f"value: got {value!r}; expected a string, number or boolean")
    if _CONTROL_CHARS.search(value):
        raise SaltInvocationError(f"value: got {value!r}; expected no line breaks or control characters")
    return _BOOLEANS.get(value.strip().lower(), value)


def normalise_domain(domain):
    """
    Return ``domain`` as the gateway stores it (lowercase), refusing anything
    that is not a DNS domain name.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.normalise_domain Relay-To-Webmail.Private
    """
    name = domain.lower() if isinstance(domain, str) else domain
    if (
        not isinstance(name, str)
        or len(name) > 253
        or not all(_DOMAIN_LABEL.match(label) for label in name.split("."))
    ):
        raise SaltInvocationError(f"domain: got {domain!r}; expected a DNS domain name such as relay-to-webmail.private")
    return name


def normalise_property_name(name):
    """
    Return a property name after checking it is one (lowercase words joined
    by ``-``).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.normalise_property_name revert-rewrite-recipient
    """
    if not isinstance(name, str) or not _PROPERTY_NAME.match(name):
        raise SaltInvocationError(f"property name: got {name!r}; expected lowercase words joined by '-'")
    return name


# -- ciphermail-cli ---------------------------------------------------------


def cli_commands():
    """
    Return the ``ciphermail-cli`` grammar this module uses: every command as
    its argument words with ``{placeholders}``, and whether it is documented
    by the vendor or inferred.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.cli_commands
    """
    return {action: {"argv": list(words), "source": source} for action, (words, source) in CLI_COMMANDS.items()}


def _cli_words(action, params):
    words, _ = CLI_COMMANDS[action]
    return [params[word[1:-1]] if word.startswith("{") else word for word in words]


def _run_cli(action, **params):
    """
    Run the ``ciphermail-cli`` command ``action`` and return its output. Inside
    a state a read (:data:`CLI_READS`) runs once; any other command forgets
    the reads (``ciphermail_split_reads``).
    """
    conf = __salt__["ciphermail_split.host_settings"]()
    argv = conf["cli"] + _cli_words(action, params)

    def execute():
        result = __salt__["cmd.run_all"](
            argv,
            python_shell=False,
            env=conf["command_env"],
            timeout=conf["cli_timeout"],
            ignore_retcode=True,
            output_loglevel="quiet",
            rstrip=False,
        )
        if result["retcode"] != 0:
            message = (result.get("stderr") or result.get("stdout") or "").strip() or "no output"
            command = " ".join(CLI_COMMANDS[action][0]).split(" --", 1)[0]
            raise CommandExecutionError(f"ciphermail-cli {command} failed (exit {result['retcode']}): {message}")
        return result["stdout"]

    if action in CLI_READS:
        return reads.read(__context__, ("ciphermail-cli", *argv), execute)
    reads.forget(__context__)
    return execute()


def domain_list():
    """
    Return the domains configured on the gateway.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.domain_list
    """
    return [line.strip().lower() for line in _run_cli("domain_list").splitlines() if line.strip()]


def domain_exists(domain):
    """
    Return True when ``domain`` is configured on the gateway.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.domain_exists relay-to-webmail.private
    """
    return normalise_domain(domain) in domain_list()


def domain_add(domain):
    """
    Add ``domain`` to the gateway (``ciphermail-cli domain add``).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.domain_add relay-to-webmail.private
    """
    _run_cli("domain_add", domain=normalise_domain(domain))
    return True


def domain_delete(domain):
    """
    Delete ``domain`` and its properties from the gateway (inferred command).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.domain_delete relay-to-webmail.private
    """
    _run_cli("domain_delete", domain=normalise_domain(domain))
    return True


def domain_property_get(domain, name):
    """
    Return the value of property ``name`` of ``domain`` (inferred command).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.domain_property_get relay-to-webmail.private revert-rewrite-recipient
    """
    return _strip_newline(
        _run_cli("domain_property_get", domain=normalise_domain(domain), name=normalise_property_name(name))
    )


def domain_property_set(domain, name, value):
    """
    Set property ``name`` of ``domain`` to ``value`` (booleans as ``true``/``false``).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.domain_property_set relay-to-webmail.private revert-rewrite-recipient true
    """
    _run_cli(
        "domain_property_set",
        domain=normalise_domain(domain),
        name=normalise_property_name(name),
        value=normalise_value(value),
    )
    return True


def global_property_get(name):
    """
    Return the value of global property ``name`` (inferred command).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.global_property_get trigger-webmail-header-enabled
    """
    return _strip_newline(_run_cli("global_property_get", name=normalise_property_name(name)))


def global_property_set(name, value):
    """
    Set global property ``name`` to ``value`` (booleans as ``true``/``false``).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.global_property_set trigger-webmail-header "X-Keep-CipherMail-To-Webmail: True"
    """
    _run_cli("global_property_set", name=normalise_property_name(name), value=normalise_value(value))
    return True


def _strip_newline(output):
    return output[:-1] if output.endswith("\n") else output


# -- the Ansible override file ----------------------------------------------------


def override_path():
    """
    Return the path of the formula's Ansible override file
    (``ansible_vars_dir``/``override_file`` of the host settings).

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail.override_path
    """
    conf = __salt__["ciphermail_split.host_settings"]()
    return os.path.join(conf["ansible_vars_dir"], conf["override_file"])


def _parse_vars(text, path):
    try:
        data = yaml.safe_load(text) if text else None
    except yaml.YAMLError as exc:
        raise CommandExecutionError(f"{path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CommandExecutionError(f"{path} must hold a YAML mapping of Ansible variables")
    return data


def override_read():
    """
    Return the variables of the formula's override file as parsed YAML
    (``{}`` when the file does not exist).

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail.override_read
    """
    path = override_path()
    return _parse_vars(files.read_text(path), path)


def _ansible_vars_files(vars_dir, prefix=""):
    """The files Ansible reads from a group_vars directory, in its order."""
    try:
        names = sorted(os.listdir(vars_dir))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        path = os.path.join(vars_dir, name)
        extension = os.path.splitext(name)[1]
        if name.startswith(".") or name.endswith("~") or extension not in ANSIBLE_VARS_EXTENSIONS:
            continue
        if os.path.isdir(path):
            if not extension:
                found.extend(_ansible_vars_files(path, f"{prefix}{name}/"))
        else:
            found.append((f"{prefix}{name}", path))
    return found


def ansible_vars():
    """
    Return what Ansible reads from the vars directory: every ``.yml``,
    ``.yaml``, ``.json`` or extension-less file (subdirectories too, hidden
    files not) in name order, a later file overriding an earlier one.
    Returns ``{"values": {...}, "origin": {key: file name}}``.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail.ansible_vars
    """
    vars_dir = __salt__["ciphermail_split.host_settings"]()["ansible_vars_dir"]
    values, origin = {}, {}
    for name, path in _ansible_vars_files(vars_dir):
        for key, value in _parse_vars(files.read_text(path), path).items():
            values[key] = value
            origin[key] = name
    return {"values": values, "origin": origin}


def override_shadowed(values):
    """
    Return ``{key: file}`` for the keys of ``values`` that a file Ansible
    reads *after* the override file sets to another value (that file would
    win).

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail.override_shadowed '{ciphermail_backend__remote_portal_enabled: true}'
    """
    conf = __salt__["ciphermail_split.host_settings"]()
    shadowed = {}
    later = False
    for name, path in _ansible_vars_files(conf["ansible_vars_dir"]):
        if name == conf["override_file"]:
            later = True
            continue
        if not later and name > conf["override_file"]:
            later = True
        if later:
            for key, value in _parse_vars(files.read_text(path), path).items():
                if key in values and normalise_value(value) != normalise_value(values[key]):
                    shadowed[key] = name
    return shadowed


def normalise_override(values):
    """
    Return override ``values`` as they are written to the file: keys checked
    to be Ansible variable names, scalar values, booleans in any spelling as
    YAML booleans.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail.normalise_override '{ciphermail_backend__remote_portal_enabled: "TRUE"}'
    """
    if not isinstance(values, dict):
        raise SaltInvocationError(f"values: got {values!r}; expected a mapping of Ansible variables")
    for key, value in values.items():
        if not isinstance(key, str) or not _ANSIBLE_VAR.match(key):
            raise SaltInvocationError(f"override key: got {key!r}; expected an Ansible variable name")
        if isinstance(value, (dict, list)) or value is None:
            raise SaltInvocationError(f"override value of {key}: got {value!r}; expected a scalar")
    return {key: _yaml_value(value) for key, value in values.items()}


def _yaml_value(value):
    """Booleans in any spelling are written as YAML booleans, as Ansible expects."""
    normalised = normalise_value(value)
    return {"true": True, "false": False}.get(normalised, value)


def _render_key(key, value):
    return yaml.safe_dump({key: value}, default_flow_style=False)


def _top_level_entry(lines, key):
    """(first, end) line indexes of ``key``'s top-level block entry, or None."""
    pattern = re.compile(rf"^{re.escape(key)}\s*:(\s|$)")
    for index, line in enumerate(lines):
        if pattern.match(line):
            end = index + 1
            while end < len(lines) and _continues_entry(lines[end]):
                end += 1
            while end > index + 1 and not lines[end - 1].strip():
                end -= 1
            return index, end
    return None


def _continues_entry(line):
    # Indented lines, blank lines and a block sequence written at column 0.
    return line[:1] in (" ", "\t") or not line.strip() or line.startswith("- ") or line.rstrip() == "-"


def _edit_override_text(text, set_values, remove_keys):
    """Edit top-level keys in place; every other line (comments too) is kept."""
    lines = (text or OVERRIDE_HEADER).splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    for key in remove_keys:
        found = _top_level_entry(lines, key)
        if found:
            del lines[found[0] : found[1]]
    for key, value in set_values.items():
        rendered = _render_key(key, value).splitlines(keepends=True)
        found = _top_level_entry(lines, key)
        if found:
            lines[found[0] : found[1]] = rendered
        else:
            lines.extend(rendered)
    return "".join(lines)


def _write_override(path, text, expected):
    # The edit is textual (comments survive); prove it parses to what we mean.
    if _parse_vars(text, path) != expected:
        raise CommandExecutionError(
            f"{path}: cannot edit this file in place (it is not a plain block mapping); "
            "move its content to another *.yml file of the directory"
        )
    # Pending first: a run that dies after the write must still lead to a playbook run.
    __salt__["ciphermail_ledger.set_playbook_pending"](True)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError as exc:
        raise CommandExecutionError(f"Cannot create {os.path.dirname(path)}: {exc}") from exc
    files.write_text(path, text, mode=OVERRIDE_MODE)


def override_set(values):
    """
    Set top-level keys of the override file (created when missing, mode
    0644, written atomically). Other keys and comments are kept. When the
    file changes, a ``cm-run-playbook`` run is remembered as pending.
    Returns ``{"changed": bool, "created": bool}``.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail.override_set '{ciphermail_backend__remote_portal_enabled: true}'
    """
    values = normalise_override(values)
    path = override_path()
    text = files.read_text(path)
    current = _parse_vars(text, path)
    wanted = {**current, **values}
    if text is not None and _same_vars(current, wanted):
        return {"changed": False, "created": False}
    _write_override(path, _edit_override_text(text, values, ()), wanted)
    return {"changed": True, "created": text is None}


def override_remove(keys):
    """
    Remove top-level ``keys`` from the override file, keeping everything
    else. A change remembers a pending ``cm-run-playbook`` run. Returns
    ``{"changed": bool}``.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail.override_remove '[ciphermail_backend__remote_portal_enabled]'
    """
    path = override_path()
    text = files.read_text(path)
    current = _parse_vars(text, path)
    present = [key for key in keys if key in current]
    if not present:
        return {"changed": False}
    wanted = {key: value for key, value in current.items() if key not in present}
    _write_override(path, _edit_override_text(text, {}, present), wanted)
    return {"changed": True}


def override_delete_if_empty():
    """
    Delete the override file when it holds no variable any more (only
    comments, or nothing). Returns True when it was deleted.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail.override_delete_if_empty
    """
    path = override_path()
    text = files.read_text(path)
    if text is None or _parse_vars(text, path):
        return False
    __salt__["ciphermail_ledger.set_playbook_pending"](True)
    try:
        os.remove(path)
    except OSError as exc:
        raise CommandExecutionError(f"Cannot delete {path}: {exc}") from exc
    return True


def _same_vars(left, right):
    return left.keys() == right.keys() and all(
        normalise_value(left[key]) == normalise_value(right[key]) for key in left
    )


# -- cm-run-playbook -------------------------------------------------------------


def playbook_run():
    """
    Run ``cm-run-playbook`` (it applies the Ansible configuration, minutes on
    a real gateway) with the configured ``playbook_timeout``. Its output goes
    to ``<state_dir>/playbook.log``. Success clears the pending mark; failure
    or timeout keeps it so the next state run tries again, and raises with
    the last lines of the output.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail.playbook_run
    """
    conf = __salt__["ciphermail_split.host_settings"]()
    log_path = os.path.join(conf["state_dir"], PLAYBOOK_LOG)
    os.makedirs(conf["state_dir"], mode=0o700, exist_ok=True)
    reads.forget(__context__)  # the playbook may change what the CLI reports
    started = time.monotonic()
    outcome = _run_logged(conf["playbook_cmd"], conf["command_env"], conf["playbook_timeout"], log_path)
    elapsed = round(time.monotonic() - started, 1)
    if outcome == 0:
        __salt__["ciphermail_ledger.set_playbook_pending"](False)
        return {"seconds": elapsed, "log": log_path}
    __salt__["ciphermail_ledger.set_playbook_pending"](True)
    reason = f"timed out (playbook_timeout: {conf['playbook_timeout']} s)" if outcome is None else f"failed (exit {outcome})"
    tail = "\n".join(_tail(log_path, PLAYBOOK_TAIL_LINES))
    raise CommandExecutionError(
        f"cm-run-playbook {reason} after {elapsed} s; "
        f"it will run again on the next state run. Last lines of its output ({log_path}):\n{tail}"
    )


def _run_logged(argv, extra_env, timeout, log_path):
    """Run argv with output to log_path; return its exit code, or None on timeout."""
    log.info("Running %s (timeout %s s, output in %s)", argv[-1], timeout, log_path)
    try:
        with open(log_path, "wb") as output:
            os.chmod(log_path, 0o600)
            process = subprocess.Popen(  # pylint: disable=consider-using-with
                argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, **extra_env},
                start_new_session=True,
            )
            try:
                return process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return None
    except OSError as exc:
        raise CommandExecutionError(f"Cannot run {argv[-1]}: {exc}") from exc


def _tail(path, count):
    text = files.read_text(path) or ""
    return text.splitlines()[-count:]
