"""
Execution module for the Postfix MTA of a CipherMail gateway in portal
split-mode: the transport table entry that sends the private portal domain
(``relay-to-webmail.private``) to the portal gateway, and the main gateway's
address in ``mynetworks`` of the portal gateway.

This is the only code of the formula that touches Postfix. It

- finds the transport table from ``transport_maps`` (or configures one of
  ``default_database_type`` when there is none), edits only its own entry of
  the table's source file, runs ``postmap`` only when the file changed or the
  database is stale, and verifies with ``postmap -q``;
- edits only its own entries of ``mynetworks`` in ``main.cf``, as text, so
  the admin's other entries, continuation lines, comments and
  ``$parameter``/``/file/name``/``type:table`` references stay as they were,
  and verifies with ``postconf -h``;
- writes files atomically (temporary file, fsync, rename; mode and owner
  kept) and keeps every byte it does not own;
- reloads Postfix only when it is running;
- inside a state, runs each read command (``postconf -h``, ``postmap -q``,
  ``postfix status``) once until it writes something
  (``ciphermail_split_reads``);
- checks from the main gateway that the portal's SMTP service answers
  (``smtp_check``: connect, EHLO, QUIT; no mail is sent).

Every command is ``postconf``/``postmap``/``postfix`` from
``ciphermail_split.host_settings`` with ``-c <postfix_config_dir>``, run as
an argument list (no shell). The editing functions (``transport_set``,
``transport_delete``, ``main_cf_set``, ``mynetworks_update``/``_add``/
``_remove``) take ``test=True`` to report what they would do without doing
it; they return the changes as ``{"<thing>": {"old": ..., "new": ...}}``.

The pure Postfix handling lives in ``_utils``: ``ciphermail_postfix_values``
(nexthops, ``mynetworks`` entries, parameter names, list splitting) and
``ciphermail_postfix_text`` (parsing and editing table source and main.cf
text). This module holds the host I/O and the functions an admin calls.
"""

import contextlib
import logging
import os
import re
import tempfile

import ciphermail_postfix_text as postfix_text
import ciphermail_postfix_values as postfix_values
import ciphermail_smtp_probe as smtp_probe
import ciphermail_split_commands as commands
import ciphermail_split_files as files
import ciphermail_split_reads as reads
import ciphermail_split_settings as split_settings
from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "ciphermail_mta"

#: File name of the transport table the module creates when there is none.
DEFAULT_TRANSPORT_FILE = "transport"

#: Table types the module edits, with the database suffixes postmap builds.
TABLE_TYPES = postfix_values.TABLE_TYPES


def __virtual__():
    return __virtualname__


# -- values ------------------------------------------------------------------------


def nexthop(host, port=None):
    """
    Return the transport nexthop that delivers to ``host`` by SMTP, without
    MX lookup: ``smtp:[portal.example.net]``, ``smtp:[192.0.2.20]:2525``,
    ``smtp:[ipv6:2001:db8::20]``. ``host`` is a plain host name or IP
    address (no brackets, port or ``ipv6:`` prefix); ``port`` 1-65535.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.nexthop portal.example.net
        salt main-gw ciphermail_mta.nexthop 2001:db8::20 port=2525
    """
    return postfix_values.nexthop(host, port)


def mynetworks_entry(address, allow_networks=False):
    """
    Return the ``mynetworks`` entry for ``address``: an IPv4 host bare
    (``192.0.2.10``), an IPv6 host bracketed (``[2001:db8::10]/128``), an
    IPv4-mapped IPv6 address as IPv4 (Postfix sees such a client as IPv4).
    Networks (``10.0.0.0/8``, ``[2001:db8::]/32``) only with
    ``allow_networks``: the portal relays mail for every address in them.
    ``/0`` is always refused.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_mta.mynetworks_entry 2001:db8::10
        salt portal-gw ciphermail_mta.mynetworks_entry 10.1.0.0/16 allow_networks=True
    """
    return postfix_values.mynetworks_entry(address, allow_networks)


def parameter_name(name):
    """
    Return ``name`` if it is a valid Postfix parameter name, else raise.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_mta.parameter_name mynetworks
    """
    return postfix_values.parameter_name(name)


# -- running Postfix commands ------------------------------------------------------


def _settings():
    return split_settings.effective(__opts__, __pillar__)


