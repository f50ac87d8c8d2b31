"""
Property-based tests (hypothesis) of the gateway-side builders: the Ansible
override file's text edits, value normalisation and the ciphermail-cli
argument lists. Whatever the admin's content and whatever the value, the
admin's content survives unchanged and no value can smuggle a line break, a
second YAML key or a second argument.
"""

import re

import ciphermail_ansible_vars as ansible_vars
import ciphermail_cli_commands as cli_commands
import ciphermail_gateway_values as gateway_values
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from salt.exceptions import SaltInvocationError

OURS = "ciphermail_backend__remote_portal_enabled"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ansible_names = st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True).filter(lambda name: name != OURS)
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.from_regex(r"[A-Za-z][A-Za-z0-9 ._-]{0,20}", fullmatch=True).map(str.strip).filter(bool),
)
comments = st.from_regex(r"#[ -~]{0,30}", fullmatch=True)


@st.composite
def admin_files(draw):
    """An admin's vars file: keys with scalar values, comments and blank lines, any order."""
    values = draw(st.dictionaries(ansible_names, scalars, max_size=6))
    lines = ["---"]
    for key, value in values.items():
        lines.extend(draw(st.lists(st.one_of(comments, st.just("")), max_size=2)))
        lines.append(yaml.safe_dump({key: value}, default_flow_style=False).rstrip("\n"))
    return "\n".join(lines) + "\n", values


def edit(text, set_values=None, remove_keys=()):
    return ansible_vars.edit(text, set_values or {}, remove_keys)


@SETTINGS
@given(admin_files(), st.booleans())
def test_setting_our_key_keeps_the_admins_text_and_values(admin, enabled):
    text, values = admin
    edited = edit(text, {OURS: enabled})
    assert edited.startswith(text)
    assert yaml.safe_load(edited) == {**values, OURS: enabled}


@SETTINGS
@given(admin_files(), st.booleans(), st.booleans())
def test_changing_our_key_touches_only_its_line(admin, first, second):
    text, values = admin
    once = edit(text, {OURS: first})
    twice = edit(once, {OURS: second})
    assert twice.replace(f"{OURS}: {str(second).lower()}", "") == once.replace(f"{OURS}: {str(first).lower()}", "")
    assert yaml.safe_load(twice) == {**values, OURS: second}


@SETTINGS
@given(admin_files(), st.booleans())
def test_set_then_remove_gives_back_the_admins_file(admin, enabled):
    text, _ = admin
    assert edit(edit(text, {OURS: enabled}), remove_keys=[OURS]) == text


@SETTINGS
@given(st.text(max_size=40))
def test_no_value_carries_a_line_break_or_a_second_key(value):
    try:
        typed = gateway_values.normalise_override({OURS: value})
    except SaltInvocationError:
        assert re.search(r"[\x00-\x08\x0a-\x1f\x7f]", value)
        return
    edited = edit("---\n", typed)
    parsed = yaml.safe_load(edited)
    assert list(parsed) == [OURS]
    assert gateway_values.normalise_value(parsed[OURS]) == gateway_values.normalise_value(value)


@SETTINGS
@given(st.text(max_size=40))
def test_normalised_values_are_one_line(value):
    try:
        normalised = gateway_values.normalise_value(value)
    except SaltInvocationError:
        return
    assert "\n" not in normalised and "\r" not in normalised and "\x00" not in normalised


@SETTINGS
@given(st.text(max_size=40).filter(lambda v: "\x00" not in v), st.sampled_from(["trigger-webmail-header", "x"]))
def test_a_value_is_always_exactly_one_argument(value, name):
    argv = cli_commands.words("global_property_set", {"name": name, "value": value})
    assert argv == ["property", "global", "set", "--name", name, "--value", value]
