"""
Several portal nodes: the nexthop list of the transport entry
(ciphermail_postfix_values), the Postfix release that takes it, the
destinations read back from a transport entry (as smtp_check and
smtp_tls_policy_maps see them), the lookup table the formula edits for
each parameter, and the pillar checks of portal_server and portal_tls
(ciphermail_split_pillar).
"""

import ciphermail_postfix_values as values
import ciphermail_split_pillar as split_pillar
import pytest
import yaml
from salt.exceptions import CommandExecutionError, SaltInvocationError
from support.sandbox import REPO_ROOT

DEFAULTS = yaml.safe_load((REPO_ROOT / "ciphermail_split" / "parameters" / "defaults.yaml").read_text())["values"]


@pytest.mark.parametrize(
    ("hosts", "port", "expected"),
    [
        (["portal-a.example.net"], None, "smtp:[portal-a.example.net]"),
        (["Portal-A.example.net", "portal-b.example.net"], None, "smtp:[portal-a.example.net], [portal-b.example.net]"),
        (["portal-a", "192.0.2.21"], 25, "smtp:[portal-a]:25, [192.0.2.21]:25"),
        (("2001:db8::20", "2001:DB8::21"), 2525, "smtp:[ipv6:2001:db8::20]:2525, [ipv6:2001:db8::21]:2525"),
    ],
)
def test_a_list_of_portal_nodes_is_one_transport_then_the_nexthops(hosts, port, expected):
    assert values.nexthop(hosts, port) == expected
    assert values.nexthop_list_elements(expected) == values.nexthop_elements(hosts, port)
    assert values.multiple_nexthops(expected) is (len(hosts) > 1)


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        ([], "host: got []; expected a host name or IP address, or a list of them"),
        (["portal-a", "PORTAL-A"], "expected each portal node once (portal-a is given twice)"),
        (["192.0.2.20", "192.0.2.020"], "host: got '192.0.2.020'"),
        (["2001:db8::20", "2001:db8:0::20"], "(2001:db8::20 is given twice)"),
        (["portal-a", "[portal-b]"], "host: got '[portal-b]'"),
        (["portal-a", None], "host: got None"),
    ],
)
def test_portal_nodes_are_refused_naming_the_value(hosts, message):
    with pytest.raises(SaltInvocationError) as error:
        values.nexthop(hosts)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("version", "refused"),
    [("3.4.14", True), ("2.11.0", True), ("3.5.0", False), ("3.5.8", False), ("3.7.11", False), ("3.10.1", False)],
)
def test_a_nexthop_list_needs_postfix_3_5(version, refused):
    refusal = values.nexthop_lists_refusal(version)
    assert (refusal is not None) is refused
    if refused:
        assert refusal.startswith(f"Postfix {version} on this gateway takes one nexthop per transport entry")
        assert "3.5 or later" in refusal


@pytest.mark.parametrize("version", ["", "three", None, "v3.7"])
def test_an_unreadable_postfix_version_is_refused(version):
    with pytest.raises(SaltInvocationError):
        values.postfix_release(version)


@pytest.mark.parametrize(
    ("value", "port", "expected"),
    [
        ("smtp:[a.example]:25, [b.example]:26", None, [("[a.example]:25", "a.example", 25), ("[b.example]:26", "b.example", 26)]),
        ("smtp:[A.example]", None, [("[a.example]", "a.example", 25)]),
        ("smtp:[2001:db8::20]", None, [("[2001:db8::20]", "2001:db8::20", 25)]),
        ("[192.0.2.20]", 2525, [("[192.0.2.20]:2525", "192.0.2.20", 2525)]),
        ("portal.example.net", None, [("[portal.example.net]", "portal.example.net", 25)]),
        (["a.example", "[b.example]:25"], None, [("[a.example]", "a.example", 25), ("[b.example]:25", "b.example", 25)]),
    ],
)
def test_destinations_are_keyed_as_postfix_looks_up_their_tls_policy(value, port, expected):
    found = values.destinations_on_port(values.nexthop_destinations(value), port)
    assert [(item["key"], item["host"], item["port"]) for item in found] == expected


