"""
The gateway-side states against the simulator: test=True predicts the live
changes, the live run makes them, a second run changes nothing and writes
nothing; clean-side states take back only what the formula did.
"""

import functools
import shlex

import pytest
import yaml
from support.contract import converge_state
from support.samples import MAIN_ROLE_SLS, VENDOR_PORTAL_COMMANDS
from support.values import DOMAIN, OVERRIDE_KEY, TRIGGERS


@pytest.fixture
def converge(gateway):
    """The run contract (support.contract) for one state function and its arguments."""
    return lambda state_function, **kwargs: converge_state(gateway, functools.partial(state_function, **kwargs))


def vendor_argv():
    return [shlex.split(line)[1:] for line in VENDOR_PORTAL_COMMANDS.splitlines()]


def test_portal_states_issue_exactly_the_vendor_commands(states, gateway, converge):
    converge(states.ciphermail.domain_present, name=DOMAIN, properties={"revert-rewrite-recipient": True})
    converge(states.ciphermail.global_properties_managed, name="triggers", properties=TRIGGERS)

    assert [call["argv"] for call in gateway.write_calls()] == vendor_argv()
    state = gateway.sim_state()
    assert state["domains"] == {DOMAIN: {"revert-rewrite-recipient": "true"}}
    assert {name: state["global"][name] for name in TRIGGERS} == {
        name: value if isinstance(value, str) else "true" for name, value in TRIGGERS.items()
    }


def test_domain_present_reports_new_domain_and_properties(states, converge):
    changes = converge(states.ciphermail.domain_present, name=DOMAIN, properties={"revert-rewrite-recipient": True})
    assert changes == {
        "domain": {"old": None, "new": DOMAIN},
        "revert-rewrite-recipient": {"old": None, "new": "true"},
    }


def test_domain_present_fixes_a_drifted_property(states, gateway, converge):
    gateway.cli("domain", "add", "--domain", DOMAIN)
    changes = converge(states.ciphermail.domain_present, name=DOMAIN, properties={"revert-rewrite-recipient": True})
    assert changes == {"revert-rewrite-recipient": {"old": "false", "new": "true"}}
    assert gateway.sim_state()["domains"][DOMAIN] == {"revert-rewrite-recipient": "true"}


@pytest.mark.parametrize("spelling", ["TRUE", "True", "true"])
def test_values_compare_normalised(states, gateway, spelling):
    gateway.cli("domain", "add", "--domain", DOMAIN)
    gateway.cli("property", "domain", "set", "--domain", DOMAIN, "--name", "revert-rewrite-recipient", "--value", spelling)
    gateway.cli("property", "global", "set", "--name", "trigger-webmail-header-enabled", "--value", spelling)
    calls_before = len(gateway.calls())
    for wanted in (True, "true", "TRUE", "True"):
        domain = states.ciphermail.domain_present(name=DOMAIN, properties={"revert-rewrite-recipient": wanted})
        prop = states.ciphermail.global_properties_managed(
            name="enabled", properties={"trigger-webmail-header-enabled": wanted}
        )
        assert (domain.result, domain.changes, prop.result, prop.changes) == (True, {}, True, {})
    assert gateway.write_calls(since=calls_before) == []


def test_domain_absent_deletes_only_a_domain_the_formula_added(states, gateway, converge):
    converge(states.ciphermail.domain_present, name=DOMAIN, properties={"revert-rewrite-recipient": True})
    changes = converge(states.ciphermail.domain_absent, name=DOMAIN)
    assert changes == {"domain": {"old": DOMAIN, "new": None}}
    assert DOMAIN not in gateway.sim_state()["domains"]


def test_domain_absent_keeps_an_admins_domain_and_restores_our_property(states, gateway, converge):
    gateway.cli("domain", "add", "--domain", DOMAIN)
    converge(states.ciphermail.domain_present, name=DOMAIN, properties={"revert-rewrite-recipient": True})
    changes = converge(states.ciphermail.domain_absent, name=DOMAIN)
    assert changes == {"revert-rewrite-recipient": {"old": "true", "new": "false"}}
    assert gateway.sim_state()["domains"] == {DOMAIN: {"revert-rewrite-recipient": "false"}}


