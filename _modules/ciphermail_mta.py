"""
Execution module for the Postfix MTA of a CipherMail gateway in portal
split-mode: the transport table entry that sends the private portal domain
(``relay-to-webmail.private``) to the portal gateway's nodes, the TLS
policy of each node in ``smtp_tls_policy_maps``, the main gateway's address
in ``mynetworks`` of the portal gateway, and what the portal's SMTP service
offers for TLS.

This is the only code of the formula that touches Postfix. It

- edits two lookup tables the one way: it finds the table from its
  parameter (``transport_maps``, ``smtp_tls_policy_maps``), or configures
  a new one (``default_database_type`` in the configuration directory; the
  TLS policy table beside the transport table) when there is none, edits
  only its own entries of the table's source file, runs ``postmap`` only
  when the file changed or the database is stale, and verifies with
  ``postmap -q``;
- refuses a list of nexthops on a Postfix older than 3.5;
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
- checks from the main gateway each portal node's SMTP service as Postfix
  meets it (``smtp_check``: connect, EHLO, STARTTLS, the certificate
  against the main's CA; no mail is sent), and on the portal gateway that
  smtpd offers STARTTLS with a certificate it can load (``smtpd_tls``).

Every command is ``postconf``/``postmap``/``postfix`` from
``ciphermail_split.host_settings`` with ``-c <postfix_config_dir>``, run as
an argument list (no shell). The editing functions (``transport_set``,
``transport_delete``, ``tls_policy_set``, ``main_cf_set``,
``mynetworks_update``/``_add``/``_remove``) take ``test=True`` to report
what they would do without doing it; they return the changes as
``{"<thing>": {"old": ..., "new": ...}}``.

The pure Postfix handling lives in ``_utils``: ``ciphermail_postfix_values``
(nexthops, ``mynetworks`` entries, parameter names, list splitting, the
tables), ``ciphermail_postfix_tls`` (TLS levels and policies),
``ciphermail_postfix_text`` (parsing and editing table source and main.cf
text) and ``ciphermail_smtp_probe``. This module holds the host I/O and the
functions an admin calls.
"""

import contextlib
import logging
import os
import socket
import ssl
import tempfile

import ciphermail_postfix_text as postfix_text
import ciphermail_postfix_tls as postfix_tls
import ciphermail_postfix_values as postfix_values
import ciphermail_smtp_probe as smtp_probe
import ciphermail_split_commands as commands
import ciphermail_split_files as files
import ciphermail_split_reads as reads
import ciphermail_split_settings as split_settings
from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "ciphermail_mta"

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


def postconf_get(parameter, expand=True):
    """
    Return the value Postfix has for ``parameter`` (``postconf -h``; with
    ``expand``, ``$name`` references expanded as ``-x`` does), ``""`` when
    it has none.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.postconf_get mail_version
        salt main-gw ciphermail_mta.postconf_get maps_d_dir
    """
    parameter = postfix_values.parameter_name(parameter)
    return _postconf_values(_settings(), parameter, expand=expand)[0]


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


# -- lookup tables: transport_maps and smtp_tls_policy_maps ---------------------------


def _table(settings, parameter):
    """
    The table of the list ``parameter`` the formula edits (see
    ``ciphermail_postfix_values.editable_table``). A table the formula would
    create for ``smtp_tls_policy_maps`` goes beside the transport table, with
    its type. One ``postconf`` read.
    """
    beside = postfix_values.TABLES[parameter]["beside"]
    names = [parameter, *([beside] if beside else []), "default_database_type"]
    values = _postconf_values(settings, *names, expand=True)
    default_type, default_dir = values[-1], settings["postfix_config_dir"]
    if beside:
        try:
            neighbour = postfix_values.editable_table(beside, values[1], default_type, default_dir)
            default_type, default_dir = neighbour["type"], os.path.dirname(neighbour["path"])
        except CommandExecutionError:
            pass  # no table to sit beside: the configuration directory and default_database_type
    return postfix_values.editable_table(parameter, values[0], default_type, default_dir)


def _public_table(table):
    return {key: table[key] for key in ("table", "type", "path", "configured")}


