"""
The CipherMail states in both CLI modes, on the simulator:

- documented-only (``lookup:cli_read_back: false``, and a simulated CLI that
  knows only the vendor's three documented commands): the first run writes
  the six commands of the vendor's page, the next runs no CLI command at
  all, a domain that exists is accepted, a pillar change writes only the
  difference, and clean switches off what the formula switched on;
- read-back, with the rows of another grammar (``lookup:cli_commands``)
  reaching argv exactly, and a read row the CLI does not know failing with
  a message that says what to set.
"""

import functools
import shlex

import pytest
from support.contract import converge_state
from support.samples import VENDOR_PORTAL_COMMANDS
from support.values import DOMAIN, SCOPED_COMMANDS, TRIGGERS

RRR = "revert-rewrite-recipient"
DOCUMENTED_ONLY_CLI = "CIPHERMAIL_SIM_DOCUMENTED_ONLY"
OFF = {
    "trigger-webmail-header": TRIGGERS["trigger-webmail-header"],
    "trigger-webmail-header-enabled": "true",
    "trigger-otp-encryption-header": TRIGGERS["trigger-otp-encryption-header"],
    "trigger-otp-encryption-header-enabled": False,
}


@pytest.fixture
def lookup(loaders):
    """``ciphermail_split:lookup`` the modules read (minion config), for this test to change."""
    return loaders.opts["ciphermail_split"]["lookup"]


@pytest.fixture
def documented_only(lookup, monkeypatch):
    """The formula in documented-only mode, against a CLI that knows only the documented commands."""
    lookup["cli_read_back"] = False
    monkeypatch.setenv(DOCUMENTED_ONLY_CLI, "1")


@pytest.fixture
def converge(gateway):
    """The run contract (support.contract) for one state function and its arguments."""
    return lambda state_function, **kwargs: converge_state(gateway, functools.partial(state_function, **kwargs))


def apply_portal(states, converge, triggers=None):
    """The portal's CipherMail states, each held to the run contract; returns their live changes."""
    domain = converge(states.ciphermail.domain_present, name=DOMAIN, properties={RRR: True})
    props = converge(states.ciphermail.global_properties_managed, name="triggers", properties=triggers or TRIGGERS)
    return domain, props


def clean_portal(states, converge):
    restored = converge(states.ciphermail.global_properties_restored, name="triggers", properties=list(TRIGGERS))
    return restored, converge(states.ciphermail.domain_absent, name=DOMAIN)


def vendor_argv():
    return [shlex.split(line)[1:] for line in VENDOR_PORTAL_COMMANDS.splitlines()]


def cli_calls_of(gateway, since):
    return [call["argv"] for call in gateway.calls()[since:] if call["prog"] == "ciphermail-cli"]


# -- documented-only ------------------------------------------------------------------


@pytest.mark.usefixtures("documented_only")
def test_documented_only_writes_the_vendor_page_then_runs_no_cli_command(states, gateway, converge):
    domain, props = apply_portal(states, converge)
    assert domain == {"domain": {"old": "unknown", "new": DOMAIN}, RRR: {"old": "unknown", "new": "true"}}
    assert props == {name: {"old": "unknown", "new": value} for name, value in TRIGGERS.items()}
    # Exactly the six commands of the vendor's page, and no other CLI call: nothing was read.
    assert [call["argv"] for call in gateway.calls()] == vendor_argv()
    assert gateway.sim_state()["domains"] == {DOMAIN: {RRR: "true"}}

    since = len(gateway.calls())
    again = states.ciphermail.domain_present(name=DOMAIN, properties={RRR: True})
    assert (again.result, again.changes) == (True, {})
    assert "as the formula applied them (documented-only mode" in again.comment
    assert states.ciphermail.global_properties_managed(name="t", properties=TRIGGERS).changes == {}
    assert gateway.calls()[since:] == []


