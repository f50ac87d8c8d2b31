"""
The ``ciphermail-cli`` rows an admin can replace (``lookup:cli_commands``):
what is accepted and what is refused, naming the row; how the words reach
argv; how a command the CLI does not know is told apart and explained.
"""

import ciphermail_cli_commands as cli_commands
import ciphermail_split_pillar
import ciphermail_split_settings as split_settings
import pytest
import yaml
from salt.exceptions import SaltInvocationError
from support.sandbox import REPO_ROOT
from support.values import PORTAL_PILLAR, SCOPED_COMMANDS

KEY = "ciphermail_split:lookup:cli_commands"
DEFAULTS = yaml.safe_load((REPO_ROOT / "ciphermail_split" / "parameters" / "defaults.yaml").read_text())["values"]


def test_every_row_of_another_grammar_is_accepted_and_reaches_argv_exactly():
    checked = split_settings.checked_setting("cli_commands", SCOPED_COMMANDS)
    assert checked == SCOPED_COMMANDS
    params = {"domain": "relay-to-webmail.private", "name": "trigger-webmail-header", "value": "X-A: {name} b"}
    assert cli_commands.words("global_property_get", params, checked) == [
        "property", "get", "--scope", "global", "--name", "trigger-webmail-header",
    ]  # fmt: skip
    assert cli_commands.words("domain_property_set", params, checked) == [
        "property", "set", "--scope", "domain", "--domain", "relay-to-webmail.private",
        "--name", "trigger-webmail-header", "--value", "X-A: {name} b",
    ]  # fmt: skip
    assert cli_commands.words("domain_list", {}, checked) == ["domains", "list"]
    assert cli_commands.title("global_property_get", checked) == "property get"


def test_a_row_may_be_a_command_line_and_a_placeholder_may_sit_inside_a_word():
    checked = split_settings.checked_setting("cli_commands", {"global_property_get": "settings show --key={name}"})
    assert checked == {"global_property_get": ["settings", "show", "--key={name}"]}
    assert cli_commands.words("global_property_get", {"name": "x-y"}, checked) == ["settings", "show", "--key=x-y"]
    # Rows not given keep the formula's words.
    assert cli_commands.words("domain_list", {}, checked) == ["domain", "list"]
    assert cli_commands.table(checked)["global_property_get"] == {
        "argv": ["settings", "show", "--key={name}"],
        "source": "inferred",
        "overridden": True,
    }


@pytest.mark.parametrize(
    "row, words, expected",
    [
        ("domain_lst", ["domain", "list"], "unknown row (a typo?); expected one of domain_add, domain_delete"),
        ("domain_add", ["domain", "add", "--domain"], "with {domain}, each once"),
        ("domain_add", ["domain", "add", "--domain", "{domain}", "{domain}"], "with {domain}, each once"),
        ("domain_add", ["domain", "add", "--domain", "{domain}", "--name", "{name}"], "no other placeholder"),
        ("domain_list", ["domains", "list", "{domain}"], "without placeholders"),
        ("global_property_get", ["property", "", "--name", "{name}"], "no word empty"),
        ("global_property_get", [], "a list of words"),
        ("global_property_get", "property get --name {name} ''", "no word empty"),
        ("global_property_get", "property get 'unclosed {name}", "a list of words"),
        ("global_property_get", ["property", "get\n", "{name}"], "a list of words"),
        ("global_property_get", {"words": "x"}, "a list of words"),
        ("global_property_get", ["property", 42, "{name}"], "a list of words"),
    ],
)
def test_a_bad_row_is_refused_naming_it(row, words, expected):
    with pytest.raises(SaltInvocationError) as error:
        split_settings.checked_setting("cli_commands", {row: words})
    assert str(error.value).startswith(f"{KEY}:{row}: ")
    assert expected in str(error.value)


def test_the_pillar_names_each_bad_row_as_a_problem_of_its_own():
    pillar = {
        **PORTAL_PILLAR,
        "lookup": {"cli_commands": {"domain_list": ["domains", "list"], "domain_add": ["x"], "typo": ["y"]}},
    }
    _, problems = ciphermail_split_pillar.problems(pillar, DEFAULTS)
    assert len(problems) == 2
    assert problems[0].startswith(f"{KEY}:domain_add: got ['x']; expected a list of words")
    assert problems[1].startswith(f"{KEY}:typo: unknown row")


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("cli_commands", ["domain", "list"], "expected a mapping of rows"),
        ("cli_read_back", "no", "expected true or false"),
        ("cli_exists_pattern", "already (exists", "expected a regular expression"),
        ("cli_exists_pattern", "", "expected a regular expression on one line"),
    ],
)
def test_the_other_cli_settings_are_checked(key, value, expected):
    _, problems = ciphermail_split_pillar.problems({**PORTAL_PILLAR, "lookup": {key: value}}, DEFAULTS)
    assert len(problems) == 1
    assert problems[0].startswith(f"ciphermail_split:lookup:{key}: got ")
    assert expected in problems[0]


def test_the_exists_pattern_matches_in_any_letter_case():
    settings = split_settings.host_settings({})
    assert split_settings.exists_message(settings, 'Error: domain "x" ALREADY EXISTS')
    assert not split_settings.exists_message(settings, 'Error: domain "x" does not exist')
    custom = split_settings.host_settings({"cli_exists_pattern": r"duplicate (key|entry)"})
    assert split_settings.exists_message(custom, "Duplicate entry for x")
    assert split_settings.cli_mode(settings) == "read-back"
    assert split_settings.cli_mode(split_settings.host_settings({"cli_read_back": False})) == "documented-only"


@pytest.mark.parametrize(
    "retcode, output, unknown",
    [
        (2, 'ciphermail-cli: error: "domain": unknown subcommand "list"', True),
        (2, "usage: ciphermail-cli ...", True),
        (1, "Unknown command: domain list", True),
        (1, "error: 'list' is not a known command", True),
        (64, "Unrecognized command 'domain'", True),
        (1, 'Error: domain "x" does not exist', False),
        (1, "Error: authentication failed", False),
    ],
)
def test_an_unknown_command_is_exit_2_or_says_so(retcode, output, unknown):
    assert cli_commands.is_unknown_command(retcode, output) is unknown


def test_the_unknown_command_message_names_the_command_the_gateway_and_both_fixes():
    output = "usage: ciphermail-cli domain add --domain DOMAIN\n" 'ciphermail-cli: error: "domain": unknown subcommand "list"\n'
    message = cli_commands.unknown_command_message(
        "ciphermail_split:lookup", "domain_list", ["ciphermail-cli", "domain", "list"], 2, output, True
    )
    assert message == (
        "The gateway's ciphermail-cli does not know the command ciphermail-cli domain list (row domain_list, exit 2): "
        'ciphermail-cli: error: "domain": unknown subcommand "list". '
        "Fix: set ciphermail_split:lookup:cli_commands:domain_list to this gateway's words for it, "
        "or set ciphermail_split:lookup:cli_read_back: false to run only the documented commands"
    )
    # A write row has one fix; so has a read row when the formula already reads nothing.
    write = cli_commands.unknown_command_message("k", "domain_add", ["c", "domain", "add"], 2, "", True)
    assert write.endswith("Fix: set k:cli_commands:domain_add to this gateway's words for it")
    assert "no output" in write


def test_the_gateways_message_is_its_error_lines_shortened():
    assert cli_commands.gateway_message("NAME\n  domain list\nError: not permitted\n") == "Error: not permitted"
    assert cli_commands.gateway_message("first\nsecond\n") == "first"
    assert len(cli_commands.gateway_message("error " * 200)) == 300
