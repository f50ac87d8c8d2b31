"""Reading and editing Postfix text: table source files and main.cf list parameters."""

import ciphermail_postfix_text as postfix_text
import ciphermail_postfix_values as postfix_values
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from salt.exceptions import CommandExecutionError
from support.samples import SPREAD_OUT_MAIN_CF

OURS = "relay-to-webmail.private"
NEXTHOP = "smtp:[portal.example.net]"


TRANSPORT = """\
# Transport table of the main gateway.
example.com      smtp:[mx.example.com]

   # an indented comment
.example.com     smtp:[mx.example.com]:2525
Example.ORG      relay:[relay.example.org]
    :587
# trailing comment
"""


# -- table source files ------------------------------------------------------------


def test_table_entries_follow_postfix_logical_lines():
    assert postfix_text.table_entries(TRANSPORT) == [
        ("example.com", "smtp:[mx.example.com]"),
        (".example.com", "smtp:[mx.example.com]:2525"),
        ("example.org", "relay:[relay.example.org] :587"),
    ]


def test_continuation_after_comment_and_blank_lines_belongs_to_the_entry():
    text = "a x\n# comment\n\n  y\nb z\n"
    assert postfix_text.table_entries(text) == [("a", "x y"), ("b", "z")]


def test_continuation_before_any_entry_is_ignored():
    assert postfix_text.table_entries("  orphan x\na y") == [("a", "y")]


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        (TRANSPORT, "example.org", "relay:[relay.example.org] :587"),
        (TRANSPORT, "EXAMPLE.com", "smtp:[mx.example.com]"),
        (TRANSPORT, OURS, None),
        ("", OURS, None),
        (f"{OURS} smtp:[first]\n{OURS} smtp:[second]\n", OURS, "smtp:[first]"),
        (f"# {OURS} smtp:[commented]\n", OURS, None),
    ],
)
def test_table_value(text, key, expected):
    assert postfix_text.table_value(text, key) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", f"{OURS} {NEXTHOP}\n"),
        (TRANSPORT, f"{TRANSPORT}{OURS} {NEXTHOP}\n"),
        ("example.com smtp:[x]", f"example.com smtp:[x]\n{OURS} {NEXTHOP}\n"),
        ("a b\r\n", f"a b\r\n{OURS} {NEXTHOP}\n"),
    ],
)
def test_set_table_entry_appends(text, expected):
    assert postfix_text.set_table_entry(text, OURS, NEXTHOP) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"a b\n{OURS}\tsmtp:[old]\nc d\n", f"a b\n{OURS}\t{NEXTHOP}\nc d\n"),
        ("a b\nRelay-To-Webmail.Private   smtp:[old]\n", f"a b\nRelay-To-Webmail.Private   {NEXTHOP}\n"),
        (f"{OURS} smtp:[old]\n  :25\n# note\nc d\n", f"{OURS} {NEXTHOP}\n# note\nc d\n"),
        (f"{OURS}\n  smtp:[old]\n", f"{OURS} {NEXTHOP}\n"),
        (f"a b\r\n{OURS} smtp:[old]\r\n", f"a b\r\n{OURS} {NEXTHOP}\r\n"),
        (f"a b\n{OURS} smtp:[old]", f"a b\n{OURS} {NEXTHOP}"),
        (f"{OURS} smtp:[first]\n{OURS} smtp:[second]\n", f"{OURS} {NEXTHOP}\n{OURS} smtp:[second]\n"),
    ],
)
def test_set_table_entry_replaces_in_place(text, expected):
    assert postfix_text.set_table_entry(text, OURS, NEXTHOP) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"a b\n{OURS} {NEXTHOP}\nc d\n", "a b\nc d\n"),
        (f"# head\n{OURS} smtp:[x]\n    :25\n# tail\n", "# head\n# tail\n"),
        (f"{OURS} smtp:[first]\n{OURS} smtp:[second]\n", f"{OURS} smtp:[second]\n"),
        ("a b\n", "a b\n"),
        (f"a b\n{OURS} {NEXTHOP}", "a b\n"),
    ],
)
def test_delete_table_entry(text, expected):
    assert postfix_text.delete_table_entry(text, OURS) == expected


_TABLE_LINE = st.one_of(
    st.from_regex(r"#[ -~]{0,20}", fullmatch=True),
    st.from_regex(r"[ \t]*", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9.]{0,12}[ \t]+[!-~]{1,20}", fullmatch=True),
    st.from_regex(r"[ \t]+[!-~]{1,10}", fullmatch=True),
).filter(lambda line: not line.lower().startswith(OURS))


