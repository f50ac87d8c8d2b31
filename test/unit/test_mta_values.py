"""
The values ciphermail_mta writes into Postfix (ciphermail_postfix_values):
transport nexthops (and the host and port read back from them) and
mynetworks entries.
"""

import ciphermail_postfix_values as values
import pytest
from salt.exceptions import SaltInvocationError


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("portal.example.net", None, "smtp:[portal.example.net]"),
        ("Portal.Example.NET", None, "smtp:[portal.example.net]"),
        ("portal", None, "smtp:[portal]"),
        ("portal-1.dmz.example", 25, "smtp:[portal-1.dmz.example]:25"),
        ("192.0.2.20", None, "smtp:[192.0.2.20]"),
        ("192.0.2.20", 2525, "smtp:[192.0.2.20]:2525"),
        ("192.0.2.20", "2525", "smtp:[192.0.2.20]:2525"),
        ("2001:db8::20", None, "smtp:[ipv6:2001:db8::20]"),
        ("2001:DB8:0:0::20", 2525, "smtp:[ipv6:2001:db8::20]:2525"),
        ("2001:db8::20", 65535, "smtp:[ipv6:2001:db8::20]:65535"),
        # IPv4-mapped IPv6: Postfix connects to the IPv4 address.
        ("::ffff:192.0.2.20", None, "smtp:[192.0.2.20]"),
        ("::FFFF:c000:214", 2525, "smtp:[192.0.2.20]:2525"),
    ],
)
def test_nexthop(host, port, expected):
    assert values.nexthop(host, port) == expected


@pytest.mark.parametrize(
    "host",
    [
        "portal example.net",
        "portal.example.net\n",
        "portal.example.net\nrelay.example smtp:[evil]",
        "[192.0.2.20]",
        "[portal.example.net]",
        "ipv6:2001:db8::20",
        "[ipv6:2001:db8::20]",
        "portal.example.net:25",
        "portal.example.net.",
        ".portal.example.net",
        "portal..example.net",
        "-portal.example.net",
        "portal-.example.net",
        "portal_1.example.net",
        "portal;reboot",
        "$(reboot)",
        "x" * 64 + ".example.net",
        ("a" * 60 + ".") * 5 + "net",
        "192.0.2.300",
        "fe80::1%eth0",
        "",
        None,
        42,
    ],
)
def test_nexthop_refuses_host(host):
    with pytest.raises(SaltInvocationError) as error:
        values.nexthop(host)
    assert str(error.value).startswith(f"host: got {host!r}; expected ")


@pytest.mark.parametrize("port", [0, 70000, 65536, -1, "25x", "", " 25", "0x19", 25.0, True, False, [25]])
def test_nexthop_refuses_port(port):
    with pytest.raises(SaltInvocationError) as error:
        values.nexthop("portal.example.net", port)
    assert str(error.value) == f"port: got {port!r}; expected an integer from 1 to 65535"


@pytest.mark.parametrize(
    ("address", "allow_networks", "expected"),
    [
        ("192.0.2.10", False, "192.0.2.10"),
        ("192.0.2.10/32", False, "192.0.2.10"),
        ("[192.0.2.10]", False, "192.0.2.10"),
        ("2001:db8::10", False, "[2001:db8::10]/128"),
        ("2001:DB8:0::10", False, "[2001:db8::10]/128"),
        ("[2001:db8::10]", False, "[2001:db8::10]/128"),
        ("[2001:DB8:0::10]/128", False, "[2001:db8::10]/128"),
        ("2001:db8::10/128", False, "[2001:db8::10]/128"),
        ("10.0.0.0/8", True, "10.0.0.0/8"),
        ("192.0.2.10/31", True, "192.0.2.10/31"),
        ("2001:db8::/32", True, "[2001:db8::]/32"),
        ("[2001:DB8::]/32", True, "[2001:db8::]/32"),
        ("192.0.2.10", True, "192.0.2.10"),
        # IPv4-mapped IPv6: Postfix matches such a client as IPv4.
        ("::ffff:192.0.2.10", False, "192.0.2.10"),
        ("[::ffff:c000:20a]/128", False, "192.0.2.10"),
        ("::ffff:192.0.2.0/120", True, "192.0.2.0/24"),
    ],
)
def test_mynetworks_entry(address, allow_networks, expected):
    assert values.mynetworks_entry(address, allow_networks) == expected


