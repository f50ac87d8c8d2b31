"""
Reliability, as an admin runs the formula (``salt-call --local state.apply
ciphermail_split``): a gateway pair carries an organisation's confidential
mail, so the formula must never leave one half-configured without saying
so, never lose an admin's settings, and never open the portal to the wrong
senders.

- the CipherMail CLI down, wholly or in part (portal role);
- cm-run-playbook failing or timing out (main role);
- an admin editing the transport table or main.cf between two runs;
- what the portal's ``mynetworks`` lets relay (pillar checks; the move of
  the main gateway is in ../functional/test_reliability_in_process.py).

Every case asserts outcomes: the simulated gateway, Postfix lookups, files,
the changes of each state and the gateway's call log. One synced minion is
shared by the module; each test gives it a fresh gateway and its pillar.
"""

import shlex
import sys

import psutil
import pytest
from support.contract import converge_apply
from support.masterless import MasterlessMinion
from support.sandbox import SIMULATOR_DIR, GatewaySandbox
from support.values import (
    BASE_MYNETWORKS,
    DOMAIN,
    MAIN_GATEWAY_ADDRESS,
    MAIN_PILLAR,
    OVERRIDE_KEY,
    PORTAL_PILLAR,
    PORTAL_SERVER,
    TRIGGERS,
)

pytestmark = [pytest.mark.integration, pytest.mark.default_salt_only]

NEXTHOP = f"smtp:[{PORTAL_SERVER}]"
ADMIN_HOST = "198.51.100.7"

PORTAL_READY = "ciphermail_split-portal-ready"
MAIN_READY = "ciphermail_split-main-ready"
MYNETWORKS_STATE = "ciphermail_split-portal-mynetworks-present"
DOMAIN_STATE = "ciphermail_split-portal-private-domain-present"
TRIGGERS_STATE = "ciphermail_split-portal-header-triggers-managed"
TRANSPORT_STATE = "ciphermail_split-main-transport-present"
OVERRIDE_STATE = "ciphermail_split-main-override-present"
PLAYBOOK_STATE = "ciphermail_split-main-playbook-applied"
TLS_POLICY_STATE = "ciphermail_split-main-tls-policy-absent"

PLAYBOOK_APPLIED = {"playbook": {"old": "pending", "new": "applied"}}

TRANSPORT_MAPS_EXTRA = "transport_maps = hash:{root}/transport\n"
ADMIN_TRANSPORT = "# transport table of the mail team\nexample.org  smtp:[mail.example.org]\n"


# -- one synced minion, a fresh gateway per test ----------------------------------------


@pytest.fixture(scope="module")
def shared_minion(tmp_path_factory):
    return MasterlessMinion.synced(tmp_path_factory.mktemp("reliability"), "reliability", PORTAL_PILLAR)


@pytest.fixture
def gateway_with(shared_minion, tmp_path):
    """Point the shared minion at a fresh sandboxed gateway with the given pillar."""

    def use(pillar, main_cf_extra=""):
        shared_minion.gateway = GatewaySandbox(tmp_path / "gateway", main_cf_extra=main_cf_extra)
        shared_minion.set_pillar(pillar)
        return shared_minion

    return use


@pytest.fixture
def portal(gateway_with):
    return gateway_with(PORTAL_PILLAR)


@pytest.fixture
def main(gateway_with):
    """A main gateway whose transport table (configured in main.cf) holds the admin's entry."""
    minion = gateway_with(MAIN_PILLAR, main_cf_extra=TRANSPORT_MAPS_EXTRA)
    transport_file(minion).write_text(ADMIN_TRANSPORT)
    return minion


# -- helpers ----------------------------------------------------------------------------------


def apply(minion, test=False, env=None):
    run = minion.apply(test=test, extra_env=env)
    # As if the next run came a while later: Postfix waits on a just-written main.cf.
    minion.gateway.age_config()
    return run


def comment(run, state):
    return run.states[state]["comment"]


def assert_no_traceback(run):
    assert "Traceback" not in run.proc.stdout + run.proc.stderr


def mynetworks(gateway):
    return gateway.postconf("mynetworks").replace(",", " ").split()


def main_cf(minion):
    return minion.gateway.postfix_dir / "main.cf"


def transport_file(minion):
    return minion.gateway.postfix_dir / "transport"


def transport_table(minion):
    return f"hash:{transport_file(minion)}"


def playbook_calls(gateway, since=0):
    return [call for call in gateway.calls()[since:] if call["prog"] == "cm-run-playbook"]


def playbook_record(gateway):
    playbook = gateway.sim_state().get("playbook", {})
    return {"runs": playbook.get("runs", 0), "applied": playbook.get("applied", {})}