@settings(max_examples=60)
@given(st.lists(_TABLE_LINE, max_size=12))
def test_adding_then_deleting_our_entry_keeps_every_other_byte(lines):
    text = "".join(f"{line}\n" for line in lines)
    added = postfix_text.set_table_entry(text, OURS, NEXTHOP)
    assert added.startswith(text)
    assert postfix_text.table_value(added, OURS) == NEXTHOP
    assert postfix_text.delete_table_entry(added, OURS) == text


# -- main.cf lists -------------------------------------------------------------------



def test_parameter_elements_and_value():
    assert postfix_text.parameter_elements(SPREAD_OUT_MAIN_CF, "mynetworks") == [
        "127.0.0.0/8",
        "[::1]/128",
        "$my_extra",
        "192.0.2.0/24",
        "hash:/etc/postfix/network_table",
    ]
    assert postfix_text.parameter_value(SPREAD_OUT_MAIN_CF, "mynetworks") == (
        "127.0.0.0/8, [::1]/128 $my_extra 192.0.2.0/24, hash:/etc/postfix/network_table"
    )
    assert postfix_text.parameter_elements(SPREAD_OUT_MAIN_CF, "relayhost") == []
    assert postfix_text.parameter_value(SPREAD_OUT_MAIN_CF, "relayhost") == ""
    assert postfix_text.parameter_elements(SPREAD_OUT_MAIN_CF, "transport_maps") is None
    assert postfix_text.parameter_value(SPREAD_OUT_MAIN_CF, "transport_maps") is None
    assert postfix_text.parameter_elements(SPREAD_OUT_MAIN_CF, "my") is None


def test_the_last_definition_is_the_one_in_effect():
    text = "mynetworks = 127.0.0.0/8\nmynetworks_style = host\nmynetworks=192.0.2.0/24\n"
    assert postfix_text.parameter_elements(text, "mynetworks") == ["192.0.2.0/24"]
    assert postfix_text.append_list_elements(text, "mynetworks", ["192.0.2.10"]) == (
        "mynetworks = 127.0.0.0/8\nmynetworks_style = host\nmynetworks=192.0.2.0/24, 192.0.2.10\n"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mynetworks = 127.0.0.0/8\n", "mynetworks = 127.0.0.0/8, 192.0.2.10\n"),
        ("mynetworks = 127.0.0.0/8   \n", "mynetworks = 127.0.0.0/8, 192.0.2.10   \n"),
        ("mynetworks = a,\n", "mynetworks = a, 192.0.2.10,\n"),
        ("mynetworks =\n", "mynetworks = 192.0.2.10\n"),
        ("mynetworks=", "mynetworks= 192.0.2.10"),
        (
            SPREAD_OUT_MAIN_CF,
            SPREAD_OUT_MAIN_CF.replace("network_table\n", "network_table, 192.0.2.10\n"),
        ),
        ("mynetworks = a\n  b\n# c\n", "mynetworks = a\n  b 192.0.2.10\n# c\n"),
        ("mynetworks = 127.0.0.0/8 [::1]/128\n", "mynetworks = 127.0.0.0/8 [::1]/128 192.0.2.10\n"),
        ("mynetworks = a, b\n", "mynetworks = a, b, 192.0.2.10\n"),
        ("mynetworks = a,b\n", "mynetworks = a,b,192.0.2.10\n"),
        ("mynetworks = a,\n  b\n", "mynetworks = a,\n  b, 192.0.2.10\n"),
        ("relayhost =\n", "relayhost =\nmynetworks = 192.0.2.10\n"),
        ("relayhost =", "relayhost =\nmynetworks = 192.0.2.10\n"),
        ("", "mynetworks = 192.0.2.10\n"),
    ],
)
def test_append_list_elements(text, expected):
    assert postfix_text.append_list_elements(text, "mynetworks", ["192.0.2.10"]) == expected


def test_appended_elements_follow_the_admins_separator():
    ours = ["192.0.2.10", "[2001:db8::10]/128"]
    assert postfix_text.append_list_elements("mynetworks = a b\n", "mynetworks", ours) == (
        "mynetworks = a b 192.0.2.10 [2001:db8::10]/128\n"
    )
    assert postfix_text.append_list_elements("mynetworks = a, b\n", "mynetworks", ours) == (
        "mynetworks = a, b, 192.0.2.10, [2001:db8::10]/128\n"
    )


def test_a_list_written_out_uses_spaces_as_postconf_shows_it():
    edit = postfix_text.edit_list("relayhost =\n", "mynetworks", ["127.0.0.0/8", "[::1]/128"], add=["192.0.2.10"])
    assert edit["text"] == "relayhost =\nmynetworks = 127.0.0.0/8 [::1]/128 192.0.2.10\n"