@pytest.mark.parametrize(
    ("address", "allow_networks", "reason"),
    [
        ("not-an-ip", False, "an IPv4 or IPv6 address"),
        ("not-an-ip", True, "an IPv4 or IPv6 address"),
        ("*", True, "an IPv4 or IPv6 address"),
        ("portal.example.net", False, "an IPv4 or IPv6 address"),
        ("192.0.2.10 ", False, "an IPv4 or IPv6 address"),
        ("192.0.2.10\n", False, "an IPv4 or IPv6 address"),
        ("[192.0.2.10", False, "an IPv4 or IPv6 address"),
        ("192.0.2.10/33", True, "an IPv4 or IPv6 address"),
        ("192.0.2.10/255.255.255.255", True, "an IPv4 or IPv6 address"),
        ("fe80::1%eth0", False, "an IPv4 or IPv6 address"),
        ("$mynetworks", True, "an IPv4 or IPv6 address"),
        ("", False, "an IPv4 or IPv6 address"),
        (None, False, "an IPv4 or IPv6 address"),
        ("0.0.0.0/0", True, "open relay"),
        ("::/0", True, "open relay"),
        ("[::]/0", True, "open relay"),
        ("10.0.0.0/8", False, "relay mail for the whole range 10.0.0.0/8"),
        ("192.0.2.10/31", False, "whole range 192.0.2.10/31"),
        ("2001:db8::/127", False, "whole range [2001:db8::]/127"),
        ("10.0.0.1/8", True, "without host bits set, e.g. 10.0.0.0/8"),
        ("2001:db8::1/64", True, "without host bits set, e.g. [2001:db8::]/64"),
        ("::ffff:0.0.0.0/96", True, "open relay"),
        ("::ffff:192.0.2.0/120", False, "whole range 192.0.2.0/24"),
    ],
)
def test_mynetworks_entry_refuses(address, allow_networks, reason):
    with pytest.raises(SaltInvocationError) as error:
        values.mynetworks_entry(address, allow_networks)
    message = str(error.value)
    assert message.startswith(f"address: got {address!r}; expected ")
    assert reason in message


def test_mynetworks_entries_dedupes_and_names_bad_list():
    assert values.mynetworks_entries(["192.0.2.10", "192.0.2.10/32", "2001:db8::10"]) == [
        "192.0.2.10",
        "[2001:db8::10]/128",
    ]
    assert values.mynetworks_entries("192.0.2.10") == ["192.0.2.10"]
    with pytest.raises(SaltInvocationError, match=r"addresses: got \{'a': 1\}; expected a list"):
        values.mynetworks_entries({"a": 1})


@pytest.mark.parametrize(
    ("element", "entry"),
    [
        ("192.0.2.10", "192.0.2.10"),
        ("192.0.2.10/32", "192.0.2.10"),
        ("[192.0.2.10]", "192.0.2.10"),
        ("[2001:db8::10]/128", "[2001:db8::10]/128"),
        ("[2001:DB8:0::10]/128", "[2001:db8::10]/128"),
        ("[2001:db8::10]", "[2001:db8::10]/128"),
        ("10.0.0.0/8", "10.0.0.0/8"),
    ],
)
def test_same_network(element, entry):
    assert values.same_network(element, entry)


@pytest.mark.parametrize(
    ("element", "entry"),
    [
        ("192.0.2.11", "192.0.2.10"),
        ("192.0.2.0/24", "192.0.2.10"),
        ("192.0.2.10/24", "192.0.2.0/24"),
        ("!192.0.2.10", "192.0.2.10"),
        ("$mynetworks", "192.0.2.10"),
        ("hash:/etc/postfix/network_table", "192.0.2.10"),
        ("[2001:db8::10]/64", "[2001:db8::10]/128"),
        # Postfix never matches an IPv4 client against a mapped entry.
        ("[::ffff:192.0.2.10]/128", "192.0.2.10"),
        ("[::ffff:127.0.0.0]/104", "127.0.0.0/8"),
    ],
)
def test_not_same_network(element, entry):
    assert not values.same_network(element, entry)