def _run(settings, tool, args, ok_codes=(0,), config_dir=None, read=False):
    """
    Run ``<tool> -c <config_dir> args``; return the cmd.run_all result, raise
    on an unexpected exit code. ``read``: the command only reads, and its
    answer is remembered within a state; any other command forgets all reads.
    """
    args = ["-c", config_dir or settings["postfix_config_dir"], *args]

    def execute():
        return commands.run(
            __salt__["cmd.run_all"],
            settings,
            tool,
            args,
            title=" ".join([tool, *args]),
            timeout=settings["postfix_timeout"],
            ok_codes=ok_codes,
        )

    if read:
        return reads.read(__context__, ("postfix", *settings[tool], *args), execute)
    reads.forget(__context__)
    return execute()


def _write_file(path, text):
    """Write ``path`` atomically; reads remembered so far are forgotten."""
    reads.forget(__context__)
    files.write_text(path, text)


def _postconf_values(settings, *parameters, expand=False, config_dir=None):
    """The values ``postconf -h`` shows for ``parameters`` (``-x``: ``$name`` expanded)."""
    flags = "-hx" if expand else "-h"
    output = _run(settings, "postconf", [flags, *parameters], config_dir=config_dir, read=True)["stdout"]
    values = output.split("\n")
    return [" ".join(value.split()) for value in values[: len(parameters)]] + [""] * (len(parameters) - len(values))


def _postconf_list(settings, parameter):
    """The elements of the list ``parameter`` as ``postconf -h`` shows them."""
    return postfix_values.split_list(_postconf_values(settings, parameter)[0])


def _value_once_unset(settings, parameter, main_cf_text):
    """What ``postconf -h`` will show for ``parameter`` once main.cf no longer sets it."""
    try:
        with tempfile.TemporaryDirectory(prefix="ciphermail_mta.") as scratch:
            path = os.path.join(scratch, "main.cf")
            with open(path, "wb") as handle:
                handle.write(postfix_text.remove_definitions(main_cf_text, parameter).encode("utf-8", "surrogateescape"))
            # Postfix rereads a main.cf younger than ~2 s until it "cools down";
            # this scratch copy is complete, so let postconf read it at once.
            os.utime(path, (0, 0))
            return _postconf_values(settings, parameter, config_dir=scratch)[0]
    except OSError as exc:
        raise CommandExecutionError(f"Cannot work out the default of {parameter}: {exc}") from exc


def _main_cf(settings):
    return os.path.join(settings["postfix_config_dir"], "main.cf")


def main_cf_get(parameter):
    """
    Return the value ``main.cf`` itself sets for ``parameter`` (continuation
    lines joined, whitespace collapsed), or None when it is not set there
    (Postfix then uses its default).

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.main_cf_get transport_maps
    """
    parameter = postfix_values.parameter_name(parameter)
    return postfix_text.parameter_value(files.read_text(_main_cf(_settings())) or "", parameter)


def main_cf_set(parameter, value=None, test=False):
    """
    Set ``parameter`` in ``main.cf`` as ``postconf -e`` would (``value``
    None: remove it as ``postconf -X`` would, so Postfix uses its default),
    editing the file as text, so a main.cf reached through a symlink stays
    one. Returns ``{"old": ..., "new": ...}`` as ``postconf -h`` shows the
    value, or ``{}`` when main.cf already says so.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.main_cf_set transport_maps hash:/etc/postfix/transport
        salt main-gw ciphermail_mta.main_cf_set transport_maps test=True
    """
    parameter = postfix_values.parameter_name(parameter)
    if value is not None:
        value = postfix_values.one_line(value, "value", "a parameter value")
    settings = _settings()
    return _set_main_cf(settings, parameter, value, test)


def _set_main_cf(settings, parameter, value, test):
    text = files.read_text(_main_cf(settings)) or ""
    if postfix_text.parameter_value(text, parameter) == value:
        return {}
    old = _postconf_values(settings, parameter)[0]
    new = _value_once_unset(settings, parameter, text) if value is None else value
    change = {"old": old, "new": new}
    if test:
        return change
    if value is None:
        edited = postfix_text.remove_definitions(text, parameter)
    else:
        edited = postfix_text.set_definition(text, parameter, value)
    _write_main_cf(settings, text, edited, parameter, change["new"], lambda: _postconf_values(settings, parameter)[0])
    return change