def _lookup(settings, table, key):
    """What ``postmap -q`` finds for ``key`` in a table the formula edits (None: nothing, or no database yet)."""
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


def _rebuild(settings, table, expected):
    """Run postmap (indexed types) and check that each key now looks up as ``expected`` says."""
    if TABLE_TYPES[table["type"]]:
        _run(settings, "postmap", [table["table"]])
    for key, value in expected.items():
        found = _lookup(settings, table, key)
        if found != value:
            raise CommandExecutionError(f"postmap -q {key} {table['table']} returns {found!r}; expected {value!r}")


def _file_item(parameter):
    """The change item of a table file the formula creates: ``transport_file``, ``tls_policy_file``."""
    return f"{postfix_values.TABLES[parameter]['file']}_file"


def _edit_table(settings, parameter, entries, test, check=None):
    """
    Make the first entry of each key of ``entries`` say its value (None:
    delete that entry) in the source file of ``parameter``'s table, in one
    atomic write; keep every other byte. When something is to be set and the
    parameter is empty, create the table and configure it. postmap once,
    then ``postmap -q`` for each key; a database that disagrees with the
    file is rebuilt. ``check(changes)`` may refuse the entry changes before
    anything is written (under ``test`` too).

    Returns ``table``, ``changes`` (``{key: {"old", "new"}}`` per entry,
    ``<parameter>`` and ``<file>_file`` when set up, ``postmap`` for a
    repair) and ``entries_left`` (entries in the file afterwards; None: no file).
    """
    table = _table(settings, parameter)
    text = files.read_text(table["path"])
    edited = text or ""
    changes = {}
    for key, value in entries.items():
        current = postfix_text.table_value(edited, key)
        if value is None and current is not None:
            edited = postfix_text.delete_table_entry(edited, key)
            changes[key] = {"old": current, "new": postfix_text.table_value(edited, key)}
        elif value is not None and current != value:
            edited = postfix_text.set_table_entry(edited, key, value)
            changes[key] = {"old": current, "new": value}
    entry_changes = dict(changes)
    if entry_changes and check:
        check(entry_changes)
    setting = [key for key, value in entries.items() if value is not None]
    if setting and text is None:
        # Also a file main.cf names but which is missing: created, so reported (and recorded).
        changes[_file_item(parameter)] = {"old": None, "new": table["path"]}
    if setting and not table["configured"]:
        changes[parameter] = {"old": table["maps"], "new": table["table"]}
    if (
        not entry_changes
        and TABLE_TYPES[table["type"]]
        and any(_lookup(settings, table, key) != entries[key] for key in setting)
    ):
        changes["postmap"] = {"old": "stale", "new": "rebuilt"}
    if changes and not test:
        if entry_changes:
            _write_file(table["path"], edited)
        if entry_changes or "postmap" in changes:
            _rebuild(settings, table, {key: postfix_text.table_value(edited, key) for key in entries})
        if parameter in changes:
            _set_main_cf(settings, parameter, table["table"], test=False)
    left = None if text is None and not entry_changes else len(postfix_text.table_entries(edited))
    return {"table": table["table"], "changes": changes, "entries_left": left}


def _remove_table_file(settings, parameter, table, configured_ok=False):
    """
    Delete a table's source and database files; refused while it has
    entries, or while ``parameter`` uses it (unless ``configured_ok``).
    """
    kind, path = spec = postfix_values.table_file(table)
    text = files.read_text(path)
    if text is None:
        return {}
    if postfix_text.table_entries(text):
        raise CommandExecutionError(f"Not removing {path}: it still has entries")
    maps = _postconf_values(settings, parameter, expand=True)[0]
    used = any(postfix_values.table_spec(entry, parameter) == spec for entry in postfix_values.split_list(maps))
    if used and not configured_ok:
        raise CommandExecutionError(f"Not removing {path}: {parameter} = {maps} uses it")
    reads.forget(__context__)
    try:
        for suffix in TABLE_TYPES[kind]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path + suffix)
        os.unlink(path)
    except OSError as exc:
        raise CommandExecutionError(f"Cannot remove {path}: {exc}") from exc
    return {"old": path, "new": None}