@pytest.mark.usefixtures("documented_only")
def test_documented_only_accepts_a_domain_that_exists(states, gateway, converge, modules, lookup, monkeypatch):
    gateway.cli("domain", "add", "--domain", DOMAIN)  # the admin's, before the formula
    since = len(gateway.calls())
    predicted = states.ciphermail.domain_present(name=DOMAIN, properties={RRR: True}, test=True)
    assert "a domain that exists counts as present" in predicted.comment
    changes = converge(states.ciphermail.domain_present, name=DOMAIN, properties={RRR: True})
    assert changes == {"domain": {"old": "unknown", "new": DOMAIN}, RRR: {"old": "unknown", "new": "true"}}
    assert cli_calls_of(gateway, since) == vendor_argv()[:2]
    assert gateway.sim_state()["domains"] == {DOMAIN: {RRR: "true"}}
    # The domain was the admin's: the ledger does not claim it, so clean leaves it even with a delete command.
    ledger = modules.ciphermail_ledger.show()
    assert "domain:" + DOMAIN not in ledger["records"]
    assert ledger["applied"]["domain:" + DOMAIN] == "present"
    monkeypatch.delenv(DOCUMENTED_ONLY_CLI)  # a CLI that knows a delete command, and the formula is given it
    lookup["cli_commands"] = {"domain_delete": ["domain", "delete", "--domain", "{domain}"]}
    clean = converge(states.ciphermail.domain_absent, name=DOMAIN)
    assert clean == {RRR: {"old": "unknown", "new": "false"}}
    assert gateway.sim_state()["domains"] == {DOMAIN: {RRR: "false"}}


@pytest.mark.usefixtures("documented_only")
def test_documented_only_the_domain_add_message_is_matched_by_the_pattern(states, gateway, lookup):
    gateway.cli("domain", "add", "--domain", DOMAIN)
    lookup["cli_exists_pattern"] = "is already configured"  # another wording than the simulator's
    ret = states.ciphermail.domain_present(name=DOMAIN, properties={RRR: True})
    assert ret.result is False
    assert 'domain "relay-to-webmail.private" already exists' in ret.comment


@pytest.mark.usefixtures("documented_only")
def test_documented_only_a_pillar_change_writes_only_the_difference(states, gateway, converge):
    apply_portal(states, converge)
    since = len(gateway.calls())
    changes = converge(states.ciphermail.global_properties_managed, name="triggers", properties=OFF)
    assert changes == {"trigger-otp-encryption-header-enabled": {"old": "unknown", "new": "false"}}
    assert cli_calls_of(gateway, since) == [
        ["property", "global", "set", "--name", "trigger-otp-encryption-header-enabled", "--value", "false"]
    ]


@pytest.mark.usefixtures("documented_only")
def test_documented_only_clean_switches_off_with_documented_commands_and_the_domain_stays(states, gateway, converge):
    apply_portal(states, converge)
    since = len(gateway.calls())
    predicted = states.ciphermail.domain_absent(name=DOMAIN, test=True)
    assert "ciphermail_split:lookup:cli_commands:domain_delete" in predicted.comment
    restored, domain = clean_portal(states, converge)
    assert restored == {
        "trigger-webmail-header-enabled": {"old": "unknown", "new": "false"},
        "trigger-otp-encryption-header-enabled": {"old": "unknown", "new": "false"},
    }
    assert domain == {RRR: {"old": "unknown", "new": "false"}}
    assert all(argv[:3] in (["property", "global", "set"], ["property", "domain", "set"])
               for argv in cli_calls_of(gateway, since))  # fmt: skip
    state = gateway.sim_state()
    assert state["domains"] == {DOMAIN: {RRR: "false"}}
    assert state["global"]["trigger-webmail-header-enabled"] == "false"
    assert state["global"]["trigger-otp-encryption-header-enabled"] == "false"
    # The headers stay: their values before the formula are not known, and they do nothing while disabled.
    assert state["global"]["trigger-webmail-header"] == TRIGGERS["trigger-webmail-header"]
    since = len(gateway.calls())
    again = states.ciphermail.global_properties_restored(name="triggers", properties=list(TRIGGERS))
    assert (again.result, again.changes) == (True, {})
    assert states.ciphermail.domain_absent(name=DOMAIN).changes == {}
    assert gateway.calls()[since:] == []


def test_documented_only_clean_deletes_the_domain_with_a_given_delete_command(states, gateway, converge, lookup):
    lookup["cli_read_back"] = False
    apply_portal(states, converge)
    lookup["cli_commands"] = {"domain_delete": ["domain", "delete", "--domain", "{domain}"]}
    since = len(gateway.calls())
    restored, domain = clean_portal(states, converge)
    assert domain == {"domain": {"old": "unknown", "new": None}}
    assert cli_calls_of(gateway, since)[-1] == ["domain", "delete", "--domain", DOMAIN]
    assert gateway.sim_state()["domains"] == {}