def _write_main_cf(settings, text, edited, parameter, expected, shown):
    """
    Write ``edited`` over main.cf (``text`` before) and check that
    ``shown()`` (what ``postconf -h parameter`` shows) is now ``expected``;
    else put ``text`` back and raise.
    """
    path = _main_cf(settings)
    _write_file(path, edited)
    found = shown()
    if found != expected:
        _write_file(path, text)
        raise CommandExecutionError(
            f"postconf -h {parameter} shows {found!r} after editing {path}; expected {expected!r}. "
            f"{path} was put back as it was."
        )


# -- the transport table -----------------------------------------------------------


def _transport_table(settings):
    maps, default_type = _postconf_values(settings, "transport_maps", "default_database_type", expand=True)
    for entry in postfix_values.split_list(maps):
        spec = postfix_values.table_spec(entry)
        if spec is not None:
            kind, path = spec
            return {"table": f"{kind}:{path}", "type": kind, "path": path, "configured": True, "maps": maps}
    if maps:
        raise CommandExecutionError(
            f"transport_maps = {maps} has no table this formula can edit "
            f"(one of {', '.join(sorted(TABLE_TYPES))} with an absolute path)"
        )
    if default_type not in TABLE_TYPES:
        raise CommandExecutionError(
            f"default_database_type = {default_type} is not a table type postmap builds from a file"
        )
    path = os.path.join(settings["postfix_config_dir"], DEFAULT_TRANSPORT_FILE)
    if re.search(r"[\s,{}]", path):
        raise CommandExecutionError(f"Cannot use {path} as a Postfix table: the path has whitespace, commas or braces")
    return {"table": f"{default_type}:{path}", "type": default_type, "path": path, "configured": False, "maps": maps}


def transport_table():
    """
    Return the transport table the formula edits: ``table`` (``type:path``),
    ``type``, ``path`` and ``configured`` (False: ``transport_maps`` is empty,
    and this is the table :func:`transport_set` would create and configure).

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.transport_table
    """
    table = _transport_table(_settings())
    return {key: table[key] for key in ("table", "type", "path", "configured")}


def _lookup(settings, table, key):
    """What ``postmap -q`` finds for ``key`` in the formula's table (None: nothing, or no database built yet)."""
    if not all(os.path.exists(table["path"] + suffix) for suffix in TABLE_TYPES[table["type"]]):
        return None  # no database (postmap -q would also pause a second on its fatal error)
    return _query(settings, table["table"], key)


def _query(settings, table, key):
    """What ``postmap -q key table`` answers (whitespace collapsed), None when nothing; a broken table raises."""
    name = postfix_values.query_name(table)
    result = _run(settings, "postmap", ["-q", key, name], ok_codes=(0, 1), read=True)
    if result["retcode"] == 0:
        return " ".join(result["stdout"].split())
    error = (result.get("stderr") or "").strip()
    if "fatal:" in error and "open database" not in error:
        raise CommandExecutionError(f"postmap -q {key} {name} failed: {error}")
    return None


def _rebuild(settings, table, key, expected):
    """Run postmap (indexed types) and check that ``key`` now looks up as ``expected``."""
    if TABLE_TYPES[table["type"]]:
        _run(settings, "postmap", [table["table"]])
    found = _lookup(settings, table, key)
    if found != expected:
        raise CommandExecutionError(f"postmap -q {key} {table['table']} returns {found!r}; expected {expected!r}")


def transport_get(domain):
    """
    Return the transport of ``domain`` as the table's source file says (its
    first entry, whitespace collapsed), or None.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.transport_get relay-to-webmail.private
    """
    key = postfix_values.table_key(domain)
    table = _transport_table(_settings())
    return postfix_text.table_value(files.read_text(table["path"]) or "", key)


def transport_lookup(domain):
    """
    Return what Postfix finds for ``domain`` in the transport table
    (``postmap -q``), or None.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.transport_lookup relay-to-webmail.private
    """
    key = postfix_values.table_key(domain)
    settings = _settings()
    return _lookup(settings, _transport_table(settings), key)


#: The local part of the address with which the formula asks the tables of
#: ``transport_maps`` as Postfix would for portal mail (whose local parts
#: the formula cannot know).
PROBE_LOCAL_PART = "portal-recipient"


