"""
A Salt master with a main and a portal minion (pytest-salt-factories), as a
site runs the formula: ``salt '*' saltutil.sync_all``, the Salt Mine set up
as README (Orchestration) says, then
``salt-run state.orchestrate ciphermail_split.orch``.

The pillar gives each gateway its role and nothing else: the main
gateway's address (for the portal's ``mynetworks``) and the portal's
address (for the main gateway's transport entry) come from the mine. Both
minions run on this machine, so the mine functions pick the loopback
address (``network.ip_addrs`` with a ``cidr`` filter), as a site's would
pick the address on the network between the gateways.

One site for the whole module (a master and two minions take a while to
start), so the steps run in one test, in order.
"""

import pytest
import yaml
from saltfactories.utils import random_string
from support.masterless import gateway_pillar, link_formula
from support.sandbox import GatewaySandbox
from support.values import BASE_MYNETWORKS, DOMAIN, MAIN_GATEWAY_ADDRESS, OVERRIDE_FILE, OVERRIDE_KEY, TRIGGERS

pytestmark = [pytest.mark.integration, pytest.mark.master]

ROLES = ("portal", "main")  # the order the orchestration applies them
MINE_FUNCTION = {"main": "ciphermail_split_main_addresses", "portal": "ciphermail_split_portal_server"}
LOOPBACK = "127.0.0.1"
#: mine_functions as README documents them, with the network the gateways share (here: loopback).
MINE_FUNCTIONS = {
    role: {alias: [{"mine_function": "network.ip_addrs"}, {"cidr": "127.0.0.0/8"}, {"include_loopback": True}]}
    for role, alias in MINE_FUNCTION.items()
}
ORCH_STEP = {"portal": "ciphermail_split-orch-portal-applied", "main": "ciphermail_split-orch-main-applied"}
NEXTHOP = f"smtp:[{LOOPBACK}]"


class Site:
    """The master, a minion per role, a sandboxed gateway per minion, and the pillar files."""

    def __init__(self, master, minions, gateways, pillar_root):
        self.master, self.minions, self.gateways, self.pillar_root = master, minions, gateways, pillar_root
        self.salt = master.salt_cli(timeout=180)
        self.salt_run = master.salt_run_cli(timeout=300)

    def set_pillar(self, role, pillar):
        """Give the role's minion the ``ciphermail_split`` pillar ``pillar`` (lookup: its sandbox)."""
        text = yaml.safe_dump(gateway_pillar(self.gateways[role], pillar))
        (self.pillar_root / f"{role}.sls").write_text(text)

    def refresh_pillar(self):
        assert self.salt.run("saltutil.refresh_pillar", "wait=True", minion_tgt="*").returncode == 0

    def orchestrate(self, sls="ciphermail_split.orch", *args):
        """``salt-run state.orchestrate``: the run's return code and ``{step ID: result}`` (or the errors)."""
        ret = self.salt_run.run("state.orchestrate", sls, *args)
        data = ret.data["data"] if isinstance(ret.data, dict) and "data" in ret.data else ret.data
        (outcome,) = data.values()
        steps = {step["__id__"]: step for step in outcome.values()} if isinstance(outcome, dict) else outcome
        return ret.returncode, steps

    def calls(self):
        return {role: len(gateway.calls()) for role, gateway in self.gateways.items()}

    def files(self):
        return {role: gateway.files() for role, gateway in self.gateways.items()}

    def writes_since(self, calls):
        return {role: gateway.write_calls(since=calls[role]) for role, gateway in self.gateways.items()}

    def age_config(self):
        for gateway in self.gateways.values():
            gateway.age_config()