def postfix_version():
    """
    Return the version of Postfix on this gateway (``postconf -d
    mail_version``, e.g. ``3.7.11``). A transport entry takes a list of
    nexthops from Postfix 3.5 on.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.postfix_version
    """
    settings = _settings()
    key = f"ciphermail_mta.mail_version {settings['postconf']} {settings['postfix_config_dir']}"
    if key not in __context__:  # the installed Postfix does not change within a run
        __context__[key] = _run(settings, "postconf", list(postfix_values.MAIL_VERSION_QUERY))["stdout"].strip()
    return __context__[key]


def _refuse_nexthop_lists_if_too_old(changes):
    """Refuse a transport entry with a list of nexthops on a Postfix older than 3.5 (see :func:`postfix_version`)."""
    if any(postfix_values.multiple_nexthops(change["new"]) for change in changes.values()):
        refusal = postfix_values.nexthop_lists_refusal(postfix_version())
        if refusal:
            raise CommandExecutionError(refusal)


# -- the transport table -----------------------------------------------------------

TRANSPORT_MAPS = "transport_maps"


def _nexthop_item(result, key):
    """A transport table answer with the domain's change under ``nexthop``, as the transport functions report it."""
    changes = dict(result["changes"])
    if key in changes:
        changes["nexthop"] = changes.pop(key)
    return {**result, "changes": changes}


def transport_table():
    """
    Return the transport table the formula edits: ``table`` (``type:path``),
    ``type``, ``path`` and ``configured`` (False: ``transport_maps`` is empty,
    and this is the table :func:`transport_set` would create and configure).

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.transport_table
    """
    return _public_table(_table(_settings(), TRANSPORT_MAPS))


def transport_get(domain):
    """
    Return the transport of ``domain`` as the table's source file says (its
    first entry, whitespace collapsed), or None.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.transport_get relay-to-webmail.private
    """
    key = postfix_values.table_key(domain)
    table = _table(_settings(), TRANSPORT_MAPS)
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
    return _lookup(settings, _table(settings, TRANSPORT_MAPS), key)


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
    table = _table(settings, TRANSPORT_MAPS)
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
    entries = postfix_values.split_list(_postconf_values(settings, TRANSPORT_MAPS, expand=True)[0])
    routes = []
    for lookup_key, entry in postfix_values.transport_lookups(entries, key, PROBE_LOCAL_PART):
        value = _query(settings, entry, lookup_key)
        if value is not None:
            routes.append({"table": entry, "key": lookup_key, "value": value})
    return routes


def transport_set(domain, nexthop, test=False):
    """
    Route ``domain`` to ``nexthop`` (e.g. ``smtp:[portal.example.net]``, or
    a list of portal nodes ``smtp:[portal-a]:25, [portal-b]:25``) in the
    transport table: replace the domain's entry in place or append one, run
    postmap, verify with ``postmap -q``. When ``transport_maps`` is empty,
    create ``<config_dir>/transport`` (``default_database_type``) and
    configure it; a table file ``transport_maps`` names but which is missing
    is created. Also rebuilds a stale database (``postmap -q`` disagrees
    with the file). A list of nexthops is refused on Postfix older than 3.5,
    under ``test`` too.

    Returns ``{"table": "type:path", "changes": {...}}`` with changes among
    ``nexthop``, ``transport_file`` (created), ``transport_maps`` and
    ``postmap`` (``{"old": "stale", "new": "rebuilt"}``).

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.transport_set relay-to-webmail.private 'smtp:[portal.example.net]' test=True
    """
    key = postfix_values.table_key(domain)
    value = postfix_values.one_line(nexthop, "nexthop", "a transport such as smtp:[portal.example.net]")
    result = _edit_table(_settings(), TRANSPORT_MAPS, {key: value}, test, check=_refuse_nexthop_lists_if_too_old)
    result = _nexthop_item(result, key)
    return {"table": result["table"], "changes": result["changes"]}


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
    return _nexthop_item(_edit_table(_settings(), TRANSPORT_MAPS, {key: None}, test), key)


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
    return _remove_table_file(_settings(), TRANSPORT_MAPS, table, configured_ok)


# -- the TLS policy table ------------------------------------------------------------

TLS_POLICY_MAPS = "smtp_tls_policy_maps"