def transport_shadowed(domain):
    """
    Return the answer Postfix finds for mail to ``domain`` *before* it
    reaches the domain's entry in the formula's transport table, or None.
    Postfix looks up the full address in every table of ``transport_maps``
    (``regexp:``, ``pcre:`` too), then the domain in each fixed-string
    table in order; this asks them the same way with ``postmap -q``
    (the address ``portal-recipient@<domain>``). Returns ``{"table": ...,
    "key": ..., "value": ...}``.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.transport_shadowed relay-to-webmail.private
    """
    key = postfix_values.table_key(domain)
    settings = _settings()
    table = _transport_table(settings)
    entries = postfix_values.split_list(table["maps"]) if table["configured"] else []
    for lookup_key, entry in postfix_values.transport_lookups_before(entries, table["table"], key, PROBE_LOCAL_PART):
        value = _query(settings, entry, lookup_key)
        if value is not None:
            return {"table": entry, "key": lookup_key, "value": value}
    return None


def transport_routes(domain):
    """
    Return every answer Postfix's tables give for mail to ``domain``, in
    the order Postfix asks them (see :func:`transport_shadowed`): the first
    is the route Postfix takes, the others take over once it is gone. Each
    is ``{"table": ..., "key": ..., "value": ...}``; ``[]`` when no table
    routes the domain.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.transport_routes relay-to-webmail.private
    """
    key = postfix_values.table_key(domain)
    settings = _settings()
    entries = postfix_values.split_list(_postconf_values(settings, "transport_maps", expand=True)[0])
    routes = []
    for lookup_key, entry in postfix_values.transport_lookups(entries, key, PROBE_LOCAL_PART):
        value = _query(settings, entry, lookup_key)
        if value is not None:
            routes.append({"table": entry, "key": lookup_key, "value": value})
    return routes


def transport_set(domain, nexthop, test=False):
    """
    Route ``domain`` to ``nexthop`` (e.g. ``smtp:[portal.example.net]``) in
    the transport table: replace the domain's entry in place or append one,
    run postmap, verify with ``postmap -q``. When ``transport_maps`` is
    empty, create ``<config_dir>/transport`` (``default_database_type``) and
    configure it; a table file ``transport_maps`` names but which is
    missing is created. Also rebuilds a stale database (``postmap -q`` disagrees
    with the file).

    Returns ``{"table": "type:path", "changes": {...}}`` with changes among
    ``nexthop``, ``transport_file`` (created), ``transport_maps`` and
    ``postmap`` (``{"old": "stale", "new": "rebuilt"}``).

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.transport_set relay-to-webmail.private 'smtp:[portal.example.net]' test=True
    """
    key = postfix_values.table_key(domain)
    value = postfix_values.one_line(nexthop, "nexthop", "a transport such as smtp:[portal.example.net]")
    settings = _settings()
    table = _transport_table(settings)
    text = files.read_text(table["path"])
    current = postfix_text.table_value(text or "", key)
    changes = {}
    if text is None:
        changes["transport_file"] = {"old": None, "new": table["path"]}
    if not table["configured"]:
        changes["transport_maps"] = {"old": table["maps"], "new": table["table"]}
    if current != value:
        changes["nexthop"] = {"old": current, "new": value}
    elif TABLE_TYPES[table["type"]] and _lookup(settings, table, key) != value:
        changes["postmap"] = {"old": "stale", "new": "rebuilt"}
    if changes and not test:
        if "nexthop" in changes:
            _write_file(table["path"], postfix_text.set_table_entry(text or "", key, value))
        if "nexthop" in changes or "postmap" in changes:
            _rebuild(settings, table, key, value)
        if "transport_maps" in changes:
            _set_main_cf(settings, "transport_maps", table["table"], test=False)
    return {"table": table["table"], "changes": changes}


def transport_delete(domain, test=False):
    """
    Remove the first entry of ``domain`` from the transport table source
    file (keeping every other byte), run postmap and verify.

    Returns ``{"table": ..., "changes": {"nexthop": {"old": ..., "new": ...}},
    "entries_left": <entries in the file afterwards, None: no file>}``;
    ``new`` is None unless a later duplicate entry takes over.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.transport_delete relay-to-webmail.private
    """
    key = postfix_values.table_key(domain)
    settings = _settings()
    table = _transport_table(settings)
    text = files.read_text(table["path"])
    if text is None:
        return {"table": table["table"], "changes": {}, "entries_left": None}
    current = postfix_text.table_value(text, key)
    remaining = postfix_text.delete_table_entry(text, key) if current is not None else text
    changes = {}
    if current is not None:
        changes["nexthop"] = {"old": current, "new": postfix_text.table_value(remaining, key)}
        if not test:
            _write_file(table["path"], remaining)
            _rebuild(settings, table, key, changes["nexthop"]["new"])
    return {"table": table["table"], "changes": changes, "entries_left": len(postfix_text.table_entries(remaining))}


