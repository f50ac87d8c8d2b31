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
- reloads Postfix only when it is running.

Every command is ``postconf``/``postmap``/``postfix`` from
``ciphermail_split.host_settings`` with ``-c <postfix_config_dir>``, run as
an argument list (no shell). The editing functions (``transport_set``,
``transport_delete``, ``main_cf_set``, ``mynetworks_update``/``_add``/
``_remove``) take ``test=True`` to report what they would do without doing
it; they return the changes as ``{"<thing>": {"old": ..., "new": ...}}``.
"""

import contextlib
import ipaddress
import logging
import os
import re
import stat
import tempfile

import salt.utils.path
from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "ciphermail_mta"

#: Table types whose source file this module edits, with the database file
#: suffixes ``postmap`` builds for them (``texthash`` is read as text).
TABLE_TYPES = {
    "hash": (".db",),
    "btree": (".db",),
    "lmdb": (".lmdb",),
    "cdb": (".cdb",),
    "dbm": (".dir", ".pag"),
    "sdbm": (".dir", ".pag"),
    "texthash": (),
}
#: File name of the transport table the module creates when there is none.
DEFAULT_TRANSPORT_FILE = "transport"

_WHITESPACE = " \t\r\n\v\f"
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)
_PARAMETER_NAME = re.compile(r"[a-z][a-z0-9_]{0,99}", re.IGNORECASE)
_PORT_TEXT = re.compile(r"[0-9]{1,5}")
_PREFIX_TEXT = re.compile(r"/[0-9]{1,3}")
_ONE_LINE = re.compile(r"[^\x00-\x1f\x7f]+")
#: One element of a Postfix list: words split on commas/whitespace, a
#: ``{...}`` group (e.g. ``inline:{ a=b, c=d }``) kept whole.
_LIST_TOKEN = re.compile(r"(?:\{[^{}]*\}|[^\s,])+")


def __virtual__():
    try:
        postconf = __salt__["ciphermail_split.host_settings"]()["postconf"]
    except SaltInvocationError as exc:
        return False, f"ciphermail_mta: {exc}"
    if not salt.utils.path.which(postconf[0]):
        return False, f"ciphermail_mta: {postconf[0]} not found (set ciphermail_split:lookup:postconf)"
    return __virtualname__


def _invalid(what, value, expected):
    return SaltInvocationError(f"{what}: got {value!r}; expected {expected}")


# -- values (pure) ---------------------------------------------------------------


def _ip_address(value):
    """The address ``value`` is written as, or None when it is not a plain IP address."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    return None if getattr(address, "scope_id", None) else address


