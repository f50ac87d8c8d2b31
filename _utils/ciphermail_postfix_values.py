"""
The values the ciphermail_split formula writes into Postfix, built and
checked in pure Python (no Salt loader, no file or process I/O): transport
nexthops for one portal node or a list of them (built, and read back as
host and port), the Postfix release that takes a list, ``mynetworks``
entries, parameter names, Postfix list splitting, network equivalence, and
the lookup tables the formula edits (``transport_maps``,
``smtp_tls_policy_maps``): which one, and the types it can edit.

Imported as a plain module by ``_modules/ciphermail_mta.py``,
``_states/ciphermail_mta.py`` and ``ciphermail_postfix_text`` (Salt puts
synced ``_utils`` on the import path of execution and state modules).
Invalid input raises ``SaltInvocationError`` naming what was given and what
is expected.
"""

import ipaddress
import os
import re

from ciphermail_split_errors import invalid
from salt.exceptions import CommandExecutionError, SaltInvocationError

#: Table types whose source file the formula edits, with the database file
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

#: The lookup tables the formula edits, by the main.cf parameter that lists
#: them: the file it creates when the parameter is empty, and the table it
#: creates that file beside (same directory, same type).
TABLES = {
    "transport_maps": {"file": "transport", "beside": None},
    "smtp_tls_policy_maps": {"file": "tls_policy", "beside": "transport_maps"},
}

#: One element of a Postfix list: words split on commas/whitespace, a
#: ``{...}`` group (e.g. ``inline:{ a=b, c=d }``) kept whole.
LIST_TOKEN = re.compile(r"(?:\{[^{}]*\}|[^\s,])+")

_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)
_PARAMETER_NAME = re.compile(r"[a-z][a-z0-9_]{0,99}", re.IGNORECASE)
_PORT_TEXT = re.compile(r"[0-9]{1,5}")
_PREFIX_TEXT = re.compile(r"/[0-9]{1,3}")
_ONE_LINE = re.compile(r"[^\x00-\x1f\x7f]+")
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")