def transport_file_remove(table, configured_ok=False):
    """
    Delete the source file of a transport table (``type:path``) and the
    database files postmap built from it. Refused while the file still has
    entries, or while ``transport_maps`` still uses it (unless
    ``configured_ok``: it named the file before the file existed). Returns
    ``{"old": path, "new": None}``, or ``{}`` when there is no file.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.transport_file_remove hash:/etc/postfix/transport
    """
    kind, path = spec = postfix_values.table_file(table)
    settings = _settings()
    text = files.read_text(path)
    if text is None:
        return {}
    if postfix_text.table_entries(text):
        raise CommandExecutionError(f"Not removing {path}: it still has entries")
    maps = _postconf_values(settings, "transport_maps", expand=True)[0]
    used = any(postfix_values.table_spec(entry) == spec for entry in postfix_values.split_list(maps))
    if used and not configured_ok:
        raise CommandExecutionError(f"Not removing {path}: transport_maps = {maps} uses it")
    reads.forget(__context__)
    try:
        for suffix in TABLE_TYPES[kind]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path + suffix)
        os.unlink(path)
    except OSError as exc:
        raise CommandExecutionError(f"Cannot remove {path}: {exc}") from exc
    return {"old": path, "new": None}


# -- mynetworks ----------------------------------------------------------------------


def mynetworks_get(parameter="mynetworks"):
    """
    Return the elements of ``mynetworks`` (or another list ``parameter``) as
    ``postconf -h`` shows them (``$name`` references not expanded).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_mta.mynetworks_get
    """
    parameter = postfix_values.parameter_name(parameter)
    return _postconf_list(_settings(), parameter)


def mynetworks_update(
    add=None, remove=None, parameter="mynetworks", allow_networks=False, unset_if_left=None, test=False
):
    """
    Add and remove ``mynetworks`` entries in ``main.cf`` in one atomic edit,
    keeping every other element, comment and continuation line. ``add``:
    entries appended unless an equivalent one is there (``192.0.2.10/32``
    is ``192.0.2.10``). ``remove``: the last element written exactly as the
    entry is removed (an equivalent spelling is someone else's). When main.cf
    does not set the parameter, Postfix's computed default is written out
    first (``materialised``). ``unset_if_left``: when exactly these elements
    are left, remove the parameter from main.cf (as ``postconf -X`` would) instead.

    Returns ``parameter``, ``old`` and ``new`` (the elements as postconf
    shows them), ``added``, ``removed``, ``materialised`` (the default
    written out, or None) and ``unset``.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_mta.mynetworks_update add='[192.0.2.10]' test=True
    """
    parameter = postfix_values.parameter_name(parameter)
    add, remove = postfix_values.mynetworks_changes(add, remove, allow_networks)
    settings = _settings()
    path = _main_cf(settings)
    text = files.read_text(path)
    if text is None:
        raise CommandExecutionError(f"{path} does not exist")
    defined = postfix_text.parameter_elements(text, parameter)
    old = _postconf_list(settings, parameter) if defined is None else defined
    edit = postfix_text.edit_list(text, parameter, old, add, remove)
    edited, new = edit["text"], edit["new"]
    unset = defined is not None and unset_if_left is not None and new == list(unset_if_left)
    if unset:
        new = postfix_values.split_list(_value_once_unset(settings, parameter, text))
    result = {
        "parameter": parameter,
        "old": old,
        "new": new,
        "added": edit["added"],
        "removed": edit["removed"],
        "materialised": edit["materialised"],
        "unset": unset,
    }
    if test or (edited == text and not unset):
        return result
    if unset:
        edited = postfix_text.remove_definitions(text, parameter)
    _write_main_cf(settings, text, edited, parameter, new, lambda: _postconf_list(settings, parameter))
    return result


def mynetworks_add(entries, parameter="mynetworks", allow_networks=False, test=False):
    """
    Add ``entries`` (IP addresses; networks with ``allow_networks``) to
    ``mynetworks`` unless already there. See :func:`mynetworks_update`.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_mta.mynetworks_add '[192.0.2.10, 2001:db8::10]'
    """
    return mynetworks_update(add=entries, parameter=parameter, allow_networks=allow_networks, test=test)