def test_domain_absent_with_force_deletes_an_admins_domain(states, gateway, converge):
    gateway.cli("domain", "add", "--domain", DOMAIN)
    assert converge(states.ciphermail.domain_absent, name=DOMAIN, force=True) == {
        "domain": {"old": DOMAIN, "new": None}
    }
    assert gateway.sim_state()["domains"] == {}


def test_global_properties_restored_puts_back_the_old_values(states, gateway, converge):
    gateway.cli("property", "global", "set", "--name", "trigger-webmail-header", "--value", "X-Old: 1")
    before = gateway.sim_state()["global"]
    converge(states.ciphermail.global_properties_managed, name="triggers", properties=TRIGGERS)
    changes = converge(
        states.ciphermail.global_properties_restored, name="triggers", properties=list(reversed(list(TRIGGERS)))
    )
    assert changes["trigger-webmail-header"] == {"old": TRIGGERS["trigger-webmail-header"], "new": "X-Old: 1"}
    assert changes["trigger-webmail-header-enabled"] == {"old": "true", "new": "false"}
    assert gateway.sim_state()["global"] == before


def test_global_properties_restored_leaves_an_admins_later_change(states, gateway):
    states.ciphermail.global_properties_managed(name="triggers", properties=TRIGGERS)
    gateway.cli("property", "global", "set", "--name", "trigger-webmail-header", "--value", "X-Admin: yes")
    ret = states.ciphermail.global_properties_restored(name="t", properties=["trigger-webmail-header"])
    assert ret.result is True
    assert ret.changes == {}
    assert "trigger-webmail-header" in ret.comment
    assert gateway.sim_state()["global"]["trigger-webmail-header"] == "X-Admin: yes"


def test_override_keys_present_keeps_the_admins_keys_and_comments(states, gateway, modules, converge):
    path = gateway.ansible_vars_dir / "ciphermail-split-mode.yml"
    path.write_text("---\n# admin's note\nsome_admin_key: 42\n")
    changes = converge(states.ciphermail_ansible.override_keys_present, name="override", values={OVERRIDE_KEY: True})
    assert changes == {OVERRIDE_KEY: {"old": None, "new": "true"}}
    text = path.read_text()
    assert text.startswith("---\n# admin's note\nsome_admin_key: 42\n")
    assert yaml.safe_load(text) == {"some_admin_key": 42, OVERRIDE_KEY: True}
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert modules.ciphermail_ansible.playbook_pending() is True


def test_override_keys_present_refuses_a_key_a_later_file_overrides(states, gateway):
    (gateway.ansible_vars_dir / "zz-local.yml").write_text(f"{OVERRIDE_KEY}: false\n")
    ret = states.ciphermail_ansible.override_keys_present(name="override", values={OVERRIDE_KEY: True})
    assert ret.result is False
    assert "zz-local.yml" in ret.comment
    assert not (gateway.ansible_vars_dir / "ciphermail-split-mode.yml").exists()


def test_override_keys_absent_takes_back_our_key_and_file(states, gateway, converge):
    converge(states.ciphermail_ansible.override_keys_present, name="override", values={OVERRIDE_KEY: True})
    changes = converge(states.ciphermail_ansible.override_keys_absent, name="override", keys=[OVERRIDE_KEY])
    path = str(gateway.ansible_vars_dir / "ciphermail-split-mode.yml")
    assert changes == {OVERRIDE_KEY: {"old": "true", "new": None}, "file": {"old": path, "new": None}}
    assert list(gateway.ansible_vars_dir.iterdir()) == []