def tls_policy_table():
    """
    Return the ``smtp_tls_policy_maps`` table the formula edits: ``table``
    (``type:path``), ``type``, ``path`` and ``configured`` (False: the
    parameter is empty, and this is the table :func:`tls_policy_set` would
    create beside the transport table, with its type, and configure).

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.tls_policy_table
    """
    return _public_table(_table(_settings(), TLS_POLICY_MAPS))


def tls_policy_get(nexthop):
    """
    Return the TLS policy of one nexthop as the table's source file says
    (``encrypt``, ``secure match=portal.example.net``), or None. ``nexthop``
    is written as in the transport entry, brackets and port included:
    Postfix looks each nexthop up exactly so.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.tls_policy_get '[portal-a.example.net]:25'
    """
    key = postfix_values.policy_key(nexthop)
    table = _table(_settings(), TLS_POLICY_MAPS)
    return postfix_text.table_value(files.read_text(table["path"]) or "", key)


def tls_policy_lookup(nexthop):
    """
    Return what Postfix finds for ``nexthop`` (``[host]:port`` as in the
    transport entry) in the TLS policy table (``postmap -q``), or None.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.tls_policy_lookup '[portal-a.example.net]:25'
    """
    key = postfix_values.policy_key(nexthop)
    settings = _settings()
    return _lookup(settings, _table(settings, TLS_POLICY_MAPS), key)


def tls_policy_set(policies, test=False):
    """
    Set the TLS policies of nexthops in the ``smtp_tls_policy_maps`` table
    in one edit: ``policies`` maps each nexthop (``[host]:port`` as in the
    transport entry) to its policy (``encrypt``, ``secure match=...``), or to
    None to delete its entry. Each entry is replaced in place or appended;
    every other byte stays. When ``smtp_tls_policy_maps`` is empty, a table
    is created beside the transport table (same directory and type) and
    configured. postmap once, then ``postmap -q`` for each nexthop.

    Returns ``table``, ``changes`` (one ``{"old", "new"}`` per nexthop, and
    ``smtp_tls_policy_maps``, ``tls_policy_file`` or ``postmap`` as
    :func:`transport_set` reports them) and ``entries_left``.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.tls_policy_set '{"[portal-a.example.net]:25": encrypt}' test=True
    """
    if not isinstance(policies, dict) or not policies:
        raise SaltInvocationError(f"policies: got {policies!r}; expected a mapping of nexthop to policy")
    entries = {
        postfix_values.policy_key(nexthop): None
        if policy is None
        else postfix_values.one_line(policy, "policy", "a TLS policy such as encrypt")
        for nexthop, policy in policies.items()
    }
    return _edit_table(_settings(), TLS_POLICY_MAPS, entries, test)


def tls_policy_file_remove(table, configured_ok=False):
    """
    Delete the source file of a TLS policy table (``type:path``) and its
    database files. Refused while the file still has entries, or while
    ``smtp_tls_policy_maps`` still uses it (unless ``configured_ok``). Returns ``{"old": path, "new":
    None}``, or ``{}`` when there is no file.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.tls_policy_file_remove hash:/etc/postfix/tls_policy
    """
    return _remove_table_file(_settings(), TLS_POLICY_MAPS, table, configured_ok)


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


# -- the portal's SMTP service, seen from the main gateway ------------------------------

SMTP_PORT = 25
MAX_SMTP_TIMEOUT = 300
#: What ``smtp_check`` reads of the main gateway's Postfix: its TLS policies and CA.
_SMTP_TLS_PARAMETERS = (
    TLS_POLICY_MAPS,
    "smtp_tls_security_level",
    "smtp_enforce_tls",
    "smtp_use_tls",
    "smtp_tls_CAfile",
    "smtp_tls_CApath",
    *(parameter for parameter, _ in postfix_tls.DEFAULT_MATCH.values()),
)


