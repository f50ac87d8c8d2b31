"""
Unit tier: the pure gateway-side code in ``_utils`` (value normalisation,
the command table, editing the override file's text, the host settings),
imported as plain modules without Salt's loader.
"""

import ciphermail_ansible_vars as ansible_vars
import ciphermail_cli_commands as cli_commands
import ciphermail_gateway_values as gateway_values
import ciphermail_split_settings as split_settings
import pytest
import yaml
from ciphermail_split_errors import type_of
from salt.exceptions import SaltInvocationError


@pytest.mark.parametrize(
    "value, expected",
    [
        (True, "true"),
        (False, "false"),
        ("TRUE", "true"),
        ("True", "true"),
        (" false ", "false"),
        (25, "25"),
        ("X-Keep-CipherMail-To-Webmail: True", "X-Keep-CipherMail-To-Webmail: True"),
        ("", ""),
        (None, None),
    ],
)
def test_normalise_value(value, expected):
    assert gateway_values.normalise_value(value) == expected


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\x00b", "x\x1b", ["list"], {"a": 1}])
def test_normalise_value_refuses_line_breaks_and_non_scalars(value):
    with pytest.raises(SaltInvocationError, match="value: got"):
        gateway_values.normalise_value(value)


@pytest.mark.parametrize("domain", ["Relay-To-Webmail.Private", "example.org", "a-b.c9.example"])
def test_normalise_domain_lowercases(domain):
    assert gateway_values.normalise_domain(domain) == domain.lower()


@pytest.mark.parametrize("domain", ["", "a b.example", "-a.example", "a..b", "a.example.", "x" * 64 + ".org", 42])
def test_normalise_domain_refuses(domain):
    with pytest.raises(SaltInvocationError, match="domain: got"):
        gateway_values.normalise_domain(domain)


def test_every_vendor_command_is_in_the_table_as_documented():
    table = cli_commands.table()
    documented = {action for action, row in table.items() if row["source"] == "documented"}
    assert documented == {"domain_add", "domain_property_set", "global_property_set"}
    assert table["domain_property_set"]["argv"] == [
        "property", "domain", "set", "--domain", "{domain}", "--name", "{name}", "--value", "{value}",
    ]  # fmt: skip


def test_cli_words_put_values_in_their_own_argument():
    words = cli_commands.words(
        "global_property_set", {"name": "trigger-webmail-header", "value": "X-Keep: True; rm -rf / {value}"}
    )
    assert words == [
        "property", "global", "set", "--name", "trigger-webmail-header", "--value", "X-Keep: True; rm -rf / {value}",
    ]  # fmt: skip


ADMIN_OVERRIDE = """\
---
# the admin's notes
admin_list:
  - one
  - two
admin_flag: yes   # trailing comment
"""


def edit(text, set_values=None, remove_keys=()):
    return ansible_vars.edit(text, set_values or {}, remove_keys)


def test_override_edit_appends_our_key_and_keeps_every_admin_line():
    edited = edit(ADMIN_OVERRIDE, {"ciphermail_backend__remote_portal_enabled": True})
    assert edited == ADMIN_OVERRIDE + "ciphermail_backend__remote_portal_enabled: true\n"


def test_override_edit_replaces_our_key_in_place():
    text = "a: 1\nciphermail_backend__remote_portal_enabled: false  # old\nb: 2\n"
    edited = edit(text, {"ciphermail_backend__remote_portal_enabled": True})
    assert edited == "a: 1\nciphermail_backend__remote_portal_enabled: true  # old\nb: 2\n"


@pytest.mark.parametrize(
    "line, comment",
    [
        ('key: "a # b"  # why', "  # why"),
        ("key: x # c", " # c"),
        ('key: "a # b"', ""),
        ("key: 1#no comment", ""),
    ],
)
def test_override_edit_keeps_the_comment_at_the_end_of_the_keys_line(line, comment):
    assert edit(f"{line}\n", {"key": True}) == f"key: true{comment}\n"


@pytest.mark.parametrize("quoted", ['"key"', "'key'"])
def test_override_edit_finds_a_quoted_key(quoted):
    assert edit(f"{quoted}: false\nb: 2\n", {"key": True}) == "key: true\nb: 2\n"
    assert edit(f"{quoted}: false\nb: 2\n", remove_keys=["key"]) == "b: 2\n"


def test_override_edit_removes_a_block_entry_whole():
    text = "a: 1\nours:\n  - x\n  - y\n# kept comment\nb: 2\n"
    assert edit(text, remove_keys=["ours"]) == "a: 1\n# kept comment\nb: 2\n"