def mynetworks_remove(entries, parameter="mynetworks", test=False):
    """
    Remove ``entries`` (as this module writes them) from ``mynetworks``.
    See :func:`mynetworks_update`.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_mta.mynetworks_remove '[192.0.2.10]'
    """
    return mynetworks_update(remove=entries, parameter=parameter, test=test)


# -- the running MTA ---------------------------------------------------------------


def reload_if_running():
    """
    Reload Postfix (``postfix reload``) when it is running (``postfix
    status`` exit code 0). Returns ``{"running": bool, "reloaded": bool}``.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_mta.reload_if_running
    """
    settings = _settings()
    running = _run(settings, "postfix", ["status"], ok_codes=(0, 1), read=True)["retcode"] == 0
    if running:
        _run(settings, "postfix", ["reload"])
        log.info("Reloaded Postfix (%s)", settings["postfix_config_dir"])
    return {"running": running, "reloaded": running}


# -- the portal's SMTP service -------------------------------------------------------

SMTP_PORT = 25
MAX_SMTP_TIMEOUT = 300


def _smtp_destination(host, port, domain):
    """``(host, port, nexthop)`` to check: ``host``, or the transport entry of the private domain."""
    nexthop_found = None
    if host is None:
        domain = domain or __salt__["ciphermail_split.constants"]()["private_domain"]
        nexthop_found = transport_lookup(domain)
        if nexthop_found is None:
            raise CommandExecutionError(
                f"Postfix has no transport entry for {domain}: apply the main role, or give host"
            )
        try:
            host, given_port = postfix_values.nexthop_destination(nexthop_found, f"transport of {domain}")
        except SaltInvocationError as exc:
            raise CommandExecutionError(f"{exc}. Give host to check the portal directly") from exc
    else:
        host, given_port = postfix_values.nexthop_destination(host, "host")
    if port is not None:
        port = postfix_values.port_number(port)
        if given_port is not None and port != given_port:
            raise SaltInvocationError(
                f"port: got {port}; expected none, or the port the destination names ({given_port})"
            )
    return host, port or given_port or SMTP_PORT, nexthop_found


def _helo(helo):
    if helo is not None:
        return postfix_values.helo_name(helo)
    try:
        return postfix_values.helo_name(__grains__.get("fqdn") or "localhost")
    except SaltInvocationError:
        return "localhost"


def smtp_check(host=None, port=None, timeout=10, helo=None, domain=None):
    """
    Check from this (main) gateway that the portal gateway's SMTP service
    answers: connect, read the banner, ``EHLO``, ``QUIT``. No mail is sent.

    Without ``host`` it checks the destination Postfix sends portal mail to:
    the transport entry of the private domain (``postmap -q``, e.g.
    ``smtp:[portal.example.net]:2525``). ``host`` may be a host name, an IP
    address, or a destination as in a transport entry: ``[host]``,
    ``[host]:port``, ``[ipv6:2001:db8::20]``, with or without ``smtp:``.
    ``port`` defaults to the destination's port, else 25. ``timeout``:
    seconds for each step. ``helo``: the EHLO name (default: this minion's
    FQDN). ``domain``: the private domain (default: ``private_domain`` of
    ``ciphermail_split.constants``, ``relay-to-webmail.private`` unless
    pillar says otherwise).

    Returns ``host``, ``port``, ``nexthop`` (the transport entry used, or
    None), ``connected``, ``banner``, ``ehlo_code``, ``ehlo_extensions``,
    ``ok`` (banner 220 and EHLO 250) and ``error`` (why not, or None). A
    refused, unreachable, timed-out or non-SMTP service is ``ok: False``
    with the reason, not an exception; bad arguments and a missing
    transport entry raise.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.smtp_check
        salt main-gw ciphermail_mta.smtp_check host='[192.0.2.20]:2525' timeout=5
    """
    timeout = split_settings.seconds("timeout", timeout, MAX_SMTP_TIMEOUT)
    helo = _helo(helo)
    host, port, nexthop_found = _smtp_destination(host, port, domain)
    report = smtp_probe.probe(host, port, timeout, helo)
    return {"host": host, "port": port, "nexthop": nexthop_found, **report, "ok": report["error"] is None}