@pytest.mark.parametrize(
    ("value", "port", "message"),
    [
        ("smtp:[a], smtp:[b]", None, "nexthop: got 'smtp:[a], smtp:[b]'; expected one destination, or destinations"),
        ("smtp:[a], b.example", None, "expected one destination, or destinations in brackets"),
        ("smtp:portal.example.net", None, "nexthop: got 'smtp:portal.example.net'"),
        ("[a]:25, [b]:26", 25, "port: got 25; expected none, or the port the destination names (26)"),
    ],
)
def test_destinations_that_postfix_would_not_reach_directly_are_refused(value, port, message):
    with pytest.raises(SaltInvocationError) as error:
        values.destinations_on_port(values.nexthop_destinations(value), port)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("[Portal-A.example.net]:25", "[portal-a.example.net]:25"), ("[ipv6:2001:db8::20]", "[ipv6:2001:db8::20]")],
)
def test_policy_key(value, expected):
    assert values.policy_key(value) == expected


@pytest.mark.parametrize("value", ["portal-a.example.net", "smtp:[a]", "[a]:0", "[a b]", None])
def test_policy_key_refuses_what_is_no_bracketed_nexthop(value):
    with pytest.raises(SaltInvocationError):
        values.policy_key(value)


def test_the_tls_policy_table_goes_beside_the_transport_table_when_none_is_configured():
    transport = values.editable_table("transport_maps", "proxy:btree:/etc/postfix/maps.d/transport", "hash", "/etc/postfix")
    assert (transport["table"], transport["configured"]) == ("btree:/etc/postfix/maps.d/transport", True)
    fresh = values.editable_table("smtp_tls_policy_maps", "", "btree", "/etc/postfix/maps.d")
    assert (fresh["table"], fresh["configured"]) == ("btree:/etc/postfix/maps.d/tls_policy", False)
    admins = values.editable_table("smtp_tls_policy_maps", "regexp:/x.re hash:/etc/postfix/tls", "btree", "/e")
    assert admins["table"] == "hash:/etc/postfix/tls"


def test_a_table_list_without_a_file_the_formula_can_edit_is_refused():
    with pytest.raises(CommandExecutionError) as error:
        values.editable_table("smtp_tls_policy_maps", "mysql:/etc/postfix/tls.cf", "hash", "/etc/postfix")
    assert str(error.value).startswith("smtp_tls_policy_maps = mysql:/etc/postfix/tls.cf has no table this formula")
    with pytest.raises(CommandExecutionError) as error:
        values.editable_table("smtp_tls_policy_maps", "hash:tls_policy", "hash", "/etc/postfix")
    assert str(error.value).startswith("smtp_tls_policy_maps: hash:tls_policy uses a relative path")


def problems(pillar, sls=None):
    return split_pillar.problems(pillar, DEFAULTS, sls)[1]


@pytest.mark.parametrize(
    ("pillar", "expected"),
    [
        (
            {"role": "main", "portal_server": ["portal-a", "portal-a"]},
            "ciphermail_split:portal_server: got ['portal-a', 'portal-a']; expected each portal node once",
        ),
        ({"role": "main", "portal_server": []}, "ciphermail_split:portal_server: got []; expected a host name"),
        (
            {"role": "main", "portal_server": ["portal-a", "portal b"]},
            "ciphermail_split:portal_server: got 'portal b'; expected a host name",
        ),
        (
            {"role": "main", "portal_server": "p", "portal_tls": {"level": "required"}},
            "ciphermail_split:portal_tls:level: got 'required'; expected may or encrypt or verify or secure",
        ),
        (
            {"role": "main", "portal_server": "p", "portal_tls": {"level": "encrypt", "match": "p.example"}},
            "ciphermail_split:portal_tls:match: got 'p.example'; expected no match with level encrypt",
        ),
        (
            {"role": "main", "portal_server": "p", "portal_tls": {"match": "p.example"}},
            "ciphermail_split:portal_tls:match: got 'p.example'; expected no match without a level",
        ),
        (
            {"role": "main", "portal_server": "p", "portal_tls": {"level": "secure", "match": "p example"}},
            "ciphermail_split:portal_tls:match: got 'p example'; expected Postfix match= names",
        ),
        (
            {"role": "main", "portal_server": "p", "portal_tls": {"level": "secure", "mtach": "p"}},
            "ciphermail_split:portal_tls:mtach: unknown key (a typo?); expected one of level, match",
        ),
        ({"role": "main", "portal_server": "p", "portal_tls": "encrypt"}, "ciphermail_split:portal_tls: got 'encrypt'"),
        (
            {"role": "portal", "main_gateway_addresses": ["192.0.2.10"], "portal_tls": {"level": "may"}, "portal_port": 0},
            "ciphermail_split:portal_port: port: got 0",
        ),
    ],
)
def test_cluster_and_tls_pillar_problems_name_the_key(pillar, expected):
    found = problems(pillar)
    assert len(found) == 1 and found[0].startswith(expected), found


