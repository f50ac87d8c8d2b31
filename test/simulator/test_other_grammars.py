"""
The simulator's two switches for a CLI the formula does not know:
``CIPHERMAIL_SIM_DOCUMENTED_ONLY=1`` (only the vendor's three documented
commands exist) and ``CIPHERMAIL_SIM_GRAMMAR=scoped`` (another grammar). An
unknown command is a usage error as any other: exit 2, the usage block of
the commands that exist, ``ciphermail-cli: error: ...``, nothing changed.
"""

import shlex

import pytest
from support.samples import VENDOR_PORTAL_COMMANDS
from test_simulator import PORTAL, assert_logged

DOCUMENTED_ONLY = {"CIPHERMAIL_SIM_DOCUMENTED_ONLY": "1"}
SCOPED = {"CIPHERMAIL_SIM_GRAMMAR": "scoped"}


def test_documented_only_runs_the_vendor_page_and_nothing_else(gw):
    for line in VENDOR_PORTAL_COMMANDS.splitlines():
        gw.ok(*shlex.split(line)[1:], env=DOCUMENTED_ONLY)
    assert gw.state()["domains"] == {PORTAL: {"revert-rewrite-recipient": "true"}}
    usage = gw.cli("--help", env=DOCUMENTED_ONLY).stdout
    assert usage.splitlines() == [
        "usage: ciphermail-cli domain add --domain DOMAIN",
        "       ciphermail-cli property domain set --domain DOMAIN --name NAME --value VALUE",
        "       ciphermail-cli property global set --name NAME --value VALUE",
        "       ciphermail-cli -h|--help",
    ]


@pytest.mark.parametrize(
    "argv, problem",
    [
        (["domain", "list"], '"domain": unknown subcommand "list" (expected one of: add)'),
        (["domain", "delete", "--domain", PORTAL], '"domain": unknown subcommand "delete" (expected one of: add)'),
        (["property", "domain", "get", "--domain", PORTAL, "--name", "comment"], 'unknown subcommand "get"'),
        (["property", "global", "get", "--name", "trigger-subject"], '"property global": unknown subcommand "get"'),
    ],
)
def test_documented_only_refuses_the_inferred_commands_as_unknown(portal, argv, problem):
    before = portal.state_text()
    result = portal.cli(*argv, env=DOCUMENTED_ONLY)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("usage: ciphermail-cli domain add --domain DOMAIN\n")
    assert result.stderr.splitlines()[-1].startswith("ciphermail-cli: error: ")
    assert problem in result.stderr.splitlines()[-1]
    assert portal.state_text() == before
    assert_logged(portal, "ciphermail-cli", argv, 2)
    # The same call on the full grammar works: the switch is what refuses it.
    assert portal.cli(*argv).returncode == 0


def test_the_scoped_grammar_does_what_the_vendor_grammar_does(gw):
    gw.ok("domains", "create", "--domain", PORTAL, env=SCOPED)
    gw.ok("property", "set", "--scope", "domain", "--domain", PORTAL, "--name", "revert-rewrite-recipient",
          "--value", "true", env=SCOPED)  # fmt: skip
    gw.ok("property", "set", "--scope", "global", "--value", "true", "--name", "trigger-subject-enabled", env=SCOPED)
    assert gw.ok("domains", "list", env=SCOPED) == f"{PORTAL}\n"
    assert gw.ok("property", "get", "--name", "trigger-subject-enabled", "--scope", "global", env=SCOPED) == "true\n"
    assert gw.ok("property", "get", "--scope", "domain", "--domain", PORTAL, "--name", "revert-rewrite-recipient",
                 env=SCOPED) == "true\n"  # fmt: skip
    gw.ok("domains", "remove", "--domain", PORTAL, env=SCOPED)
    assert gw.state()["domains"] == {}
    assert gw.state()["global"]["trigger-subject-enabled"] == "true"


@pytest.mark.parametrize(
    "argv, problem",
    [
        (["domain", "list"], 'unknown command "domain" (expected one of: domains, property)'),
        (["property", "global", "get", "--name", "x"], '"property": unknown subcommand "global"'),
        (["property", "get", "--name", "trigger-subject"], '"property get": missing required option --scope'),
        (["property", "get", "--scope", "user", "--name", "x"],
         '"property get": option --scope: invalid value "user" (expected one of: domain, global)'),
        (["property", "get", "--scope", "global", "--domain", PORTAL, "--name", "comment"],
         '"property get": option --domain does not go with --scope global'),
        (["property", "get", "--scope", "domain", "--name", "comment"],
         '"property get": missing required option --domain'),
        (["property", "set", "--scope", "global", "--name", "x", "--value"], "option --value requires a value"),
        (["domains", "create", "--domain"], '"domains create": option --domain requires a value'),
        (["domains", "list", "--scope", "global"], '"domains list": unknown option "--scope"'),
    ],
)  # fmt: skip
def test_the_scoped_grammar_is_as_strict_as_the_vendor_grammar(portal, argv, problem):
    before = portal.state_text()
    result = portal.cli(*argv, env=SCOPED)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: ciphermail-cli domains list\n")
    assert result.stderr.splitlines()[-1].startswith("ciphermail-cli: error: ")
    assert problem in result.stderr.splitlines()[-1]
    assert portal.state_text() == before


def test_documented_only_in_the_scoped_grammar_keeps_its_set_and_create(gw):
    env = {**SCOPED, **DOCUMENTED_ONLY}
    gw.ok("domains", "create", "--domain", PORTAL, env=env)
    result = gw.cli("property", "get", "--scope", "global", "--name", "trigger-subject", env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        'ciphermail-cli: error: "property": unknown subcommand "get" (expected one of: set)'
    )


@pytest.mark.parametrize(
    "name, value", [("CIPHERMAIL_SIM_GRAMMAR", "cisco"), ("CIPHERMAIL_SIM_DOCUMENTED_ONLY", "yes")]
)
def test_a_bad_switch_is_a_usage_error(gw, name, value):
    result = gw.cli("domain", "list", env={name: value})
    assert result.returncode == 2
    assert name in result.stderr
