"""
Property-based tests (hypothesis) of the Postfix builders and text edits:
transport table lines, mynetworks values and nexthops. The admin's content
round-trips unchanged; no generated value can put a line break, a second
table entry, a second list element or a shell metacharacter into a file or
an argument.
"""

import ipaddress
import re

import ciphermail_postfix_text as text_edit
import ciphermail_postfix_values as values
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from salt.exceptions import SaltInvocationError

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OURS = "relay-to-webmail.private"
#: What a nexthop the formula writes may look like: one token, no shell syntax.
NEXTHOP = re.compile(r"smtp:\[(ipv6:[0-9a-f:.]+|[0-9.]+|[a-z0-9.-]+)\](:[0-9]{1,5})?")

labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
domains = st.lists(labels, min_size=2, max_size=4).map(".".join).filter(lambda d: d != OURS)
hostnames = st.lists(labels, min_size=1, max_size=4).map(".".join).filter(lambda h: not h.split(".")[-1].isdigit())
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
ports = st.integers(min_value=1, max_value=65535)
comment_lines = st.from_regex(r"[ \t]*#[ -~]{0,30}", fullmatch=True)
admin_values = st.from_regex(r"(smtp|relay|lmtp):\[[a-z0-9.-]{1,20}\](:[0-9]{1,4})?", fullmatch=True)


@st.composite
def transport_files(draw):
    """An admin's transport source: entries (some continued), comments, blank lines."""
    lines = []
    for key in draw(st.lists(domains, unique=True, max_size=6)):
        lines.extend(draw(st.lists(st.one_of(comment_lines, st.just("")), max_size=2)))
        value = draw(admin_values)
        separator = draw(st.sampled_from([" ", "\t", "   "]))
        if draw(st.booleans()):
            lines.append(f"{key}{separator}{value}")
        else:
            lines.append(key)
            lines.append(f"    {value}")
    trailing = draw(st.booleans())
    return "\n".join(lines) + ("\n" if trailing and lines else "")


@SETTINGS
@given(transport_files(), st.one_of(hostnames, ipv4, ipv6), st.none() | ports)
def test_our_transport_entry_round_trips_and_keeps_the_admins(text, host, port):
    nexthop = values.nexthop(host, port)
    with_ours = text_edit.set_table_entry(text, OURS, nexthop)
    assert text_edit.table_value(with_ours, OURS) == nexthop
    theirs = [(key, value) for key, value in text_edit.table_entries(with_ours) if key != OURS]
    assert theirs == text_edit.table_entries(text)
    without = text_edit.delete_table_entry(with_ours, OURS)
    assert text_edit.table_entries(without) == text_edit.table_entries(text)
    assert without.rstrip("\n") == text.rstrip("\n")
    # Exactly one line more than the admin's: ours.
    assert with_ours.count("\n") - text.count("\n") <= 2


@SETTINGS
@given(st.one_of(hostnames, ipv4, ipv6), st.none() | ports)
def test_a_nexthop_is_one_token_without_shell_syntax(host, port):
    nexthop = values.nexthop(host, port)
    assert NEXTHOP.fullmatch(nexthop), nexthop
    if port is not None:
        assert nexthop.endswith(f":{port}")


@SETTINGS
@given(st.one_of(hostnames, ipv4, ipv6), st.none() | ports)
def test_a_nexthop_reads_back_as_its_host_and_port(host, port):
    try:
        address = ipaddress.ip_address(host)
        # An IPv4-mapped IPv6 address is written as the IPv4 address Postfix connects to.
        plain = (getattr(address, "ipv4_mapped", None) or address).compressed
    except ValueError:
        plain = host.lower()
    assert values.nexthop_destination(values.nexthop(host, port)) == (plain, port)


@SETTINGS
@given(st.text(max_size=30))
def test_an_arbitrary_host_is_either_refused_or_a_plain_name_or_address(host):
    try:
        nexthop = values.nexthop(host)
    except SaltInvocationError as exc:
        assert repr(host) in str(exc)
        return
    assert NEXTHOP.fullmatch(nexthop), nexthop


@SETTINGS
@given(st.one_of(st.integers(), st.text(max_size=6), st.booleans()))
def test_only_ports_from_1_to_65535_pass(port):
    try:
        nexthop = values.nexthop("portal.example.net", port)
    except SaltInvocationError:
        assert isinstance(port, bool) or not re.fullmatch(r"[0-9]{1,5}", str(port)) or not 1 <= int(port) <= 65535
        return
    assert 1 <= int(nexthop.rsplit(":", 1)[1]) <= 65535


# -- mynetworks ---------------------------------------------------------------------

admin_elements = st.one_of(
    ipv4,
    st.builds(
        lambda address, prefix: str(ipaddress.ip_network(f"{address}/{prefix}", strict=False)),
        st.ip_addresses(v=4),
        st.integers(min_value=8, max_value=32),
    ),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]/128"),
    st.from_regex(r"\$[a-z_]{1,10}", fullmatch=True),
    st.from_regex(r"(hash|cidr):/etc/postfix/[a-z]{1,8}", fullmatch=True),
)


@st.composite
def main_cf_files(draw):
    """A main.cf whose mynetworks value spans lines, with comments around."""
    elements = draw(st.lists(admin_elements, min_size=1, max_size=8, unique=True))
    rows, row = [], []
    for element in elements:
        row.append(element)
        if draw(st.booleans()):
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    separator = draw(st.sampled_from([", ", " ", ",\t"]))
    value_lines = [separator.join(rows[0])] + [f"    {separator.join(r)}" for r in rows[1:]]
    text = "# main.cf of the admin\nmyhostname = portal.example.net\nmynetworks = " + "\n".join(value_lines)
    text += "\n# after\nrelayhost =\n"
    return text, elements


@SETTINGS
@given(main_cf_files(), st.one_of(ipv4, ipv6))
def test_our_mynetworks_entry_round_trips_and_keeps_the_admins(main_cf, address):
    text, elements = main_cf
    entry = values.mynetworks_entry(address)
    assume(not any(values.same_network(element, entry) for element in elements))
    with_ours = text_edit.append_list_elements(text, "mynetworks", [entry])
    assert text_edit.parameter_elements(with_ours, "mynetworks") == elements + [entry]
    without = text_edit.remove_list_element(with_ours, "mynetworks", entry)
    assert text_edit.parameter_elements(without, "mynetworks") == elements
    assert without == text


@SETTINGS
@given(st.text(max_size=40), st.booleans())
def test_a_mynetworks_entry_is_one_single_address_element(address, allow_networks):
    try:
        entry = values.mynetworks_entry(address, allow_networks)
    except SaltInvocationError:
        return
    assert values.split_list(entry) == [entry]
    network = ipaddress.ip_network(entry.replace("[", "").replace("]", ""))
    assert network.prefixlen > 0
    if not allow_networks:
        assert network.num_addresses == 1
    assert not re.search(r"[\s,;|&$`<>*]", entry)


@SETTINGS
@given(st.sampled_from(["0.0.0.0/0", "::/0", "*", "0/0", "[::]/0"]), st.booleans())
def test_every_address_is_never_accepted(address, allow_networks):
    try:
        values.mynetworks_entry(address, allow_networks)
    except SaltInvocationError:
        return
    raise AssertionError(f"{address} was accepted")