@pytest.mark.parametrize(
    "pillar",
    [
        {"role": "main", "portal_server": ["portal-a", "192.0.2.21", "2001:db8::22"], "portal_port": 25},
        {"role": "main", "portal_server": "p", "portal_tls": {"level": "secure", "match": ["p.example", ".dmz.example"]}},
        {"role": "main", "portal_server": "p", "portal_tls": {"level": "verify", "match": "nexthop:dot-nexthop"}},
        {"role": "portal", "main_gateway_addresses": ["192.0.2.10"], "portal_tls": {"level": "encrypt"}},
    ],
)
def test_cluster_and_tls_pillars_pass(pillar):
    assert problems(pillar) == []


def test_only_a_main_role_that_is_applied_with_several_nodes_needs_postfix_3_5():
    several = {"role": "main", "portal_server": ["a", "b"]}
    assert split_pillar.portal_nodes_listed(several, "ciphermail_split")
    assert not split_pillar.portal_nodes_listed(several, "ciphermail_split.main.clean")
    assert not split_pillar.portal_nodes_listed({"role": "main", "portal_server": ["a"]})
    assert not split_pillar.portal_nodes_listed({"role": "main", "portal_server": "a"})
    (problem,) = split_pillar.postfix_problems(several, "3.4.14")
    assert problem.startswith("ciphermail_split:portal_server: got ['a', 'b']; expected one host: Postfix 3.4.14")
    assert split_pillar.postfix_problems(several, "3.5.9") == []
    (unread,) = split_pillar.postfix_problems(several, error="postconf: not found")
    assert unread.endswith("the Postfix version cannot be read: postconf: not found")


def test_the_check_asks_for_the_postfix_version_only_for_several_nodes_to_apply():
    asked = []

    def version(answer):
        def postfix_version():
            asked.append(answer)
            if isinstance(answer, Exception):
                raise answer
            return answer

        return postfix_version

    one = {"role": "main", "portal_server": "a"}
    several = {"role": "main", "portal_server": ["a", "b"]}
    assert split_pillar.checked(one, DEFAULTS, "ciphermail_split", None, version("3.4.14"))["problems"] == []
    assert split_pillar.checked(several, DEFAULTS, "ciphermail_split.main.clean", None, version("3.4.14"))[
        "problems"
    ] == []
    assert asked == []
    checked = split_pillar.checked(several, DEFAULTS, "ciphermail_split", None, version("3.4.14"))
    assert checked["mapdata"]["portal_server"] == ["a", "b"]
    (too_old,) = checked["problems"]
    assert "Postfix 3.4.14 on this gateway takes one nexthop per transport entry" in too_old
    failing = version(CommandExecutionError("postconf -dh mail_version failed on the target: not found"))
    (unread,) = split_pillar.checked(several, DEFAULTS, "ciphermail_split", None, failing)["problems"]
    assert unread.endswith("cannot be read: postconf -dh mail_version failed on the target: not found")
    assert split_pillar.checked(several, DEFAULTS, "ciphermail_split", None, version("3.7.11"))["problems"] == []
    assert len(asked) == 3  # once per check that needed it