def test_override_edit_of_a_missing_file_starts_with_the_header():
    edited = edit(None, {"ciphermail_backend__remote_portal_enabled": True})
    assert edited.startswith(ansible_vars.OVERRIDE_HEADER)
    assert yaml.safe_load(edited) == {"ciphermail_backend__remote_portal_enabled": True}


def test_override_edit_adds_a_newline_to_a_file_without_one():
    assert edit("a: 1", {"b": 2}) == "a: 1\nb: 2\n"


@pytest.mark.parametrize(
    "values, message",
    [
        ({"bad key": 1}, "override key"),
        ({"1st": 1}, "override key"),
        ({"k": [1]}, "expected a scalar"),
        ({"k": None}, "expected a scalar"),
        ({"k": "a\nb"}, "line breaks"),
        ("k: v", "expected a mapping"),
    ],
)
def test_normalise_override_refuses(values, message):
    with pytest.raises(SaltInvocationError, match=message):
        gateway_values.normalise_override(values)


def test_normalise_override_writes_booleans_as_booleans():
    assert gateway_values.normalise_override({"a": "TRUE", "b": "false", "c": 3, "d": "text"}) == {
        "a": True,
        "b": False,
        "c": 3,
        "d": "text",
    }


# -- host settings ----------------------------------------------------------------


def test_host_settings_defaults_and_command_words():
    settings = split_settings.host_settings({"cli": "sudo -n ciphermail-cli", "playbook_cmd": ["cm-run-playbook"]})
    assert settings["cli"] == ["sudo", "-n", "ciphermail-cli"]
    assert settings["playbook_cmd"] == ["cm-run-playbook"]
    assert settings["postfix_config_dir"] == "/etc/postfix"
    assert settings["override_file"] == "ciphermail-split-mode.yml"


@pytest.mark.parametrize(
    "lookup, key",
    [
        ({"cli": ""}, "cli"),
        ({"cli": []}, "cli"),
        ({"cli": "ciphermail-cli\n--evil"}, "cli"),
        ({"cli_timeout": 0}, "cli_timeout"),
        ({"playbook_timeout": True}, "playbook_timeout"),
        ({"playbook_timeout": "soon"}, "playbook_timeout"),
        ({"state_dir": "relative/dir"}, "state_dir"),
        ({"override_file": "../escape.yml"}, "override_file"),
        ({"override_file": "split.yaml"}, "override_file"),
        ({"command_env": {"BAD NAME": "x"}}, "command_env"),
    ],
)
def test_host_settings_refuse_bad_values_naming_the_key(lookup, key):
    with pytest.raises(SaltInvocationError, match=f"^ciphermail_split:lookup:{key}: "):
        split_settings.host_settings(lookup)


@pytest.mark.parametrize(
    "opts, problems",
    [
        ({}, []),
        ({"ciphermail_split": {"lookup": {"cli_timeout": 5}}}, []),
        ({"ciphermail_split": "x"}, ["ciphermail_split (minion config): got a str; expected a mapping"]),
        ({"ciphermail_split": {"lookup": ["cli"]}}, ["ciphermail_split:lookup (minion config): got a list"]),
        ({"ciphermail_split": {"lookup": {"cli_timout": 5}}}, ["ciphermail_split:lookup:cli_timout (minion config)"]),
        ({"ciphermail_split": {"lookup": {"private_domain": "x"}}}, ["ciphermail_split:lookup:private_domain"]),
    ],
)
def test_the_minion_configs_lookup_holds_host_settings_only(opts, problems):
    lookup, found = split_settings.minion_config_lookup(opts)
    assert len(found) == len(problems), found
    for message, start in zip(found, problems):
        assert message.startswith(start), found
    assert set(lookup) <= set(split_settings.HOST_DEFAULTS)


def test_host_settings_never_echo_command_env_values():
    with pytest.raises(SaltInvocationError) as error:
        split_settings.host_settings({"command_env": {"CIPHERMAIL_CLI_PASSWORD": 12345678}})
    assert "12345678" not in str(error.value)
    shown = split_settings.masked(split_settings.host_settings({"command_env": {"CIPHERMAIL_CLI_PASSWORD": "s3cret"}}))
    assert shown["command_env"] == {"CIPHERMAIL_CLI_PASSWORD": "********"}


@pytest.mark.parametrize("value, shown", [("s3cret", "a str"), (12345678, "an int"), ([], "a list"), ({}, "a dict")])
def test_a_refusal_that_must_not_show_a_value_names_its_type(value, shown):
    assert type_of(value) == shown
    if not isinstance(value, dict):
        _, (problem,) = split_settings.minion_config_lookup({"ciphermail_split": {"lookup": value}})
        assert problem == f"ciphermail_split:lookup (minion config): got {shown}; expected a mapping"