@pytest.mark.parametrize(
    ("text", "element", "expected"),
    [
        ("mynetworks = a, ours, b\n", "ours", "mynetworks = a, b\n"),
        ("mynetworks = a ours b\n", "ours", "mynetworks = a b\n"),
        ("mynetworks = a, ours\n", "ours", "mynetworks = a\n"),
        ("mynetworks = ours, a\n", "ours", "mynetworks = a\n"),
        ("mynetworks = ours\n", "ours", "mynetworks =\n"),
        ("mynetworks = ours\n    a\n", "ours", "mynetworks =\n    a\n"),
        ("mynetworks = a,\n    ours\n    b\n", "ours", "mynetworks = a,\n    b\n"),
        ("mynetworks = a,\n    ours,\n# c\n", "ours", "mynetworks = a,\n# c\n"),
        ("mynetworks = a, ours, ours\n", "ours", "mynetworks = a, ours\n"),
        ("mynetworks = a, ours b\n", "ours", "mynetworks = a b\n"),
        ("mynetworks = a\n    ours, b\n", "ours", "mynetworks = a\n    b\n"),
        ("mynetworks = a, 192.0.2.10/32\n", "192.0.2.10", "mynetworks = a, 192.0.2.10/32\n"),
        ("mynetworks = a\n", "ours", "mynetworks = a\n"),
        ("relayhost = ours\n", "ours", "relayhost = ours\n"),
    ],
)
def test_remove_list_element(text, element, expected):
    assert postfix_text.remove_list_element(text, "mynetworks", element) == expected


_SPREAD_OUT_MAIN_CF_LINE = st.one_of(
    st.from_regex(r"#[ -~]{0,20}", fullmatch=True),
    st.just(""),
    st.from_regex(r"[ \t]+[a-z0-9$/.:\[\]]{1,12}(,? [a-z0-9$/.:\[\]]{1,12}){0,3},?", fullmatch=True),
)


@settings(max_examples=60)
@given(
    first=st.from_regex(r"[a-z0-9$/.:\[\]]{0,12}(,? [a-z0-9$/.:\[\]]{1,12}){0,3},?[ \t]*", fullmatch=True),
    continuation=st.lists(_SPREAD_OUT_MAIN_CF_LINE, max_size=5),
)
def test_adding_then_removing_our_elements_keeps_every_other_byte(first, continuation):
    text = "".join(f"{line}\n" for line in ["compatibility_level = 3.6", f"mynetworks = {first}", *continuation])
    before = postfix_text.parameter_elements(text, "mynetworks")
    ours = ["192.0.2.10", "[2001:db8::10]/128"]
    added = postfix_text.append_list_elements(text, "mynetworks", ours)
    assert postfix_text.parameter_elements(added, "mynetworks") == before + ours
    removed = added
    for element in ours:
        removed = postfix_text.remove_list_element(removed, "mynetworks", element)
    assert removed == text


def test_remove_definitions():
    text = "a = 1\nmynetworks = x\n  y\n# keep\nb = 2\nmynetworks = z\n"
    assert postfix_text.remove_definitions(text, "mynetworks") == "a = 1\n# keep\nb = 2\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a = 1\n", "a = 1\ntransport_maps = hash:/t\n"),
        ("a = 1", "a = 1\ntransport_maps = hash:/t\n"),
        ("transport_maps = x,\n  # note\n  y\nb = 2\n", "transport_maps = hash:/t\nb = 2\n"),
        ("transport_maps=x\r\nb = 2\r\ntransport_maps = z", "transport_maps = hash:/t\r\nb = 2\r\ntransport_maps = hash:/t\n"),
    ],
)
def test_set_definition_edits_every_definition_in_place_as_postconf_e_does(text, expected):
    assert postfix_text.set_definition(text, "transport_maps", "hash:/t") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.0/8, [::1]/128 $my_extra", ["127.0.0.0/8", "[::1]/128", "$my_extra"]),
        ("a,,b ,  c", ["a", "b", "c"]),
        ("inline:{ a=b, c=d }, hash:/x", ["inline:{ a=b, c=d }", "hash:/x"]),
        ("", []),
    ],
)
def test_split_list(value, expected):
    assert postfix_values.split_list(value) == expected


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("hash:/etc/postfix/transport", ("hash", "/etc/postfix/transport")),
        ("lmdb:/etc/postfix/transport", ("lmdb", "/etc/postfix/transport")),
        ("texthash:/etc/postfix/transport", ("texthash", "/etc/postfix/transport")),
        ("proxy:hash:/etc/postfix/transport", ("hash", "/etc/postfix/transport")),
        ("regexp:/etc/postfix/transport.re", None),
        ("ldap:/etc/postfix/ldap-transport.cf", None),
        ("$transport_maps", None),
        ("/etc/postfix/transport", None),
    ],
)
def test_table_spec(entry, expected):
    assert postfix_values.table_spec(entry) == expected


def test_table_spec_refuses_relative_path():
    with pytest.raises(CommandExecutionError, match="hash:transport uses a relative path"):
        postfix_values.table_spec("hash:transport")