def _host_name(value, what):
    labels = value.split(".") if isinstance(value, str) and len(value) <= 253 else [""]
    if not all(_HOST_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise _invalid(what, value, "a host name (letters, digits, hyphens, dot-separated labels) or an IP address")
    return value.lower()


def _port(value):
    if isinstance(value, str) and _PORT_TEXT.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _invalid("port", value, "an integer from 1 to 65535")
    return value


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
    address = _ip_address(host) if isinstance(host, str) else None
    if address is None:
        target = _host_name(host, "host")
    elif address.version == 6:
        target = f"ipv6:{address.compressed}"
    else:
        target = str(address)
    result = f"smtp:[{target}]"
    return result if port is None else f"{result}:{_port(port)}"


def _network(token):
    """
    The network a ``mynetworks`` element stands for (``192.0.2.10``,
    ``192.0.2.0/24``, ``[2001:db8::10]/128``, ``[192.0.2.10]``), host bits
    allowed; None when the element is not an address (``$name``, a table, ...).
    """
    text = token
    if token.startswith("["):
        inner, bracket, rest = token[1:].partition("]")
        if not bracket or (rest and not _PREFIX_TEXT.fullmatch(rest)):
            return None
        text = inner + rest
    address, _, prefix = text.partition("/")
    if _ip_address(address) is None or (prefix and not _PREFIX_TEXT.fullmatch("/" + prefix)):
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _network_entry(network):
    """``network`` written the way this module writes ``mynetworks`` entries."""
    if network.version == 4:
        return str(network.network_address) if network.num_addresses == 1 else str(network)
    return f"[{network.network_address.compressed}]/{network.prefixlen}"


def mynetworks_entry(address, allow_networks=False):
    """
    Return the ``mynetworks`` entry for ``address``: an IPv4 host bare
    (``192.0.2.10``), an IPv6 host bracketed (``[2001:db8::10]/128``).
    Networks (``10.0.0.0/8``, ``[2001:db8::]/32``) only with
    ``allow_networks``: the portal relays mail for every address in them.
    ``/0`` is always refused.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_mta.mynetworks_entry 2001:db8::10
        salt portal-gw ciphermail_mta.mynetworks_entry 10.1.0.0/16 allow_networks=True
    """
    network = _network(address) if isinstance(address, str) else None
    if network is None:
        raise _invalid("address", address, "an IPv4 or IPv6 address, e.g. 192.0.2.10 or 2001:db8::10")
    canonical = _network_entry(network)
    if network.prefixlen == 0:
        raise _invalid(
            "address", address, "a host or a network, never every address (the portal would be an open relay)"
        )
    if not _exact_network(address):
        raise _invalid("address", address, f"a network address without host bits set, e.g. {canonical}")
    if network.num_addresses > 1 and not allow_networks:
        raise _invalid(
            "address",
            address,
            f"a single host address: the portal would relay mail for the whole range {canonical} "
            "(set allow_networks to allow a network)",
        )
    return canonical


def _exact_network(token):
    """True when ``token`` has no host bits set below its prefix."""
    network = _network(token)
    text = token.replace("[", "").replace("]", "")
    return network is not None and ipaddress.ip_address(text.partition("/")[0]) == network.network_address


def _same_network(token, entry):
    network = _network(token)
    return token == entry or (network is not None and _exact_network(token) and network == _network(entry))


def parameter_name(name):
    """
    Return ``name`` if it is a valid Postfix parameter name, else raise.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_mta.parameter_name mynetworks
    """
    if not isinstance(name, str) or not _PARAMETER_NAME.fullmatch(name):
        raise _invalid("parameter", name, "a Postfix parameter name (letters, digits, underscores)")
    return name


def _table_key(domain):
    return _host_name(domain, "domain")


def _one_line(value, what, example):
    if not isinstance(value, str) or not _ONE_LINE.fullmatch(value) or not value.strip():
        raise _invalid(what, value, f"{example} on one line, without control characters")
    return " ".join(value.split())


def split_list(value):
    """
    Split a Postfix list value (commas and/or whitespace) into its elements.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_mta.split_list '127.0.0.0/8, [::1]/128 $my_extra'
    """
    return _LIST_TOKEN.findall(value)


# -- Postfix text files (pure) -------------------------------------------------
# Postfix reads main.cf and table source files as logical lines: a line that
# starts with whitespace continues the logical line before it; blank lines and
# lines whose first non-blank character is "#" are comments (also between a
# logical line and its continuation).


def _split_lines(text):
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _is_comment(line):
    content = line.strip(_WHITESPACE)
    return not content or content.startswith("#")


def _logical_lines(lines):
    """``[first, last]`` line indexes of every logical line."""
    spans = []
    for index, line in enumerate(lines):
        if _is_comment(line):
            continue
        if line[0] in _WHITESPACE:
            if spans:  # Postfix ignores a continuation before any logical line
                spans[-1][1] = index
            continue
        spans.append([index, index])
    return spans


def _words(lines, first, last):
    return [word for line in lines[first : last + 1] if not _is_comment(line) for word in line.split()]


def _line_ending(line):
    return line[len(line.rstrip("\r\n")) :]


def table_entries(text):
    """
    Return the entries of a Postfix table source text as ``(key, value)``
    pairs, in file order: keys lowercased (postmap folds case), values
    whitespace-collapsed.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.table_entries "$(cat /etc/postfix/transport)"
    """
    lines = _split_lines(text)
    entries = []
    for first, last in _logical_lines(lines):
        words = _words(lines, first, last)
        entries.append((words[0].lower(), " ".join(words[1:])))
    return entries


def _find_entry(lines, key):
    for first, last in _logical_lines(lines):
        if lines[first].split()[0].lower() == key:
            return first, last
    return None


def table_value(text, key):
    """
    Return the value of the first entry for ``key`` in a table source text
    (the one postmap uses), or None.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.table_value "$(cat /etc/postfix/transport)" relay-to-webmail.private
    """
    return dict(reversed(table_entries(text))).get(key.lower())


def set_table_entry(text, key, value):
    """
    Return ``text`` with the first entry for ``key`` replaced in place by
    ``key value`` (the key and separator as written), or with the entry
    appended as a new last line. Every other byte is kept.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.set_table_entry "$(cat transport)" relay-to-webmail.private 'smtp:[portal]'
    """
    lines = _split_lines(text)
    found = _find_entry(lines, key.lower())
    if found is None:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append(f"{key} {value}\n")
    else:
        first, last = found
        written = re.match(r"\S+[ \t]+", lines[first])
        start = written.group(0) if written else f"{lines[first].split()[0]} "
        lines[first : last + 1] = [start + value + _line_ending(lines[last])]
    return "".join(lines)


def delete_table_entry(text, key):
    """
    Return ``text`` without the first entry for ``key`` (its line and
    continuation lines). Every other byte is kept.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.delete_table_entry "$(cat transport)" relay-to-webmail.private
    """
    lines = _split_lines(text)
    found = _find_entry(lines, key.lower())
    if found is not None:
        del lines[found[0] : found[1] + 1]
    return "".join(lines)


def _definitions(lines, parameter):
    """``(first, last, value_start)`` of every definition of ``parameter``; the last one is in effect."""
    pattern = re.compile(rf"{re.escape(parameter)}[ \t]*=")
    found = []
    for first, last in _logical_lines(lines):
        match = pattern.match(lines[first])
        if match:
            found.append((first, last, match.end()))
    return found


def _definition(lines, parameter):
    found = _definitions(lines, parameter)
    return found[-1] if found else None


def remove_definitions(text, parameter):
    """
    Return main.cf ``text`` without any definition of ``parameter`` (what
    ``postconf -X`` does).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_mta.remove_definitions "$(cat main.cf)" mynetworks
    """
    lines = _split_lines(text)
    for first, last, _ in reversed(_definitions(lines, parameter)):
        del lines[first : last + 1]
    return "".join(lines)


def _element_rows(lines, definition):
    """``(line_index, [(start, end), ...])`` of the list elements on each line of a definition."""
    first, last, value_start = definition
    rows = []
    for index in range(first, last + 1):
        line = lines[index]
        if index != first and _is_comment(line):
            continue
        start = value_start if index == first else 0
        body = line[: len(line.rstrip("\r\n"))]
        rows.append((index, [(m.start(), m.end()) for m in _LIST_TOKEN.finditer(body, start)]))
    return rows


def parameter_elements(text, parameter):
    """
    Return the list elements of ``parameter`` as defined in main.cf text
    (its last definition), or None when main.cf does not set it.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_mta.parameter_elements "$(cat /etc/postfix/main.cf)" mynetworks
    """
    lines = _split_lines(text)
    definition = _definition(lines, parameter)
    if definition is None:
        return None
    return [lines[index][start:end] for index, spans in _element_rows(lines, definition) for start, end in spans]


def parameter_value(text, parameter):
    """
    Return the value of ``parameter`` as main.cf text sets it (continuation
    lines joined, whitespace collapsed), or None when it is not set.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.parameter_value "$(cat /etc/postfix/main.cf)" transport_maps
    """
    lines = _split_lines(text)
    definition = _definition(lines, parameter)
    if definition is None:
        return None
    first, last, value_start = definition
    parts = [lines[first][value_start:]] + [line for line in lines[first + 1 : last + 1] if not _is_comment(line)]
    return " ".join(" ".join(parts).split())


def append_list_elements(text, parameter, elements):
    """
    Return main.cf ``text`` with ``elements`` appended to the definition of
    ``parameter`` (after its last element, ``, `` separated), or with a new
    ``parameter = elements`` line when main.cf does not set it.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_mta.append_list_elements "$(cat main.cf)" mynetworks '[192.0.2.10]'
    """
    addition = ", ".join(elements)
    lines = _split_lines(text)
    definition = _definition(lines, parameter)
    if definition is None:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append(f"{parameter} = {addition}\n")
        return "".join(lines)
    filled = [row for row in _element_rows(lines, definition) if row[1]]
    if filled:
        index, spans = filled[-1]
        end = spans[-1][1]
        lines[index] = f"{lines[index][:end]}, {addition}{lines[index][end:]}"
    else:
        line = lines[definition[0]]
        body = line.rstrip(_WHITESPACE)
        lines[definition[0]] = f"{body} {addition}{line[len(body):]}"
    return "".join(lines)


def remove_list_element(text, parameter, element):
    """
    Return main.cf ``text`` without the last occurrence of ``element`` in the
    definition of ``parameter``: the element and the separator before it go
    (the one after it when it starts a line), a continuation line left
    without elements is dropped, every other byte stays. Unchanged when the
    element is not there.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_mta.remove_list_element "$(cat main.cf)" mynetworks 192.0.2.10
    """
    lines = _split_lines(text)
    definition = _definition(lines, parameter)
    if definition is None:
        return text
    found = [
        (index, spans, position)
        for index, spans in _element_rows(lines, definition)
        for position, (start, end) in enumerate(spans)
        if lines[index][start:end] == element
    ]
    if not found:
        return text
    index, spans, position = found[-1]
    line = lines[index]
    start, end = spans[position]
    if position > 0:
        lines[index] = line[: spans[position - 1][1]] + line[end:]
    elif position + 1 < len(spans):
        lines[index] = line[:start] + line[spans[position + 1][0] :]
    elif index != definition[0]:
        lines[index] = ""
    else:
        lines[index] = line[:start].rstrip(" \t") + line[end:]
    return "".join(lines)


def _table_spec(entry):
    """``(type, path)`` of a ``transport_maps`` element this module can edit, or None."""
    spec = entry[len("proxy:") :] if entry.startswith("proxy:") else entry
    kind, colon, path = spec.partition(":")
    if not colon or kind not in TABLE_TYPES:
        return None
    if not os.path.isabs(path):
        raise CommandExecutionError(
            f"transport_maps: {entry} uses a relative path; this formula edits only tables with an absolute path"
        )
    return kind, path


# -- running Postfix commands ------------------------------------------------------


def _settings():
    return __salt__["ciphermail_split.host_settings"]()


def _run(settings, tool, args, ok_codes=(0,), config_dir=None):
    """Run ``<tool> -c <config_dir> args``; return the cmd.run_all result, raise on an unexpected exit code."""
    argv = [*settings[tool], "-c", config_dir or settings["postfix_config_dir"], *args]
    result = __salt__["cmd.run_all"](
        argv,
        python_shell=False,
        timeout=settings["postfix_timeout"],
        output_loglevel="quiet",
        ignore_retcode=True,
    )
    if result["retcode"] not in ok_codes:
        output = (result.get("stderr") or result.get("stdout") or "").strip()
        raise CommandExecutionError(f"{' '.join(argv)} failed (exit code {result['retcode']}): {output}")
    return result


def _postconf_values(settings, *parameters, expand=False, config_dir=None):
    """The values ``postconf -h`` shows for ``parameters`` (``-x``: ``$name`` expanded)."""
    flags = "-hx" if expand else "-h"
    output = _run(settings, "postconf", [flags, *parameters], config_dir=config_dir)["stdout"]
    values = output.split("\n")
    return [" ".join(value.split()) for value in values[: len(parameters)]] + [""] * (len(parameters) - len(values))


def _value_once_unset(settings, parameter, main_cf_text):
    """What ``postconf -h`` will show for ``parameter`` once main.cf no longer sets it."""
    try:
        with tempfile.TemporaryDirectory(prefix="ciphermail_mta.") as scratch:
            path = os.path.join(scratch, "main.cf")
            with open(path, "wb") as handle:
                handle.write(remove_definitions(main_cf_text, parameter).encode("utf-8", "surrogateescape"))
            # Postfix rereads a main.cf younger than ~2 s until it "cools down";
            # this scratch copy is complete, so let postconf read it at once.
            os.utime(path, (0, 0))
            return _postconf_values(settings, parameter, config_dir=scratch)[0]
    except OSError as exc:
        raise CommandExecutionError(f"Cannot work out the default of {parameter}: {exc}") from exc


def _main_cf(settings):
    return os.path.join(settings["postfix_config_dir"], "main.cf")


def _read(path):
    """The text of ``path`` (every byte kept), or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CommandExecutionError(f"Cannot read {path}: {exc}") from exc


def _write(path, text):
    """Replace ``path`` atomically, keeping its mode and owner (a new file: 0644)."""
    directory, name = os.path.split(path)
    try:
        try:
            existing = os.stat(path)
        except FileNotFoundError:
            existing = None
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(text.encode("utf-8", "surrogateescape"))
                stream.flush()
                os.fsync(stream.fileno())
            if existing is None:
                os.chmod(temporary, 0o644)
            else:
                os.chmod(temporary, stat.S_IMODE(existing.st_mode))
                if (existing.st_uid, existing.st_gid) != (os.getuid(), os.getgid()):
                    os.chown(temporary, existing.st_uid, existing.st_gid)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        directory_handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_handle)
        finally:
            os.close(directory_handle)
    except OSError as exc:
        raise CommandExecutionError(f"Cannot write {path}: {exc}") from exc


def main_cf_get(parameter):
    """
    Return the value ``main.cf`` itself sets for ``parameter`` (continuation
    lines joined, whitespace collapsed), or None when it is not set there
    (Postfix then uses its default).

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.main_cf_get transport_maps
    """
    parameter = parameter_name(parameter)
    return parameter_value(_read(_main_cf(_settings())) or "", parameter)


def main_cf_set(parameter, value=None, test=False):
    """
    Set ``parameter`` in ``main.cf`` with ``postconf -e`` (``value`` None:
    remove it with ``postconf -X``, so Postfix uses its default). Returns
    ``{"old": ..., "new": ...}`` as ``postconf -h`` shows the value, or ``{}``
    when main.cf already says so.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.main_cf_set transport_maps hash:/etc/postfix/transport
        salt main-gw ciphermail_mta.main_cf_set transport_maps test=True
    """
    parameter = parameter_name(parameter)
    if value is not None:
        value = _one_line(value, "value", "a parameter value")
    settings = _settings()
    return _set_main_cf(settings, parameter, value, test)


def _set_main_cf(settings, parameter, value, test):
    text = _read(_main_cf(settings)) or ""
    if parameter_value(text, parameter) == value:
        return {}
    old = _postconf_values(settings, parameter)[0]
    new = _value_once_unset(settings, parameter, text) if value is None else value
    change = {"old": old, "new": new}
    if test:
        return change
    _run(settings, "postconf", ["-X", parameter] if value is None else ["-e", f"{parameter}={value}"])
    shown = _postconf_values(settings, parameter)[0]
    if shown != change["new"]:
        raise CommandExecutionError(
            f"postconf -h {parameter} shows {shown!r} after the change; expected {change['new']!r}"
        )
    return change


# -- the transport table -----------------------------------------------------------


def _transport_table(settings):
    maps, default_type = _postconf_values(settings, "transport_maps", "default_database_type", expand=True)
    for entry in split_list(maps):
        spec = _table_spec(entry)
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
    """What ``postmap -q`` finds for ``key`` (None: nothing, or no database built yet)."""
    if not all(os.path.exists(table["path"] + suffix) for suffix in TABLE_TYPES[table["type"]]):
        return None  # no database (postmap -q would also pause a second on its fatal error)
    result = _run(settings, "postmap", ["-q", key, table["table"]], ok_codes=(0, 1))
    if result["retcode"] == 0:
        return " ".join(result["stdout"].split())
    error = (result.get("stderr") or "").strip()
    if "fatal:" in error and "open database" not in error:
        raise CommandExecutionError(f"postmap -q {key} {table['table']} failed: {error}")
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
    key = _table_key(domain)
    table = _transport_table(_settings())
    return table_value(_read(table["path"]) or "", key)


def transport_lookup(domain):
    """
    Return what Postfix finds for ``domain`` in the transport table
    (``postmap -q``), or None.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.transport_lookup relay-to-webmail.private
    """
    key = _table_key(domain)
    settings = _settings()
    return _lookup(settings, _transport_table(settings), key)


def transport_set(domain, nexthop, test=False):
    """
    Route ``domain`` to ``nexthop`` (e.g. ``smtp:[portal.example.net]``) in
    the transport table: replace the domain's entry in place or append one,
    run postmap, verify with ``postmap -q``. When ``transport_maps`` is
    empty, create ``<config_dir>/transport`` (``default_database_type``) and
    configure it. Also rebuilds a stale database (``postmap -q`` disagrees
    with the file).

    Returns ``{"table": "type:path", "changes": {...}}`` with changes among
    ``nexthop``, ``transport_file`` (created), ``transport_maps`` and
    ``postmap`` (``{"old": "stale", "new": "rebuilt"}``).

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.transport_set relay-to-webmail.private 'smtp:[portal.example.net]' test=True
    """
    key = _table_key(domain)
    value = _one_line(nexthop, "nexthop", "a transport such as smtp:[portal.example.net]")
    settings = _settings()
    table = _transport_table(settings)
    text = _read(table["path"])
    current = table_value(text or "", key)
    changes = {}
    if not table["configured"]:
        changes["transport_maps"] = {"old": table["maps"], "new": table["table"]}
        if text is None:
            changes["transport_file"] = {"old": None, "new": table["path"]}
    if current != value:
        changes["nexthop"] = {"old": current, "new": value}
    elif TABLE_TYPES[table["type"]] and _lookup(settings, table, key) != value:
        changes["postmap"] = {"old": "stale", "new": "rebuilt"}
    if changes and not test:
        if "nexthop" in changes:
            _write(table["path"], set_table_entry(text or "", key, value))
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
    key = _table_key(domain)
    settings = _settings()
    table = _transport_table(settings)
    text = _read(table["path"])
    if text is None:
        return {"table": table["table"], "changes": {}, "entries_left": None}
    current = table_value(text, key)
    remaining = delete_table_entry(text, key) if current is not None else text
    changes = {}
    if current is not None:
        changes["nexthop"] = {"old": current, "new": table_value(remaining, key)}
        if not test:
            _write(table["path"], remaining)
            _rebuild(settings, table, key, changes["nexthop"]["new"])
    return {"table": table["table"], "changes": changes, "entries_left": len(table_entries(remaining))}


def transport_file_remove(table):
    """
    Delete the source file of a transport table (``type:path``) and the
    database files postmap built from it. Refused while the file still has
    entries or ``transport_maps`` still uses it. Returns
    ``{"old": path, "new": None}``, or ``{}`` when there is no file.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_mta.transport_file_remove hash:/etc/postfix/transport
    """
    spec = _table_spec(table) if isinstance(table, str) else None
    if spec is None:
        raise _invalid("table", table, f"type:/absolute/path with a type among {', '.join(sorted(TABLE_TYPES))}")
    kind, path = spec
    settings = _settings()
    text = _read(path)
    if text is None:
        return {}
    if table_entries(text):
        raise CommandExecutionError(f"Not removing {path}: it still has entries")
    maps = _postconf_values(settings, "transport_maps", expand=True)[0]
    if any(_table_spec(entry) == spec for entry in split_list(maps)):
        raise CommandExecutionError(f"Not removing {path}: transport_maps = {maps} uses it")
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
    parameter = parameter_name(parameter)
    return split_list(_postconf_values(_settings(), parameter)[0])


def mynetworks_entries(addresses, allow_networks=False):
    """
    Return the ``mynetworks`` entries (see :func:`mynetworks_entry`) of a
    list of addresses (a single string is one address), without duplicates.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_mta.mynetworks_entries '[192.0.2.10, 2001:db8::10]'
    """
    if addresses is None:
        return []
    if isinstance(addresses, str):
        addresses = [addresses]
    if not isinstance(addresses, (list, tuple)):
        raise _invalid("addresses", addresses, "a list of IP addresses")
    return list(dict.fromkeys(mynetworks_entry(address, allow_networks) for address in addresses))


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
    are left, remove the parameter from main.cf (``postconf -X``) instead.

    Returns ``parameter``, ``old`` and ``new`` (the elements as postconf
    shows them), ``added``, ``removed``, ``materialised`` (the default
    written out, or None) and ``unset``.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_mta.mynetworks_update add='[192.0.2.10]' test=True
    """
    parameter = parameter_name(parameter)
    add = mynetworks_entries(add, allow_networks)
    remove = mynetworks_entries(remove, allow_networks=True)
    if set(add) & set(remove):
        raise _invalid("remove", remove, f"entries not also in add ({', '.join(sorted(set(add) & set(remove)))})")
    settings = _settings()
    path = _main_cf(settings)
    text = _read(path)
    if text is None:
        raise CommandExecutionError(f"{path} does not exist")
    defined = parameter_elements(text, parameter)
    old = split_list(_postconf_values(settings, parameter)[0]) if defined is None else defined
    added = [entry for entry in add if not any(_same_network(element, entry) for element in old)]
    removed = [entry for entry in remove if defined is not None and entry in defined]
    edited = text
    for entry in removed:
        edited = remove_list_element(edited, parameter, entry)
    materialised = old if defined is None and added else None
    if added:
        edited = append_list_elements(edited, parameter, (materialised or []) + added)
    new = parameter_elements(edited, parameter) if edited != text else old
    unset = defined is not None and unset_if_left is not None and new == list(unset_if_left)
    if unset:
        new = split_list(_value_once_unset(settings, parameter, text))
    result = {
        "parameter": parameter,
        "old": old,
        "new": new,
        "added": added,
        "removed": removed,
        "materialised": materialised,
        "unset": unset,
    }
    if test or (edited == text and not unset):
        return result
    if unset:
        _run(settings, "postconf", ["-X", parameter])
    else:
        _write(path, edited)
    shown = split_list(_postconf_values(settings, parameter)[0])
    if shown != new:
        _write(path, text)
        raise CommandExecutionError(
            f"postconf -h {parameter} shows {shown} after editing {path}; expected {new}. "
            f"{path} was put back as it was."
        )
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
    running = _run(settings, "postfix", ["status"], ok_codes=(0, 1))["retcode"] == 0
    if running:
        _run(settings, "postfix", ["reload"])
        log.info("Reloaded Postfix (%s)", settings["postfix_config_dir"])
    return {"running": running, "reloaded": running}
