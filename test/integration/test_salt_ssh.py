"""
Both roles through salt-ssh, against a real OpenSSH sshd on 127.0.0.1 and
a high port with throwaway host and client keys (``support.sshd``): a
roster of the targets main and portal, each a sandboxed gateway with its
own thin_dir, the master set up as the README says (the formula in
file_roots and module_dirs). With the same contract as with a minion:
test=True predicts, the live run makes exactly the predicted changes, a
second run writes nothing; preflight and status read each gateway with its
pillar; clean gives each gateway back. The gateways' ciphermail-cli wants a credential
(``command_env``), which never goes on a command line. Runs under the Salt
of the venv (``make test SALT_VERSION=3006`` runs it on Salt 3006).
"""

import concurrent.futures
import json
import socket

import pytest
import salt.version
from support.contract import converge_apply
from support.values import DOMAIN, MAIN_GATEWAY_ADDRESS, OVERRIDE_KEY, PORTAL_SERVER, SECRET

pytestmark = pytest.mark.integration

ROLES = ("main", "portal")
#: Salt 3006's salt-ssh does not ship _utils: each role SLS syncs them first (ciphermail_split/salt_ssh.jinja).
SHIPS_UTILS = salt.version.__saltstack_version__.major >= 3007


def on_both(salt_ssh, work):
    """``work(target)`` on main and portal at the same time (each salt-ssh call is a process); {name: result}."""
    with concurrent.futures.ThreadPoolExecutor(len(ROLES)) as pool:
        futures = {name: pool.submit(work, salt_ssh.target(name)) for name in ROLES}
        return {name: future.result() for name, future in futures.items()}


def call_on_both(salt_ssh, function):
    """``salt-ssh <target> function`` on main and portal at the same time; {name: SaltSshRun}."""
    return on_both(salt_ssh, lambda target: salt_ssh.ssh(target.name, function))


def utils_synced(run):
    """The states of a run that put the formula's _utils on a Salt 3006 target."""
    return {state_id: ret for state_id, ret in run.states.items() if state_id.endswith("-utils-synced")}


