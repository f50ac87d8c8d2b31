"""
The portal role with ``salt-call --local state.apply`` in the CLI mode the
other integration tests do not use (read-back: test_roles.py):

- documented-only (``cli_read_back: false``) against a simulated CLI that
  knows only the vendor's three documented commands: the first apply writes
  the vendor's six commands, the next runs no CLI command at all, a pillar
  change writes only the difference, clean switches off with documented
  commands and leaves the domain;
- ``ciphermail_split.preflight`` as an admin runs it, in JSON.

An admin's domain and another grammar's rows are tested state by state in
the functional tier (test_cli_modes.py).
"""

import json
import shlex

from support.contract import converge_apply
from support.samples import VENDOR_PORTAL_COMMANDS
from support.values import DOMAIN, MAIN_GATEWAY_ADDRESS, PORTAL_PILLAR, TRIGGERS

DOCUMENTED_ONLY_CLI = {"CIPHERMAIL_SIM_DOCUMENTED_ONLY": "1"}
TRIGGER_STATE = "ciphermail_split-portal-header-triggers-managed"


def cli_argv(gateway, since=0):
    return [call["argv"] for call in gateway.calls()[since:] if call["prog"] == "ciphermail-cli"]


def test_documented_only_portal_role_apply_change_and_clean(make_minion):
    pillar = {**PORTAL_PILLAR, "lookup": {"cli_read_back": False}}
    minion = make_minion(pillar, name="portal")
    gateway = minion.gateway
    live = converge_apply(minion, env=DOCUMENTED_ONLY_CLI)
    assert live.changes[TRIGGER_STATE] == {name: {"old": "unknown", "new": value} for name, value in TRIGGERS.items()}
    # Every CLI call of the three runs (test=True, live, again): the vendor's six commands, once.
    assert cli_argv(gateway) == [shlex.split(line)[1:] for line in VENDOR_PORTAL_COMMANDS.splitlines()]

    minion.set_pillar({**pillar, "messengers": {"pdf_otp": False}})
    since = len(gateway.calls())
    live = converge_apply(minion, env=DOCUMENTED_ONLY_CLI)
    assert live.changes == {
        TRIGGER_STATE: {"trigger-otp-encryption-header-enabled": {"old": "unknown", "new": "false"}}
    }
    assert cli_argv(gateway, since) == [
        ["property", "global", "set", "--name", "trigger-otp-encryption-header-enabled", "--value", "false"]
    ]

    since = len(gateway.calls())
    clean = converge_apply(minion, "ciphermail_split.clean", env=DOCUMENTED_ONLY_CLI)
    assert clean.changes["ciphermail_split-portal-clean-header-triggers-restored"] == {
        "trigger-webmail-header-enabled": {"old": "unknown", "new": "false"}
    }
    assert clean.changes["ciphermail_split-portal-clean-private-domain-absent"] == {
        "revert-rewrite-recipient": {"old": "unknown", "new": "false"}
    }
    domain_comment = clean.states["ciphermail_split-portal-clean-private-domain-absent"]["comment"]
    assert "it stays (no delete command is documented; give ciphermail_split:lookup:cli_commands:domain_delete" in (
        domain_comment
    )
    assert all(argv[1:3] in (["global", "set"], ["domain", "set"]) for argv in cli_argv(gateway, since))
    state = gateway.sim_state()
    assert state["domains"] == {DOMAIN: {"revert-rewrite-recipient": "false"}}
    assert state["global"]["trigger-webmail-header-enabled"] == "false"
    assert MAIN_GATEWAY_ADDRESS not in gateway.mynetworks()


def test_preflight_as_an_admin_runs_it(make_minion):
    minion = make_minion(PORTAL_PILLAR, name="portal")
    ok = minion.salt_call("ciphermail_split.preflight")
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)["local"]
    assert (report["role"], report["result"], report["cli_mode"]) == ("portal", "warn", "read-back")
    assert report["checks"]["cli_read:domain_property_get"]["result"] == "warn"  # no domain yet

    failing = minion.salt_call("ciphermail_split.preflight", extra_env=DOCUMENTED_ONLY_CLI)
    assert failing.returncode == 1
    report = json.loads(failing.stdout)["local"]
    assert report["result"] == "fail"
    assert "cli_read_back: false" in report["checks"]["cli_answers"]["fix"]
    assert minion.gateway.write_calls() == []