def _ip_address(value):
    """The address ``value`` is written as, or None when it is not a plain IP address."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    return None if getattr(address, "scope_id", None) else address


def _unmapped(address):
    """
    ``address`` (an IP address or network) in the form Postfix matches: an
    IPv4-mapped IPv6 one (``::ffff:192.0.2.10``) as IPv4, since Postfix sees
    such a client as plain IPv4 (``192.0.2.10``) and would never match it.
    """
    if isinstance(address, ipaddress.IPv6Address):
        return address.ipv4_mapped or address
    if isinstance(address, ipaddress.IPv6Network) and address.prefixlen >= 96 and address.subnet_of(_IPV4_MAPPED):
        return ipaddress.IPv4Network((int(address.network_address) & 0xFFFFFFFF, address.prefixlen - 96))
    return address


def _host_name(value, what):
    labels = value.split(".") if isinstance(value, str) and len(value) <= 253 else [""]
    if not all(_HOST_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise invalid(what, value, "a host name (letters, digits, hyphens, dot-separated labels) or an IP address")
    return value.lower()


def port_number(value):
    """``value`` as a TCP port number (an int or digits, 1-65535), else raise."""
    if isinstance(value, str) and _PORT_TEXT.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise invalid("port", value, "an integer from 1 to 65535")
    return value


def _host(value, what):
    """``(address, host)`` of a plain host name or IP address: the address (None for a name), the host written back."""
    address = _ip_address(value) if isinstance(value, str) else None
    if address is None:
        return None, _host_name(value, what)
    address = _unmapped(address)
    return address, address.compressed


def portal_nodes(hosts, what="host"):
    """
    The portal nodes ``hosts`` names, in order: one host name or IP address,
    or a list of them (each once). Returned as they are written in a
    nexthop: lowercase names, compressed addresses.
    """
    given = [hosts] if isinstance(hosts, str) or not isinstance(hosts, (list, tuple)) else list(hosts)
    if not given:
        raise invalid(what, hosts, "a host name or IP address, or a list of them")
    nodes = [_host(host, what)[1] for host in given]
    repeated = sorted({node for node in nodes if nodes.count(node) > 1})
    if repeated:
        raise invalid(what, hosts, f"each portal node once ({', '.join(repeated)} is given twice)")
    return nodes


def nexthop_elements(hosts, port=None):
    """
    The destinations of a transport entry to ``hosts`` (see
    :func:`portal_nodes`), one per node as Postfix writes and looks it up in
    ``smtp_tls_policy_maps``: ``[portal.example.net]``, ``[192.0.2.20]:2525``,
    ``[ipv6:2001:db8::20]``.
    """
    port = None if port is None else port_number(port)
    elements = []
    for node in portal_nodes(hosts):
        address = _ip_address(node)
        target = f"ipv6:{node}" if address is not None and address.version == 6 else node
        elements.append(f"[{target}]" if port is None else f"[{target}]:{port}")
    return elements


def nexthop(host, port=None):
    """
    The transport nexthop that delivers to ``host`` by SMTP without MX
    lookup: ``smtp:[portal.example.net]``, ``smtp:[192.0.2.20]:2525``,
    ``smtp:[ipv6:2001:db8::20]``. ``host``: a plain host name or IP address
    (an IPv4-mapped IPv6 one is written as IPv4),
    or a list of them, the portal nodes tried in order: ``smtp:[a]:25, [b]:25``
    (Postfix 3.5 and later; one transport, then the nexthops, so each
    element after the first has no ``smtp:``). ``port``: 1-65535 or None.
    """
    return "smtp:" + ", ".join(nexthop_elements(host, port))


def nexthop_list_elements(value):
    """
    The destinations of a transport entry's nexthop field, without its
    transport: ``smtp:[a]:25, [b]:25`` -> ``["[a]:25", "[b]:25"]``; a value
    without a transport (``[a]``) is taken as it is. Each is what Postfix
    looks up in ``smtp_tls_policy_maps``.
    """
    elements = split_list(value) if isinstance(value, str) else []
    if elements and not elements[0].startswith("["):
        transport, colon, rest = elements[0].partition(":")
        if colon and "." not in transport and rest:
            elements[0] = rest
    return elements


def multiple_nexthops(value):
    """True when the transport value ``value`` lists more than one nexthop (Postfix 3.5 and later)."""
    return len(nexthop_list_elements(value)) > 1


#: The first Postfix release that takes a list of nexthops in a transport entry.
NEXTHOP_LISTS_SINCE = (3, 5)


#: The ``postconf`` arguments that print this Postfix's version (``mail_version``).
MAIL_VERSION_QUERY = ("-dh", "mail_version")


def postfix_release(version):
    """``(major, minor)`` of a Postfix ``mail_version`` such as ``3.7.11``, else raise."""
    match = re.match(r"(\d+)\.(\d+)", version) if isinstance(version, str) else None
    if match is None:
        raise invalid("mail_version", version, "a Postfix version such as 3.7.11")
    return int(match[1]), int(match[2])


def nexthop_lists_refusal(version):
    """
    Why this Postfix (``mail_version`` ``version``) cannot take a list of
    nexthops, or None when it can.
    """
    if postfix_release(version) >= NEXTHOP_LISTS_SINCE:
        return None
    since = ".".join(map(str, NEXTHOP_LISTS_SINCE))
    return (
        f"Postfix {version} on this gateway takes one nexthop per transport entry; "
        f"a list needs Postfix {since} or later"
    )


def helo_name(value):
    """
    The EHLO name for ``value``: a host name as it is, an IP address as an
    address literal (``[192.0.2.10]``, ``[IPv6:2001:db8::10]``).
    """
    address, host = _host(value, "helo")
    if address is None:
        return host
    return f"[{host}]" if address.version == 4 else f"[IPv6:{host}]"


_DESTINATION = re.compile(r"(?:(?P<transport>[^:\[\]]*):)?\[(?P<target>[^\[\]]*)\](?::(?P<port>.*))?", re.DOTALL)
_IPV6_TAG = "ipv6:"


def nexthop_destination(value, what="nexthop"):
    """
    ``(host, port)`` of an SMTP destination that Postfix reaches without MX
    lookup, read back from what :func:`nexthop` writes
    (``smtp:[portal.example.net]``, ``smtp:[192.0.2.20]:2525``,
    ``smtp:[ipv6:2001:db8::20]``) or an admin writes (``smtp:[2001:db8::20]``,
    the same without ``smtp:``, or a plain host name or address). ``host``
    comes back plain (lowercase name, compressed address, no ``ipv6:``);
    ``port`` is None when the destination names none (SMTP's 25).
    ``smtp:host`` is refused: Postfix would look up MX records for it.
    """
    expected = (
        "an SMTP destination without MX lookup: a host name or IP address, [host], [host]:port "
        "or [ipv6:address], optionally after smtp: (e.g. smtp:[192.0.2.20]:2525)"
    )
    match = _DESTINATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        if not isinstance(value, str) or (":" in value and _ip_address(value) is None):
            raise invalid(what, value, expected)
        return _host(value, what)[1], None
    if match["transport"] not in (None, "smtp"):
        raise invalid(what, value, expected)
    target = match["target"]
    if target[: len(_IPV6_TAG)].lower() == _IPV6_TAG:
        target = target[len(_IPV6_TAG) :]
        address = _ip_address(target)
        if address is None or address.version != 6:
            raise invalid(what, value, expected)
    try:
        host = _host(target, what)[1]
        port = None if match["port"] is None else port_number(match["port"])
    except SaltInvocationError as exc:
        raise invalid(what, value, expected) from exc
    return host, port


def nexthop_destinations(value, what="nexthop"):
    """
    The destinations of a transport nexthop field, or of what an admin gives
    for one, each as ``{"key", "host", "port"}``: one destination as
    :func:`nexthop_destination` reads it, a list of them, or a nexthop list
    as a transport entry writes it (``smtp:[a]:25, [b]:25``; after the first,
    each in brackets, without a transport). ``key`` is the destination as
    Postfix looks it up in ``smtp_tls_policy_maps`` (as written, without
    the transport; None for a plain host, which Postfix would look up in DNS).
    """
    listed = isinstance(value, (list, tuple))
    items = list(value) if listed else split_list(value) if isinstance(value, str) else [value]
    if not items or (not listed and len(items) > 1 and any(not item.startswith("[") for item in items[1:])):
        raise invalid(what, value, "one destination, or destinations in brackets separated by commas")
    destinations = []
    for item in items:
        host, port = nexthop_destination(item, what if len(items) == 1 and not listed else f"{what} element")
        match = _DESTINATION.fullmatch(item)
        key = None if match is None else item[len(match["transport"]) + 1 :] if match["transport"] is not None else item
        destinations.append({"key": key and key.lower(), "host": host, "port": port})
    return destinations


def destinations_on_port(destinations, port=None, default=25):
    """
    ``destinations`` (see :func:`nexthop_destinations`) with ``port`` (the
    port an admin gives, or None) applied: a destination that names another
    port is refused; each gets a port (``default`` when none is named) and a
    ``key`` (a plain host's bracketed, with the given port).
    """
    if port is not None:
        port = port_number(port)
    placed = []
    for destination in destinations:
        named = destination["port"]
        if port is not None and named is not None and port != named:
            raise invalid("port", port, f"none, or the port the destination names ({named})")
        key = destination["key"]
        if key is None or (port is not None and named is None):
            key = nexthop_elements([destination["host"]], port)[0]
        placed.append({**destination, "key": key, "port": named or port or default})
    return placed


def policy_key(value, what="nexthop"):
    """
    The ``smtp_tls_policy_maps`` key of one bracketed nexthop, as a transport
    entry writes it (``[portal.example.net]``, ``[192.0.2.20]:2525``,
    ``[ipv6:2001:db8::20]``): Postfix looks each nexthop up exactly so.
    """
    if not isinstance(value, str) or not value.startswith("["):
        raise invalid(what, value, "a nexthop in brackets: [host], [host]:port or [ipv6:address]")
    nexthop_destination(value, what)
    return value.lower()


def table_key(domain):
    """The transport table key of ``domain`` (a host name, lowercased)."""
    return _host_name(domain, "domain")


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
    """``network`` written the way the formula writes ``mynetworks`` entries."""
    if network.version == 4:
        return str(network.network_address) if network.num_addresses == 1 else str(network)
    return f"[{network.network_address.compressed}]/{network.prefixlen}"


def _exact_network(token):
    """True when ``token`` has no host bits set below its prefix."""
    network = _network(token)
    text = token.replace("[", "").replace("]", "")
    return network is not None and ipaddress.ip_address(text.partition("/")[0]) == network.network_address


def same_network(token, entry):
    """
    True when the ``mynetworks`` element ``token`` is the entry ``entry``
    written another way (``192.0.2.10/32`` is ``192.0.2.10``).
    """
    network = _network(token)
    return token == entry or (network is not None and _exact_network(token) and network == _network(entry))


def mynetworks_entry(address, allow_networks=False):
    """
    The ``mynetworks`` entry for ``address``: an IPv4 host bare
    (``192.0.2.10``), an IPv6 host bracketed (``[2001:db8::10]/128``), an
    IPv4-mapped IPv6 address (``::ffff:192.0.2.10``) as IPv4.
    Networks only with ``allow_networks``; ``/0`` is always refused.
    """
    network = _network(address) if isinstance(address, str) else None
    if network is None:
        raise invalid("address", address, "an IPv4 or IPv6 address, e.g. 192.0.2.10 or 2001:db8::10")
    network = _unmapped(network)
    canonical = _network_entry(network)
    if network.prefixlen == 0:
        raise invalid(
            "address", address, "a host or a network, never every address (the portal would be an open relay)"
        )
    if not _exact_network(address):
        raise invalid("address", address, f"a network address without host bits set, e.g. {canonical}")
    if network.num_addresses > 1 and not allow_networks:
        raise invalid(
            "address",
            address,
            f"a single host address: the portal would relay mail for the whole range {canonical} "
            "(set allow_networks to allow a network)",
        )
    return canonical


def mynetworks_entries(addresses, allow_networks=False):
    """
    The ``mynetworks`` entries (see :func:`mynetworks_entry`) of a list of
    addresses (a single string is one address, None none), without duplicates.
    """
    if addresses is None:
        return []
    if isinstance(addresses, str):
        addresses = [addresses]
    if not isinstance(addresses, (list, tuple)):
        raise invalid("addresses", addresses, "a list of IP addresses")
    return list(dict.fromkeys(mynetworks_entry(address, allow_networks) for address in addresses))


def mynetworks_changes(add, remove, allow_networks=False):
    """
    The entries of a ``mynetworks`` edit as ``(add, remove)``: ``add``
    networks only with ``allow_networks``, ``remove`` any entry, none in both.
    """
    add = mynetworks_entries(add, allow_networks)
    remove = mynetworks_entries(remove, allow_networks=True)
    both = set(add) & set(remove)
    if both:
        raise invalid("remove", remove, f"entries not also in add ({', '.join(sorted(both))})")
    return add, remove


def parameter_name(name):
    """``name`` if it is a valid Postfix parameter name, else raise."""
    if not isinstance(name, str) or not _PARAMETER_NAME.fullmatch(name):
        raise invalid("parameter", name, "a Postfix parameter name (letters, digits, underscores)")
    return name


def one_line(value, what, example):
    """``value`` whitespace-collapsed, when it is a non-blank line without control characters."""
    if not isinstance(value, str) or not _ONE_LINE.fullmatch(value) or not value.strip():
        raise invalid(what, value, f"{example} on one line, without control characters")
    return " ".join(value.split())


def split_list(value):
    """The elements of a Postfix list value (split on commas and/or whitespace)."""
    return LIST_TOKEN.findall(value)


def table_spec(entry, parameter="transport_maps"):
    """
    ``(type, path)`` of an element of the table list ``parameter`` that the
    formula can edit (``proxy:`` allowed), or None; a relative path is refused.
    """
    spec = entry[len("proxy:") :] if entry.startswith("proxy:") else entry
    kind, colon, path = spec.partition(":")
    if not colon or kind not in TABLE_TYPES:
        return None
    if not os.path.isabs(path):
        raise CommandExecutionError(
            f"{parameter}: {entry} uses a relative path; this formula edits only tables with an absolute path"
        )
    return kind, path


#: Table types Postfix treats as patterns (``DICT_FLAG_PATTERN``): it asks
#: them for a transport with the full address only, never the domain.
PATTERN_TABLE_TYPES = ("regexp", "pcre", "cidr", "tcp", "socketmap", "randmap", "fail")
_COMPOSITE_TABLE_TYPES = ("unionmap", "pipemap")


def query_name(entry):
    """The ``transport_maps`` element ``entry`` as ``postmap -q`` opens it (``proxy:`` gives the same answers)."""
    return entry[len("proxy:") :] if entry.startswith("proxy:") else entry


def is_pattern_table(entry):
    """True when Postfix asks the table ``entry`` for full addresses only (a composite: as its first table)."""
    kind, _, rest = query_name(entry).partition(":")
    if kind in _COMPOSITE_TABLE_TYPES:
        inner = split_list(rest.strip()[1:-1]) if rest.strip().startswith("{") else []
        return bool(inner) and is_pattern_table(inner[0])
    return kind in PATTERN_TABLE_TYPES


def transport_lookups(entries, domain, local_part):
    """
    The ``(key, table)`` lookups Postfix's trivial-rewrite makes for mail to
    ``local_part@domain`` with ``transport_maps`` = ``entries``, in its
    order: the full address in every table, then the domain in each
    fixed-string table (not the parent domains or ``*``, asked only after).
    """
    address = f"{local_part}@{domain}"
    return [(address, entry) for entry in entries] + [
        (domain, entry) for entry in entries if not is_pattern_table(entry)
    ]


def transport_lookups_before(entries, ours, domain, local_part):
    """
    The lookups of :func:`transport_lookups` that Postfix makes before it
    reaches ``domain`` in the table ``ours`` (``type:path``); ``[]`` when
    ``ours`` is not among ``entries``.
    """
    specs = [table_spec(entry) for entry in entries]
    position = next((index for index, spec in enumerate(specs) if spec and ":".join(spec) == ours), None)
    if position is None:
        return []
    lookups = transport_lookups(entries, domain, local_part)
    return lookups[: lookups.index((domain, entries[position]))]


def table_parameter(parameter):
    """``parameter`` if it names a table list the formula edits (:data:`TABLES`), else raise."""
    if parameter not in TABLES:
        raise invalid("parameter", parameter, f"one of {', '.join(TABLES)}")
    return parameter


def editable_table(parameter, maps, default_type, default_dir):
    """
    The table of the list ``parameter`` (its value ``maps``, ``$name``
    expanded) that the formula edits: the first file-based one, ``configured``.
    When ``maps`` is empty, the table the formula would create and configure:
    ``<default_type>:<default_dir>/<file>`` (``configured`` False). Returns
    ``table`` (``type:path``), ``type``, ``path``, ``configured`` and ``maps``.
    """
    for entry in split_list(maps):
        spec = table_spec(entry, parameter)
        if spec is not None:
            kind, path = spec
            return {"table": f"{kind}:{path}", "type": kind, "path": path, "configured": True, "maps": maps}
    if maps:
        raise CommandExecutionError(
            f"{parameter} = {maps} has no table this formula can edit "
            f"(one of {', '.join(sorted(TABLE_TYPES))} with an absolute path)"
        )
    if default_type not in TABLE_TYPES:
        raise CommandExecutionError(
            f"default_database_type = {default_type} is not a table type postmap builds from a file"
        )
    path = os.path.join(default_dir, TABLES[parameter]["file"])
    if re.search(r"[\s,{}]", path):
        raise CommandExecutionError(f"Cannot use {path} as a Postfix table: the path has whitespace, commas or braces")
    return {"table": f"{default_type}:{path}", "type": default_type, "path": path, "configured": False, "maps": maps}


def table_file(table):
    """``(type, path)`` of a table given as ``type:/absolute/path``, else raise."""
    spec = table_spec(table) if isinstance(table, str) else None
    if spec is None:
        raise invalid("table", table, f"type:/absolute/path with a type among {', '.join(sorted(TABLE_TYPES))}")
    return spec