def test_both_roles_through_salt_ssh(salt_ssh, sshd):
    main, portal = salt_ssh.gateways["main"], salt_ssh.gateways["portal"]
    portal.cli("domain", "list")  # the gateway as it was: initialised, empty
    before = {name: (gateway.sim_state(), gateway.files()) for name, gateway in salt_ssh.gateways.items()}

    # Preflight reads the gateway with its pillar (the credential reaches ciphermail-cli), and writes nothing.
    preflight = salt_ssh.ssh("portal", "ciphermail_split.preflight")
    assert preflight.returncode == 0, preflight
    assert (preflight.data["role"], preflight.data["result"]) == ("portal", "warn")
    assert preflight.data["checks"]["cli_answers"]["result"] == "ok"
    assert preflight.data["checks"]["cli_read:domain_property_get"]["result"] == "warn"  # no domain yet
    assert portal.write_calls() == []
    assert portal.files() == before["portal"][1]

    live = on_both(salt_ssh, converge_apply)
    assert set(live["main"].changes) == {
        "ciphermail_split-main-transport-present",
        "ciphermail_split-main-override-present",
        "ciphermail_split-main-playbook-applied",
    }
    assert set(live["portal"].changes) == {
        "ciphermail_split-portal-mynetworks-present",
        "ciphermail_split-portal-private-domain-present",
        "ciphermail_split-portal-header-triggers-managed",
    }
    table = f"hash:{main.postfix_dir / 'transport'}"
    assert main.postmap_query(DOMAIN, table) == f"smtp:[{PORTAL_SERVER}]"
    assert main.sim_state()["playbook"]["applied"] == {OVERRIDE_KEY: True}
    assert portal.sim_state()["domains"] == {DOMAIN: {"revert-rewrite-recipient": "true"}}
    assert portal.sim_state()["global"]["trigger-webmail-header-enabled"] == "true"
    assert MAIN_GATEWAY_ADDRESS in portal.postconf("mynetworks").split()
    for run in live.values():
        if SHIPS_UTILS:
            assert utils_synced(run) == {}
        else:  # synced by the first run (test=True), so there already
            (synced,) = utils_synced(run).values()
            assert synced["result"] is True
            assert synced["comment"] == "The formula's _utils are already in this salt-ssh target's module cache"

    status = call_on_both(salt_ssh, "ciphermail_split.status")
    assert all(run.returncode == 0 for run in status.values()), status
    main_status, portal_status = status["main"].data, status["portal"].data
    assert (main_status["role"], main_status["role_in_pillar"]) == ("main", "main")
    assert main_status["main"]["transport"]["entry"] == f"smtp:[{PORTAL_SERVER}]"
    assert main_status["main"]["transport"]["ours"] is True
    assert main_status["main"]["override"]["portal_enabled"] is True
    assert (portal_status["role"], portal_status["role_in_pillar"]) == ("portal", "portal")
    assert portal_status["portal"]["private_domain"] == {
        "name": DOMAIN,
        "present": True,
        "properties": {"revert-rewrite-recipient": "true"},
        "ours": True,
    }
    assert portal_status["portal"]["mynetworks"]["ours"] == [MAIN_GATEWAY_ADDRESS]

    clean = on_both(salt_ssh, lambda target: converge_apply(target, "ciphermail_split.clean"))
    assert set(clean["main"].changes) == {
        "ciphermail_split-main-clean-override-absent",
        "ciphermail_split-main-clean-playbook-applied",
        "ciphermail_split-main-clean-transport-absent",
    }
    for name, gateway in salt_ssh.gateways.items():
        assert gateway.files() == before[name][1], name
    (portal_before, _), now = before["portal"], portal.sim_state()
    assert (now["domains"], now["global"]) == (portal_before["domains"], portal_before["global"])
    assert main.sim_state()["playbook"]["applied"] == {}

    # The credential reached ciphermail-cli (the portal's ran), but never a command line.
    assert portal.calls()
    assert all(call["rc"] == 0 for call in portal.calls())
    wire = sshd.wire_text()
    assert "state.pkg" in wire  # the calls' arguments are read
    assert SECRET not in wire

    sshd.stop()
    with pytest.raises(ConnectionRefusedError), socket.create_connection((sshd.host, sshd.port), timeout=5):
        pass


def test_main_preflight_through_salt_ssh_fails_on_a_portal_that_does_not_answer(salt_ssh):
    main = salt_ssh.gateways["main"]
    files = main.files()
    preflight = salt_ssh.ssh("main", "ciphermail_split.preflight")
    assert preflight.returncode == 20, preflight  # salt-ssh's exit code for a failure
    assert (preflight.data["role"], preflight.data["result"]) == ("main", "fail")
    failed = {name for name, check in preflight.data["checks"].items() if check["result"] == "fail"}
    assert failed == {"portal_smtp"}, preflight.data  # nothing listens for SMTP at the portal
    assert main.write_calls() == []
    assert main.files() == files


def test_salt_ssh_checks_the_pillar_on_the_master_or_says_what_to_configure(salt_ssh, sshd):
    portal = salt_ssh.gateways["portal"]
    calls, files = len(portal.calls()), portal.files()

    # The pillar of the command line reaches the check, which runs on the master.
    network = {"ciphermail_split": {"main_gateway_addresses": ["192.0.2.0/28"]}}
    run = salt_ssh.ssh("portal", "state.apply", "ciphermail_split", test=True, pillar=network)
    assert run.returncode != 0
    assert len(run.refusals) == 1, run
    assert run.refusals[0].startswith("ciphermail_split:main_gateway_addresses[0]: address: got '192.0.2.0/28'"), run

    # Without the wrapper module on the master: one problem saying what to configure.
    salt_ssh.set_master_config({"module_dirs": []})
    for test in (True, False):
        run = salt_ssh.ssh("portal", "state.apply", "ciphermail_split", **({"test": True} if test else {}))
        assert run.returncode != 0
        (refusal,) = run.refusals
        assert refusal.startswith(
            "salt-ssh renders the ciphermail_split formula on the master, and it needs the formula's wrapper module "
            "there: add the directory that holds the formula's _wrapper and _utils to module_dirs in the master config"
        ), run
        assert "Rendering SLS" not in run.proc.stdout + run.proc.stderr

    assert portal.calls()[calls:] == []
    assert portal.files() == files
    # The check never ran on the target (which has no pillar).
    assert "validate_pillar" not in sshd.wire_text()