def _smtp_destinations(host, port, domain):
    """``(nexthop, destinations)`` to check: ``host``, or the transport entry of the private domain."""
    nexthop_found = None
    if host is None:
        domain = domain or __salt__["ciphermail_split.constants"]()["private_domain"]
        nexthop_found = transport_lookup(domain)
        if nexthop_found is None:
            raise CommandExecutionError(
                f"Postfix has no transport entry for {domain}: apply the main role, or give host"
            )
        try:
            destinations = postfix_values.nexthop_destinations(nexthop_found, f"transport of {domain}")
        except SaltInvocationError as exc:
            raise CommandExecutionError(f"{exc}. Give host to check the portal directly") from exc
    else:
        destinations = postfix_values.nexthop_destinations(host, "host")
    return nexthop_found, postfix_values.destinations_on_port(destinations, port, SMTP_PORT)


def _helo(helo):
    if helo is not None:
        return postfix_values.helo_name(helo)
    try:
        return postfix_values.helo_name(__grains__.get("fqdn") or "localhost")
    except SaltInvocationError:
        return "localhost"


def _policy_lookup(settings, maps, key):
    """The first entry for ``key`` in the tables of ``smtp_tls_policy_maps`` (``maps``), or None."""
    for entry in postfix_values.split_list(maps):
        spec = postfix_values.table_spec(entry, TLS_POLICY_MAPS)
        if spec is not None:
            found = _lookup(settings, {"table": f"{spec[0]}:{spec[1]}", "type": spec[0], "path": spec[1]}, key)
        else:
            result = _run(settings, "postmap", ["-q", key, entry], ok_codes=(0, 1), read=True)
            found = " ".join(result["stdout"].split()) if result["retcode"] == 0 else None
        if found is not None:
            return found
    return None


def _tls_expectation(settings, tls, destination):
    """The TLS policy that applies to one destination: its entry, level, and the certificate names it needs."""
    entry = _policy_lookup(settings, tls[TLS_POLICY_MAPS], destination["key"])
    parsed = postfix_tls.parse_policy(entry)
    level = parsed["level"] or postfix_tls.effective_level(
        tls["smtp_tls_security_level"], tls["smtp_enforce_tls"], tls["smtp_use_tls"]
    )
    names = None
    if level in postfix_tls.MATCH_LEVELS:
        match = parsed["match"] or postfix_tls.default_match(level, tls[postfix_tls.DEFAULT_MATCH[level][0]])
        names = postfix_tls.certificate_names(match, destination["host"])
    return {"tls_policy": entry, "tls_level": level, "names": names}


def _node_problem(where, level, report, names):
    """Why Postfix at ``level`` would not deliver to this node as probed (``report``), or None."""
    if report["error"]:
        return report["error"]
    if level in postfix_tls.ENFORCING_LEVELS:
        if not report["starttls"]:
            return f"{where} offers no STARTTLS; at TLS level {level} Postfix defers the mail"
        if report["tls_version"] is None:
            return f"no TLS handshake with {where}; at TLS level {level} Postfix defers the mail"
    certificate = report["certificate"]
    if names is not None and not certificate["verified"]:
        return f"the certificate of {where} does not verify against the main gateway's CA: {certificate['error']}"
    if names is not None and certificate["matched"] is None:
        return f"the certificate of {where} is for {', '.join(certificate['names'])}, not for {':'.join(names)}"
    return None


def _check_node(settings, tls, destination, timeout, helo):
    host, port = destination["host"], destination["port"]
    expected = _tls_expectation(settings, tls, destination)
    names = expected["names"]
    cafile, capath = (tls["smtp_tls_CAfile"], tls["smtp_tls_CApath"]) if names is not None else (None, None)
    report = smtp_probe.probe(host, port, timeout, helo, tls=True, cafile=cafile, capath=capath, names=names or ())
    if names is not None and not (cafile or capath) and report["starttls"]:
        report["certificate"] = {
            "verified": False,
            "error": "the main gateway's Postfix has no smtp_tls_CAfile or smtp_tls_CApath, "
            "so it verifies no certificate",
            "names": None,
            "matched": None,
        }
    if report["certificate"] is not None:
        report["certificate"] = {**report["certificate"], "match": names}
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    error = _node_problem(where, expected["tls_level"], report, names)
    node = {"nexthop": destination["key"], "host": host, "port": port, **report}
    node.update(tls_policy=expected["tls_policy"], tls_level=expected["tls_level"], ok=error is None, error=error)
    return node