def default_triggers(gateway):
    gateway.cli("domain", "list")  # initialises a fresh simulated gateway
    return {name: gateway.sim_state()["global"][name] for name in TRIGGERS}


# -- 1. the CipherMail CLI is down ---------------------------------------------------------


def test_cli_down_fails_the_gateway_states_applies_postfix_and_the_next_run_converges(portal):
    gateway = portal.gateway
    down = apply(portal, env={"CIPHERMAIL_SIM_FAIL": "domain,property"})

    assert down.returncode != 0, down
    assert down.results == {PORTAL_READY: True, MYNETWORKS_STATE: True, DOMAIN_STATE: False, TRIGGERS_STATE: False}, down
    for state in (DOMAIN_STATE, TRIGGERS_STATE):
        assert "not available" in comment(down, state)
        assert down.states[state]["changes"] == {}
    assert_no_traceback(down)
    assert down.changes[MYNETWORKS_STATE] == {
        "mynetworks": {"old": BASE_MYNETWORKS, "new": [*BASE_MYNETWORKS, MAIN_GATEWAY_ADDRESS]}
    }
    assert mynetworks(gateway) == [*BASE_MYNETWORKS, MAIN_GATEWAY_ADDRESS]
    assert gateway.write_calls() == []
    defaults = default_triggers(gateway)
    assert gateway.sim_state()["domains"] == {}

    # The back-end is back: the next run completes the rest, nothing by hand.
    live = converge_apply(portal)
    writes = live.writes
    assert set(live.changes) == {DOMAIN_STATE, TRIGGERS_STATE}
    assert live.changes[TRIGGERS_STATE] == {
        name: {"old": defaults[name], "new": value} for name, value in TRIGGERS.items()
    }
    # The vendor page's six commands, once each, in its order.
    assert [call["argv"][:5] for call in writes] == [
        ["domain", "add", "--domain", DOMAIN],
        ["property", "domain", "set", "--domain", DOMAIN],
        *[["property", "global", "set", "--name", name] for name in TRIGGERS],
    ]
    state = gateway.sim_state()
    assert state["domains"] == {DOMAIN: {"revert-rewrite-recipient": "true"}}
    assert {name: state["global"][name] for name in TRIGGERS} == TRIGGERS


def test_partial_cli_fault_applies_the_domain_and_the_next_run_completes_only_the_triggers(portal):
    gateway = portal.gateway
    down = apply(portal, env={"CIPHERMAIL_SIM_FAIL": "property global set"})

    assert down.returncode != 0, down
    assert down.results == {PORTAL_READY: True, MYNETWORKS_STATE: True, DOMAIN_STATE: True, TRIGGERS_STATE: False}, down
    assert "not available" in comment(down, TRIGGERS_STATE)
    assert_no_traceback(down)
    assert down.changes[DOMAIN_STATE] == {
        "domain": {"old": None, "new": DOMAIN},
        "revert-rewrite-recipient": {"old": None, "new": "true"},
    }
    assert gateway.sim_state()["domains"] == {DOMAIN: {"revert-rewrite-recipient": "true"}}
    defaults = default_triggers(gateway)
    assert all(value != TRIGGERS[name] for name, value in defaults.items())

    calls = len(gateway.calls())
    completed = apply(portal)
    assert completed.returncode == 0, completed
    assert set(completed.changes) == {TRIGGERS_STATE}
    assert [call["argv"][:5] for call in gateway.write_calls(since=calls)] == [
        ["property", "global", "set", "--name", name] for name in TRIGGERS
    ]
    assert {name: gateway.sim_state()["global"][name] for name in TRIGGERS} == TRIGGERS


# -- 2. cm-run-playbook fails or times out -------------------------------------------------


def test_failed_playbook_is_reported_with_its_output_and_rerun_by_the_next_run(main):
    gateway = main.gateway
    down = apply(main, env={"CIPHERMAIL_SIM_FAIL": "run-playbook"})

    assert down.returncode != 0, down
    assert down.results == {MAIN_READY: True, TRANSPORT_STATE: True, TLS_POLICY_STATE: True, OVERRIDE_STATE: True, PLAYBOOK_STATE: False}, down
    assert "FAILED" in comment(down, PLAYBOOK_STATE)
    assert "PLAY RECAP" in comment(down, PLAYBOOK_STATE)
    assert_no_traceback(down)
    assert [call["rc"] for call in playbook_calls(gateway)] == [2]  # exactly one run, and it failed
    assert playbook_record(gateway) == {"runs": 0, "applied": {}}
    override = gateway.ansible_vars_dir / "ciphermail-split-mode.yml"
    override_bytes = override.read_bytes()

    # The override did not change, yet the next run runs the playbook again.
    live = converge_apply(main)
    writes = live.writes
    assert live.changes == {PLAYBOOK_STATE: PLAYBOOK_APPLIED}
    assert [call["prog"] for call in writes] == ["cm-run-playbook"]
    assert override.read_bytes() == override_bytes
    assert playbook_record(gateway) == {"runs": 1, "applied": {OVERRIDE_KEY: True}}