def orchestrate(salt_ssh, sls, *args):
    """``salt-run state.orchestrate sls args``: its return code and ``{step ID: result}``."""
    proc = salt_ssh.run("state.orchestrate", sls, *args)
    data = json.loads(proc.stdout)["data"] if proc.stdout.strip() else {}
    (outcome,) = data.values() if isinstance(data, dict) and data else ([proc.stdout + proc.stderr],)
    assert isinstance(outcome, dict), outcome
    return proc.returncode, {step["__id__"]: step for step in outcome.values()}


def step_changes(step):
    """``{target: {state ID: changes}}`` of one ``salt.state`` step."""
    return {
        target: {ret["__id__"]: ret["changes"] for ret in states.values() if ret["changes"]}
        for target, states in (step["changes"].get("ret") or {}).items()
    }


def test_the_orchestration_runs_the_roles_in_order_through_salt_ssh(salt_ssh):
    gateways = salt_ssh.gateways
    files = {name: gateway.files() for name, gateway in gateways.items()}
    calls = {name: len(gateway.calls()) for name, gateway in gateways.items()}
    through_ssh = 'pillar={"ciphermail_split_orch": {"ssh": true}}'
    steps = ["ciphermail_split-orch-portal-applied", "ciphermail_split-orch-main-applied-main"]

    returncode, predicted = orchestrate(salt_ssh, "ciphermail_split.orch", through_ssh, "test=True")
    assert returncode == 0, predicted
    assert list(predicted) == steps
    assert all(step["result"] is None for step in predicted.values()), predicted
    assert {name: gateway.files() for name, gateway in gateways.items()} == files
    assert all(gateway.write_calls(since=calls[name]) == [] for name, gateway in gateways.items())

    returncode, live = orchestrate(salt_ssh, "ciphermail_split.orch", through_ssh)
    assert returncode == 0, live
    assert all(step["result"] is True for step in live.values()), live
    for step in steps:
        assert step_changes(live[step]) == step_changes(predicted[step])
    assert set(step_changes(live[steps[0]])) == {"portal"}
    assert set(step_changes(live[steps[1]])) == {"main"}
    # In order: the portal accepted the main gateway's mail before the main gateway was configured to send it.
    assert live[steps[0]]["__run_num__"] < live[steps[1]]["__run_num__"]
    assert gateways["portal"].sim_state()["domains"] == {DOMAIN: {"revert-rewrite-recipient": "true"}}
    assert gateways["main"].sim_state()["playbook"]["applied"] == {OVERRIDE_KEY: True}

    # The switch may sit in the master config too.
    salt_ssh.set_master_config({"ciphermail_split_orch": {"ssh": True}})
    returncode, cleaned = orchestrate(salt_ssh, "ciphermail_split.orch.clean")
    assert returncode == 0, cleaned
    assert list(cleaned) == ["ciphermail_split-orch-clean-main-cleaned", "ciphermail_split-orch-clean-portal-cleaned"]
    assert all(step["result"] is True for step in cleaned.values()), cleaned
    assert {name: gateway.files() for name, gateway in gateways.items()} == files
    assert gateways["portal"].sim_state()["domains"] == {}