def test_documented_only_refuses_to_force_a_delete_it_has_no_command_for(states, gateway, lookup):
    gateway.cli("domain", "add", "--domain", DOMAIN)
    lookup["cli_read_back"] = False
    ret = states.ciphermail.domain_absent(name=DOMAIN, force=True)
    assert ret.result is False
    assert "no delete command is documented" in ret.comment
    assert DOMAIN in gateway.sim_state()["domains"]


def test_read_back_after_documented_only_switches_off_what_is_still_the_formulas(states, gateway, converge, lookup):
    lookup["cli_read_back"] = False
    apply_portal(states, converge)
    gateway.cli("property", "global", "set", "--name", "trigger-otp-encryption-header-enabled", "--value", "false")
    lookup["cli_read_back"] = True
    restored = states.ciphermail.global_properties_restored(name="triggers", properties=list(TRIGGERS))
    assert restored.changes == {"trigger-webmail-header-enabled": {"old": "true", "new": "false"}}
    assert "trigger-otp-encryption-header-enabled was changed by someone else since" in restored.comment


# -- read-back: the CLI's words -----------------------------------------------------------


def test_cli_commands_of_another_grammar_reach_argv_exactly(states, gateway, converge, lookup, monkeypatch):
    monkeypatch.setenv("CIPHERMAIL_SIM_GRAMMAR", "scoped")
    lookup["cli_commands"] = SCOPED_COMMANDS
    apply_portal(states, converge)
    clean_portal(states, converge)
    header, enabled = "trigger-webmail-header", "trigger-webmail-header-enabled"
    calls = [call["argv"] for call in gateway.calls()]
    # The first calls of the domain state: list, create, set (test=True read the list first).
    assert calls[:4] == [
        ["domains", "list"],
        ["domains", "list"],
        ["domains", "create", "--domain", DOMAIN],
        ["property", "set", "--scope", "domain", "--domain", DOMAIN, "--name", RRR, "--value", "true"],
    ]
    assert ["property", "get", "--scope", "domain", "--domain", DOMAIN, "--name", RRR] in calls
    assert ["property", "get", "--scope", "global", "--name", header] in calls
    assert ["property", "set", "--scope", "global", "--name", header, "--value", TRIGGERS[header]] in calls
    assert ["property", "set", "--scope", "global", "--name", enabled, "--value", "false"] in calls
    assert calls[-1] == ["domains", "list"] and ["domains", "remove", "--domain", DOMAIN] in calls
    assert {call["rc"] for call in gateway.calls()} == {0}
    assert gateway.sim_state()["domains"] == {}


SHOW = ["property", "domain", "show", "--domain", "{domain}", "--name", "{name}"]


@pytest.mark.parametrize(
    "row, words, documented_only_cli, overrides",
    [
        ("domain_list", "domain list", True, {}),
        ("global_property_get", "property global get --name trigger-webmail-header", True, {}),
        ("domain_property_get", f"property domain show --domain {DOMAIN} --name {RRR}", False,
         {"domain_property_get": SHOW}),
    ],
)  # fmt: skip
def test_a_read_row_the_cli_does_not_know_names_the_command_and_both_fixes(
    states, gateway, lookup, monkeypatch, row, words, documented_only_cli, overrides
):
    gateway.cli("domain", "add", "--domain", DOMAIN)
    lookup["cli_commands"] = overrides
    if documented_only_cli:
        monkeypatch.setenv(DOCUMENTED_ONLY_CLI, "1")
    if row == "global_property_get":
        ret = states.ciphermail.global_properties_managed(name="triggers", properties=TRIGGERS)
    else:
        ret = states.ciphermail.domain_present(name=DOMAIN, properties={RRR: True})
    assert ret.result is False
    assert f"does not know the command {shlex.join(lookup['cli'])} {words} (row {row}, exit 2)" in ret.comment
    assert "ciphermail-cli: error: " in ret.comment and "unknown subcommand" in ret.comment  # the gateway's words
    assert f"set ciphermail_split:lookup:cli_commands:{row} to this gateway's words for it" in ret.comment
    assert "or set ciphermail_split:lookup:cli_read_back: false to run only the documented commands" in ret.comment
    assert "Traceback" not in ret.comment
    assert len(gateway.write_calls()) == 1  # the admin's domain add; the state wrote nothing