@pytest.mark.parametrize("name", ["mynetworks", "smtpd_client_restrictions", "ciphermail_relay_hosts"])
def test_parameter_name(name):
    assert values.parameter_name(name) == name


@pytest.mark.parametrize("name", ["", "my networks", "mynetworks\n", "mynetworks=1", "-o", "$mynetworks", None])
def test_parameter_name_refused(name):
    with pytest.raises(SaltInvocationError, match=r"^parameter: got .*; expected a Postfix parameter name"):
        values.parameter_name(name)


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        ("smtp:[portal.example.net]", ("portal.example.net", None)),
        ("smtp:[192.0.2.20]:2525", ("192.0.2.20", 2525)),
        ("smtp:[ipv6:2001:DB8::20]", ("2001:db8::20", None)),
        ("smtp:[IPv6:2001:db8::20]:587", ("2001:db8::20", 587)),
        ("smtp:[2001:db8::20]:25", ("2001:db8::20", 25)),
        ("[Portal.Example.NET]:2525", ("portal.example.net", 2525)),
        ("[::1]", ("::1", None)),
        ("portal.example.net", ("portal.example.net", None)),
        ("192.0.2.20", ("192.0.2.20", None)),
        ("2001:db8::20", ("2001:db8::20", None)),
    ],
)
def test_nexthop_destination(destination, expected):
    assert values.nexthop_destination(destination) == expected


@pytest.mark.parametrize(
    "destination",
    [
        "smtp:portal.example.net",  # MX lookup: not one host
        "smtp:portal.example.net:2525",
        "lmtp:[portal.example.net]",
        "relay:[portal.example.net]",
        "smtp:[portal.example.net]:0",
        "smtp:[portal.example.net]:smtp",
        "smtp:[portal.example.net]:25:25",
        "smtp:[ipv6:192.0.2.20]",
        "smtp:[portal example]",
        "smtp:[]",
        "[portal.example.net]\nother.example smtp:[x]",
        "smtp:[192.0.2.20], [192.0.2.21]",
        "",
        None,
        25,
    ],
)
def test_nexthop_destination_refuses(destination):
    with pytest.raises(SaltInvocationError) as error:
        values.nexthop_destination(destination, "host")
    assert str(error.value).startswith(f"host: got {destination!r}; expected ")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("main.example.net", "main.example.net"),
        ("192.0.2.10", "[192.0.2.10]"),
        ("2001:db8::10", "[IPv6:2001:db8::10]"),
    ],
)
def test_helo_name(value, expected):
    assert values.helo_name(value) == expected


@pytest.mark.parametrize("value", ["main example", "[192.0.2.10]", "-main", None])
def test_helo_name_refuses(value):
    with pytest.raises(SaltInvocationError):
        values.helo_name(value)



@pytest.mark.parametrize(
    ("entry", "pattern"),
    [
        ("regexp:/etc/postfix/transport.re", True),
        ("proxy:pcre:/etc/postfix/transport.pcre", True),
        ("hash:/etc/postfix/transport", False),
        ("inline:{ a=b }", False),
        ("static:smtp:[x]", False),
        ("unionmap:{regexp:/a.re, hash:/b}", True),
        ("unionmap:{hash:/b, regexp:/a.re}", False),
        ("mysql:/etc/postfix/transport.cf", False),
    ],
)
def test_is_pattern_table(entry, pattern):
    assert values.is_pattern_table(entry) is pattern


def test_transport_lookups_follow_trivial_rewrite():
    entries = ["inline:{ a=b }", "regexp:/r.re", "proxy:hash:/t", "pcre:/p.pcre", "hash:/later"]
    assert values.transport_lookups_before(entries, "hash:/t", "relay.private", "someone") == [
        ("someone@relay.private", "inline:{ a=b }"),
        ("someone@relay.private", "regexp:/r.re"),
        ("someone@relay.private", "proxy:hash:/t"),
        ("someone@relay.private", "pcre:/p.pcre"),
        ("someone@relay.private", "hash:/later"),
        ("relay.private", "inline:{ a=b }"),
    ]
    assert values.transport_lookups_before(entries, "hash:/elsewhere", "relay.private", "someone") == []