def smtp_check(host=None, port=None, timeout=10, helo=None, domain=None):
    """
    Check from this (main) gateway each portal node's SMTP service as
    Postfix will meet it: connect, read the banner, ``EHLO``, ``STARTTLS``
    when offered, ``QUIT``. No mail is sent.

    Without ``host`` it checks every node of the transport entry of the
    private domain (``postmap -q``, e.g. ``smtp:[portal-a]:25,
    [portal-b]:25``). ``host`` may be a host name, an IP address, a
    destination as in a transport entry (``[host]``, ``[host]:port``,
    ``[ipv6:2001:db8::20]``, with or without ``smtp:``), a nexthop list, or
    a list of these. ``port`` defaults to the destination's port, else 25.
    ``timeout``: seconds for each step. ``helo``: the EHLO name (default:
    this minion's FQDN). ``domain``: the private domain (default:
    ``private_domain`` of ``ciphermail_split.constants``).

    Each node's TLS policy is looked up as Postfix does, by the nexthop as
    written, in ``smtp_tls_policy_maps`` (else ``smtp_tls_security_level``).
    At ``verify`` or ``secure`` the node's certificate is verified against
    the CA certificates of this Postfix (``smtp_tls_CAfile``,
    ``smtp_tls_CApath``) for the ``match=`` names.

    Returns ``nexthop`` (the transport entry used, or None), ``ok`` (every
    node is), ``error`` (the failing nodes' reasons, or None) and ``nodes``,
    one per destination in order: ``nexthop`` (as Postfix looks it up),
    ``host``, ``port``, ``connected``, ``banner``, ``ehlo_code``,
    ``ehlo_extensions``, ``starttls`` (offered), ``tls_version`` and
    ``cipher`` (of a handshake that worked), ``tls_policy`` (the table
    entry, or None), ``tls_level`` (the level that applies),
    ``certificate`` (at verify/secure: ``verified``, ``error``, ``names``
    (the certificate's), ``match`` (the names it needs), ``matched``),
    ``ok`` (Postfix would deliver to the node under its TLS level) and
    ``error``. A refused, unreachable, timed-out or non-SMTP service is
    ``ok: False`` with the reason, not an exception; bad arguments and a
    missing transport entry raise.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.smtp_check
        salt main-gw ciphermail_mta.smtp_check host='[192.0.2.20]:2525' timeout=5
    """
    timeout = split_settings.seconds("timeout", timeout, MAX_SMTP_TIMEOUT)
    helo = _helo(helo)
    settings = _settings()
    nexthop_found, destinations = _smtp_destinations(host, port, domain)
    tls = dict(zip(_SMTP_TLS_PARAMETERS, _postconf_values(settings, *_SMTP_TLS_PARAMETERS, expand=True)))
    nodes = [_check_node(settings, tls, destination, timeout, helo) for destination in destinations]
    errors = [node["error"] for node in nodes if node["error"]]
    return {"nexthop": nexthop_found, "ok": not errors, "error": "; ".join(errors) or None, "nodes": nodes}


# -- the portal's SMTP service, on the portal gateway -------------------------------------

#: The certificate and key pairs smtpd(8) loads when ``smtpd_tls_chain_files`` is empty.
_SMTPD_KEY_PAIRS = (
    ("smtpd_tls_cert_file", "smtpd_tls_key_file"),
    ("smtpd_tls_eccert_file", "smtpd_tls_eckey_file"),
)
_SMTPD_TLS_PARAMETERS = (
    "smtpd_tls_security_level",
    "smtpd_enforce_tls",
    "smtpd_use_tls",
    "smtpd_tls_chain_files",
    *(name for pair in _SMTPD_KEY_PAIRS for name in pair),
)


def _service_port(service):
    """The TCP port of a master.cf ``inet`` service name (``smtp``, ``2525``, ``192.0.2.20:smtp``), or None."""
    port = service.rpartition(":")[2]
    if port.isdigit():
        return int(port)
    try:
        return socket.getservbyname(port, "tcp")
    except OSError:
        return None


def _smtpd_services(settings, port):
    """The ``inet`` services of master.cf that run smtpd(8) on ``port``."""
    services = []
    for line in _run(settings, "postconf", ["-M"], read=True)["stdout"].splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[1] == "inet" and fields[7] == "smtpd" and _service_port(fields[0]) == port:
            services.append(fields[0])
    return services