def test_override_keys_absent_keeps_a_file_the_admin_wrote_in(states, gateway, converge):
    converge(states.ciphermail_ansible.override_keys_present, name="override", values={OVERRIDE_KEY: True})
    path = gateway.ansible_vars_dir / "ciphermail-split-mode.yml"
    path.write_text(path.read_text() + "admin_key: yes\n")
    changes = converge(states.ciphermail_ansible.override_keys_absent, name="override", keys=[OVERRIDE_KEY])
    assert changes == {OVERRIDE_KEY: {"old": "true", "new": None}}
    assert yaml.safe_load(path.read_text()) == {"admin_key": True}


def test_failing_cli_command_gives_result_false_with_its_error(states, gateway, monkeypatch):
    monkeypatch.setenv("CIPHERMAIL_SIM_FAIL", "domain add")
    ret = states.ciphermail.domain_present(name=DOMAIN, properties={"revert-rewrite-recipient": True})
    assert ret.result is False
    assert "domain add" in ret.comment
    assert "injected fault" in ret.comment
    assert "Traceback" not in ret.comment
    assert gateway.sim_state()["domains"] == {}


def test_bad_property_value_fails_before_any_write(states, gateway):
    ret = states.ciphermail.global_properties_managed(
        name="triggers", properties={"trigger-webmail-header": "X-Keep: True\nX-Evil: 1"}
    )
    assert ret.result is False
    assert "line breaks" in ret.comment
    assert gateway.write_calls() == []


# -- the playbook ------------------------------------------------------------------------



def playbook_runs(gateway):
    return [call for call in gateway.calls() if call["prog"] == "cm-run-playbook"]


def test_playbook_runs_once_when_the_override_changes(run_sls, gateway):
    predicted = run_sls(MAIN_ROLE_SLS, test=True)
    assert playbook_runs(gateway) == []
    live = run_sls(MAIN_ROLE_SLS)
    assert {r.name: r.changes for r in live} == {r.name: r.changes for r in predicted}
    assert [r.result for r in predicted] == [None, None]
    assert len(playbook_runs(gateway)) == 1
    assert gateway.sim_state()["playbook"]["applied"] == {OVERRIDE_KEY: True}

    again = run_sls(MAIN_ROLE_SLS)
    assert [r.changes for r in again] == [{}, {}]
    assert len(playbook_runs(gateway)) == 1


def test_failed_playbook_is_retried_until_it_succeeds(run_sls, gateway, monkeypatch):
    monkeypatch.setenv("CIPHERMAIL_SIM_FAIL", "run-playbook")
    failed = run_sls(MAIN_ROLE_SLS)
    playbook = [r for r in failed if r.name == "playbook"][0]
    assert playbook.result is False
    assert "FAILED" in playbook.comment  # the tail of its output
    assert len(playbook_runs(gateway)) == 1  # never twice in one run

    # The override file is unchanged now, yet the next run retries.
    still_failing = run_sls(MAIN_ROLE_SLS)
    assert [r.changes for r in still_failing if r.name == "override"] == [{}]
    assert len(playbook_runs(gateway)) == 2

    monkeypatch.delenv("CIPHERMAIL_SIM_FAIL")
    predicted = run_sls(MAIN_ROLE_SLS, test=True)
    assert [r.result for r in predicted if r.name == "playbook"] == [None]
    recovered = run_sls(MAIN_ROLE_SLS)
    assert all(r.result is True for r in recovered)
    assert len(playbook_runs(gateway)) == 3
    assert gateway.sim_state()["playbook"]["runs"] == 1

    run_sls(MAIN_ROLE_SLS)
    assert len(playbook_runs(gateway)) == 3


def test_playbook_timeout_fails_and_stays_pending(modules, states, gateway, monkeypatch, loaders):
    loaders.opts["ciphermail_split"]["lookup"]["playbook_timeout"] = 1
    monkeypatch.setenv("CIPHERMAIL_SIM_PLAYBOOK_SECONDS", "30")
    modules.ciphermail_ansible.override_set({OVERRIDE_KEY: True})
    ret = states.ciphermail_ansible.playbook_applied(name="playbook")
    assert ret.result is False
    assert "timed out" in ret.comment
    assert modules.ciphermail_ansible.playbook_pending() is True
    assert gateway.sim_state()["playbook"]["runs"] == 0