@pytest.fixture(scope="module")
def site(salt_factories, tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    ids = {role: random_string(f"{role}-gw-") for role in ROLES}
    gateways = {role: GatewaySandbox(root / role) for role in ROLES}
    pillar_root = root / "pillar"
    pillar_root.mkdir()
    (pillar_root / "top.sls").write_text(yaml.safe_dump({"base": {ids[role]: [role] for role in ROLES}}))
    master = salt_factories.salt_master_daemon(
        random_string("master-"),
        overrides={
            "file_roots": {"base": [str(link_formula(root / "file-root"))]},
            "pillar_roots": {"base": [str(pillar_root)]},
        },
    )
    minions = {
        role: master.salt_minion_daemon(ids[role], overrides={"mine_functions": MINE_FUNCTIONS[role]})
        for role in ROLES
    }
    site = Site(master, minions, gateways, pillar_root)
    for role in ROLES:
        site.set_pillar(role, {"role": role})  # no addresses: they come from the mine
    with master.started(), minions["main"].started(), minions["portal"].started():
        for function in ("saltutil.sync_all", "mine.update"):
            assert site.salt.run(function, minion_tgt="*").returncode == 0
        yield site


def minion_changes(step):
    """``{minion: {state ID: changes}}`` of one ``salt.state`` step of an orchestration."""
    return {
        minion: {ret["__id__"]: ret["changes"] for ret in states.values() if ret["changes"]}
        for minion, states in (step["changes"].get("ret") or {}).items()
    }


def test_orchestration_configures_both_gateways_from_the_mine(site):
    gateways, minions = site.gateways, site.minions

    # Neither pillar nor mine gives the main gateway's address: nothing runs.
    assert site.salt.run("mine.delete", MINE_FUNCTION["main"], minion_tgt=minions["main"].id).returncode == 0
    calls, files = site.calls(), site.files()
    returncode, stopped = site.orchestrate()
    assert returncode != 0
    assert list(stopped) == ["ciphermail_split-orch-stopped"]
    message = stopped["ciphermail_split-orch-stopped"]["comment"]
    print(f"salt-run state.orchestrate ciphermail_split.orch, no mine data:\n{message}")
    assert stopped["ciphermail_split-orch-stopped"]["result"] is False
    assert message.startswith("Nothing was changed.")
    assert "ciphermail_split:main_gateway_addresses" in message
    assert MINE_FUNCTION["main"] in message
    assert site.calls() == calls
    assert site.files() == files
    assert site.salt.run("mine.update", minion_tgt=minions["main"].id).returncode == 0

    # test=True predicts both roles and changes nothing.
    returncode, predicted = site.orchestrate("ciphermail_split.orch", "test=True")
    assert returncode == 0, predicted
    assert [predicted[ORCH_STEP[role]]["result"] for role in ROLES] == [None, None]
    assert site.writes_since(calls) == {"portal": [], "main": []}
    assert site.files() == files
    predicted_changes = {role: minion_changes(predicted[ORCH_STEP[role]]) for role in ROLES}
    assert predicted_changes["portal"][minions["portal"].id]["ciphermail_split-portal-mynetworks-present"] == {
        "mynetworks": {"old": BASE_MYNETWORKS, "new": [*BASE_MYNETWORKS, LOOPBACK]}
    }
    assert predicted_changes["main"][minions["main"].id]["ciphermail_split-main-transport-present"]["nexthop"] == {
        "old": None,
        "new": NEXTHOP,
    }

    # Live: the portal, then the main gateway, exactly as predicted.
    returncode, live = site.orchestrate()
    assert returncode == 0, live
    assert [live[ORCH_STEP[role]]["result"] for role in ROLES] == [True, True]
    assert {role: minion_changes(live[ORCH_STEP[role]]) for role in ROLES} == predicted_changes
    portal, main = gateways["portal"], gateways["main"]
    assert portal.mynetworks() == [*BASE_MYNETWORKS, LOOPBACK]
    assert portal.sim_state()["domains"] == {DOMAIN: {"revert-rewrite-recipient": "true"}}
    assert {name: portal.sim_state()["global"][name] for name in TRIGGERS} == TRIGGERS
    assert main.postmap_query(DOMAIN, f"hash:{main.postfix_dir}/transport") == NEXTHOP
    assert yaml.safe_load((main.ansible_vars_dir / OVERRIDE_FILE).read_text()) == {OVERRIDE_KEY: True}
    assert main.sim_state()["playbook"]["runs"] == 1

    # Again: no changes, no write command on either gateway.
    site.age_config()
    calls, files = site.calls(), site.files()
    returncode, again = site.orchestrate()
    assert returncode == 0, again
    assert [again[ORCH_STEP[role]]["result"] for role in ROLES] == [True, True]
    assert [again[ORCH_STEP[role]]["changes"] for role in ROLES] == [{}, {}]
    assert site.writes_since(calls) == {"portal": [], "main": []}
    assert site.files() == files

    # What each gateway has, as an admin asks the fleet.
    ret = site.salt.run("ciphermail_split.status", minion_tgt="*")
    assert ret.returncode == 0, ret
    report = ret.data
    print("salt '*' ciphermail_split.status\n" + yaml.safe_dump(report, sort_keys=True))
    main_status, portal_status = report[minions["main"].id], report[minions["portal"].id]
    assert (main_status["role"], main_status["role_in_pillar"]) == ("main", "main")
    assert main_status["main"]["transport"]["entry"] == main_status["main"]["transport"]["lookup"] == NEXTHOP
    assert main_status["main"]["override"]["portal_enabled"] is True
    assert main_status["main"]["playbook"] == {"pending": False}
    assert (portal_status["role"], portal_status["role_in_pillar"]) == ("portal", "portal")
    assert portal_status["portal"]["mynetworks"] == {
        "parameter": "mynetworks",
        "value": [*BASE_MYNETWORKS, LOOPBACK],
        "ours": [LOOPBACK],
    }
    assert portal_status["portal"]["private_domain"]["present"] is True
    assert portal_status["portal"]["triggers"] == TRIGGERS

    # Clean: the main gateway first, then the portal; each back to what it was.
    site.age_config()
    calls = site.calls()
    returncode, cleaned = site.orchestrate("ciphermail_split.orch.clean")
    assert returncode == 0, cleaned
    assert sorted(cleaned, key=lambda step: cleaned[step]["__run_num__"]) == [
        "ciphermail_split-orch-clean-main-cleaned",
        "ciphermail_split-orch-clean-portal-cleaned",
    ]
    assert all(step["result"] is True for step in cleaned.values()), cleaned
    assert portal.mynetworks() == BASE_MYNETWORKS
    assert portal.sim_state()["domains"] == {}
    assert main.postconf("transport_maps") == ""
    assert not (main.ansible_vars_dir / OVERRIDE_FILE).exists()
    main_done = max(call["ts"] for call in main.write_calls(since=calls["main"]))
    portal_begun = min(call["ts"] for call in portal.write_calls(since=calls["portal"]))
    assert main_done < portal_begun

    # Pillar wins over the mine; a failing portal stops the main role (which has all to do) from running.
    site.set_pillar(
        "portal",
        {
            "role": "portal",
            "main_gateway_addresses": [MAIN_GATEWAY_ADDRESS],
            "lookup": {"command_env": {"CIPHERMAIL_SIM_FAIL": "domain"}},
        },
    )
    site.refresh_pillar()
    calls, main_files = site.calls(), main.files()
    returncode, failed = site.orchestrate()
    assert returncode != 0
    assert failed[ORCH_STEP["portal"]]["result"] is False
    assert failed[ORCH_STEP["main"]]["result"] is False
    assert "requisite failed" in failed[ORCH_STEP["main"]]["comment"].lower()
    assert portal.mynetworks() == [*BASE_MYNETWORKS, MAIN_GATEWAY_ADDRESS]
    assert main.calls()[calls["main"] :] == []
    assert main.files() == main_files