def _overrides(settings):
    """``{service/type: {parameter: value}}`` of master.cf's ``-o`` settings, expanded (``postconf -Px``)."""
    overrides = {}
    for line in _run(settings, "postconf", ["-Px"], read=True)["stdout"].splitlines():
        name, _, value = line.partition(" = ")
        service, _, parameter = name.rpartition("/")
        overrides.setdefault(service, {})[parameter] = value.strip()
    return overrides


def _key_problem(cert_file, key_file):
    """Why smtpd(8) could not use ``cert_file`` with ``key_file``, or None (read as root, as smtpd does)."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_file, key_file)
    except FileNotFoundError as exc:
        return f"{exc.filename or cert_file} does not exist"
    except (OSError, ssl.SSLError) as exc:
        return f"{cert_file} with key {key_file} does not load: {exc}"
    return None


def _first_file_with(paths, marker):
    for path in paths:
        with contextlib.suppress(OSError):
            with open(path, encoding="ascii", errors="replace") as handle:
                if marker in handle.read():
                    return path
    return None


def _certificate_problem(values):
    """``(files, problem)``: the certificate files smtpd(8) would load, and why it could not, or None."""
    chain_files = postfix_values.split_list(values["smtpd_tls_chain_files"])
    if chain_files:
        missing = [path for path in chain_files if not os.path.isfile(path)]
        if missing:
            return chain_files, f"smtpd_tls_chain_files names {', '.join(missing)}, which does not exist"
        cert_file = _first_file_with(chain_files, "-----BEGIN CERTIFICATE-----")
        key_file = _first_file_with(chain_files, "PRIVATE KEY-----")
        if cert_file is None or key_file is None:
            return chain_files, "smtpd_tls_chain_files holds no certificate and private key"
        return chain_files, _key_problem(cert_file, key_file)
    pairs = [(values[cert], values[key] or values[cert]) for cert, key in _SMTPD_KEY_PAIRS if values[cert]]
    if not pairs:
        return [], "neither smtpd_tls_cert_file nor smtpd_tls_chain_files is set"
    for cert_file, key_file in pairs:
        problem = _key_problem(cert_file, key_file)
        if problem:
            return [name for pair in pairs for name in pair], problem
    return [name for pair in pairs for name in pair], None


def smtpd_tls(port=SMTP_PORT):
    """
    Report whether this (portal) gateway's Postfix offers STARTTLS with a
    certificate it can load, on each ``inet`` smtpd(8) service of master.cf
    that listens on ``port`` (``smtp`` is 25). Only reads; it manages no
    certificate.

    Per service: ``service``, ``level`` (``smtpd_tls_security_level`` as
    it takes effect: master.cf's ``-o`` over main.cf; when empty,
    ``smtpd_enforce_tls``/``smtpd_use_tls``), ``files`` (from
    ``smtpd_tls_chain_files``, else ``smtpd_tls_cert_file`` and
    ``smtpd_tls_key_file``), ``offered`` (STARTTLS at level may or encrypt,
    and the certificate and key load) and ``problem`` (why not, or None).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_mta.smtpd_tls
        salt portal-gw ciphermail_mta.smtpd_tls port=2525
    """
    port = postfix_values.port_number(port)
    settings = _settings()
    main_cf = dict(zip(_SMTPD_TLS_PARAMETERS, _postconf_values(settings, *_SMTPD_TLS_PARAMETERS, expand=True)))
    overrides = _overrides(settings)
    report = []
    for service in _smtpd_services(settings, port):
        values = {**main_cf, **overrides.get(f"{service}/inet", {})}
        level = postfix_tls.effective_level(
            values["smtpd_tls_security_level"], values["smtpd_enforce_tls"], values["smtpd_use_tls"]
        )
        files_used, problem = _certificate_problem(values)
        if level not in postfix_tls.SMTPD_LEVELS[1:]:
            problem = f"smtpd_tls_security_level is {level}: STARTTLS is not offered"
        service_report = {"service": f"{service}/inet", "level": level, "files": files_used}
        report.append({**service_report, "offered": not problem, "problem": problem})
    return report