def recording_playbook(directory):
    """cm-run-playbook behind a wrapper that logs its pid at each start (a killed run logs nothing itself)."""
    starts = directory / "playbook-starts"
    wrapper = directory / "cm-run-playbook-wrapper"
    simulator = shlex.join([sys.executable, str(SIMULATOR_DIR / "cm-run-playbook")])
    wrapper.write_text(f'#!/bin/sh\necho $$ >> {shlex.quote(str(starts))}\nexec {simulator} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, starts


def playbook_processes(gateway):
    """Live cm-run-playbook processes working for this simulated gateway."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "environ"]):
        cmdline, environ = process.info["cmdline"] or [], process.info["environ"] or {}
        if any("cm-run-playbook" in word for word in cmdline) and environ.get("CIPHERMAIL_SIM_HOME") == str(
            gateway.home
        ):
            found.append(process.info["pid"])
    return found


def still_running(pid):
    """True while ``pid`` is a cm-run-playbook process (a reused pid is not)."""
    try:
        return any("cm-run-playbook" in word for word in psutil.Process(pid).cmdline())
    except psutil.Error:  # gone (or a zombie)
        return False


def test_timed_out_playbook_applies_nothing_leaves_no_process_and_is_rerun(gateway_with, tmp_path):
    wrapper, starts = recording_playbook(tmp_path)
    pillar = {**MAIN_PILLAR, "lookup": {"playbook_timeout": 2, "playbook_cmd": [str(wrapper)]}}
    minion = gateway_with(pillar, main_cf_extra=TRANSPORT_MAPS_EXTRA)
    gateway = minion.gateway

    down = apply(minion, env={"CIPHERMAIL_SIM_PLAYBOOK_SECONDS": "30"})

    assert down.returncode != 0, down
    assert down.results == {MAIN_READY: True, TRANSPORT_STATE: True, TLS_POLICY_STATE: True, OVERRIDE_STATE: True, PLAYBOOK_STATE: False}, down
    assert "timed out" in comment(down, PLAYBOOK_STATE)
    assert "PLAY" in comment(down, PLAYBOOK_STATE)  # the output it had written
    assert_no_traceback(down)
    started = starts.read_text().split()
    assert len(started) == 1  # one start in that state run
    assert playbook_calls(gateway) == []  # killed by SIGKILL: it could not even log its call
    assert playbook_record(gateway) == {"runs": 0, "applied": {}}
    assert not still_running(int(started[0]))
    assert playbook_processes(gateway) == []

    rerun = apply(minion)
    assert rerun.returncode == 0, rerun
    assert rerun.changes == {PLAYBOOK_STATE: PLAYBOOK_APPLIED}
    assert len(starts.read_text().split()) == 2
    assert playbook_record(gateway) == {"runs": 1, "applied": {OVERRIDE_KEY: True}}
    after = apply(minion)
    assert (after.returncode, after.changes) == (0, {}), after
    assert len(starts.read_text().split()) == 2  # no playbook started


# -- 4. an admin edits Postfix files between two runs ----------------------------------------


def test_admins_additions_to_the_transport_table_survive_byte_for_byte(main):
    assert apply(main).returncode == 0
    path = transport_file(main)
    edited = (
        "# edited by the admin\n"
        + path.read_text()
        + "# the partner\npartner.example  smtp:[mx.partner.example]:2525\n"
    )
    path.write_text(edited)

    run = apply(main)

    assert run.returncode == 0, run
    assert run.changes == {}
    assert path.read_text() == edited
    assert main.gateway.postmap_query(DOMAIN, transport_table(main)) == NEXTHOP


def test_admins_additions_to_main_cf_survive_byte_for_byte(portal):
    assert apply(portal).returncode == 0
    ours = f"[::1]/128 {MAIN_GATEWAY_ADDRESS}\n"
    text = main_cf(portal).read_text()
    assert ours in text
    edited = text.replace(ours, f"{ours}    # the backup MX\n    {ADMIN_HOST}\n") + "smtpd_banner = $myhostname ESMTP\n"
    main_cf(portal).write_text(edited)
    portal.gateway.age_config()

    run = apply(portal)

    assert run.returncode == 0, run
    assert run.changes == {}
    assert main_cf(portal).read_text() == edited
    assert mynetworks(portal.gateway) == [*BASE_MYNETWORKS, MAIN_GATEWAY_ADDRESS, ADMIN_HOST]


def test_a_deleted_transport_entry_is_restored_and_the_admins_edits_stay(main):
    assert apply(main).returncode == 0
    path = transport_file(main)
    edited = path.read_text().replace(f"{DOMAIN} {NEXTHOP}\n", "") + "# new\nexample.net  smtp:[mail.example.net]\n"
    assert DOMAIN not in edited
    path.write_text(edited)

    run = apply(main)

    assert run.returncode == 0, run
    assert run.changes == {TRANSPORT_STATE: {"nexthop": {"old": None, "new": NEXTHOP}}}
    assert path.read_text() == edited + f"{DOMAIN} {NEXTHOP}\n"
    table = transport_table(main)
    assert main.gateway.postmap_query(DOMAIN, table) == NEXTHOP
    assert main.gateway.postmap_query("example.net", table) == "smtp:[mail.example.net]"
    assert main.gateway.postmap_query("example.org", table) == "smtp:[mail.example.org]"


def test_a_deleted_mynetworks_entry_is_restored_and_the_admins_edits_stay(portal):
    assert apply(portal).returncode == 0
    text = main_cf(portal).read_text()
    edited = text.replace(f"[::1]/128 {MAIN_GATEWAY_ADDRESS}\n", f"[::1]/128\n    # the backup MX\n    {ADMIN_HOST}\n")
    assert MAIN_GATEWAY_ADDRESS not in edited
    main_cf(portal).write_text(edited)
    portal.gateway.age_config()

    run = apply(portal)

    assert run.returncode == 0, run
    assert run.changes == {
        MYNETWORKS_STATE: {
            "mynetworks": {
                "old": [*BASE_MYNETWORKS, ADMIN_HOST],
                "new": [*BASE_MYNETWORKS, ADMIN_HOST, MAIN_GATEWAY_ADDRESS],
            }
        }
    }
    assert main_cf(portal).read_text() == edited.replace(
        f"    {ADMIN_HOST}\n", f"    {ADMIN_HOST} {MAIN_GATEWAY_ADDRESS}\n"
    )


def test_a_changed_transport_entry_is_put_back_and_reported(main):
    assert apply(main).returncode == 0
    path = transport_file(main)
    elsewhere = "smtp:[elsewhere.example.net]"
    text = path.read_text()
    path.write_text(text.replace(f"{DOMAIN} {NEXTHOP}", f"{DOMAIN} {elsewhere}"))

    run = apply(main)

    assert run.returncode == 0, run
    assert run.changes == {TRANSPORT_STATE: {"nexthop": {"old": elsewhere, "new": NEXTHOP}}}
    assert path.read_text() == text
    assert main.gateway.postmap_query(DOMAIN, transport_table(main)) == NEXTHOP


# -- 5. who may relay through the portal ------------------------------------------------------


def refused(minion, key_words):
    """A run that fails before any state, naming ``key_words``; nothing on the gateway changes."""
    files = minion.gateway.files()
    run = apply(minion)
    assert run.returncode != 0, run
    assert run.refusals, run
    message = " ".join(run.refusals)
    for word in key_words:
        assert word in message, (word, message)
    assert "Traceback" not in run.proc.stdout + run.proc.stderr
    assert minion.gateway.files() == files
    assert minion.gateway.write_calls() == []
    return message


def test_a_network_needs_allow_networks(gateway_with):
    pillar = {**PORTAL_PILLAR, "main_gateway_addresses": ["192.0.2.0/28"]}
    minion = gateway_with(pillar)
    before = mynetworks(minion.gateway)
    refused(minion, ["ciphermail_split:main_gateway_addresses[0]", "192.0.2.0/28", "allow_networks"])

    minion.set_pillar({**pillar, "allow_networks": True})
    run = apply(minion)

    assert run.returncode == 0, run
    assert mynetworks(minion.gateway) == [*before, "192.0.2.0/28"]


@pytest.mark.parametrize("everyone", ["0.0.0.0/0", "::/0", "*", "0/0"])
def test_every_address_is_refused_even_with_allow_networks(gateway_with, everyone):
    minion = gateway_with({**PORTAL_PILLAR, "main_gateway_addresses": [everyone], "allow_networks": True})
    refused(minion, ["ciphermail_split:main_gateway_addresses[0]", repr(everyone)])
