"""
A Salt master with a portal cluster of two portal minions and a main
minion (pytest-salt-factories), as a site runs the formula: ``salt '*'
saltutil.sync_all``, the Salt Mine set up as README (Orchestration) says,
then ``salt-run state.orchestrate ciphermail_split.orch``.

The pillar gives each gateway its role and nothing else (the main gateway
also ``portal_tls``): the main gateway's address (for the portals'
``mynetworks``) and each portal node's address (for the main gateway's
transport entry, one nexthop per node, and its TLS policies) come from the
mine. All minions run on this machine, so the main gateway's mine function
picks the loopback address (``network.ip_addrs`` with a ``cidr`` filter),
and each portal node publishes an address of its own from a grain
(``grains.get``), as a site's would publish the address on the network
between the gateways.

One site for the whole module (a master and three minions take a while to
start), so the steps run in one test, in order.
"""

import pytest
import yaml
from saltfactories.utils import random_string
from support.masterless import gateway_pillar, link_formula
from support.sandbox import GatewaySandbox
from support.values import BASE_MYNETWORKS, DOMAIN, MAIN_GATEWAY_ADDRESS, OVERRIDE_FILE, OVERRIDE_KEY, TRIGGERS

pytestmark = [pytest.mark.integration, pytest.mark.master]

PORTAL_NODES = ("portal-a", "portal-b")  # two portal minions; their IDs sort in this order
MINE_FUNCTION = {"main": "ciphermail_split_main_addresses", "portal": "ciphermail_split_portal_server"}
LOOPBACK = "127.0.0.1"
NODE_ADDRESSES = {"portal-a": "127.0.0.3", "portal-b": "127.0.0.4"}
#: mine_functions as README documents them, with the network the gateways share (here: loopback).
MAIN_MINE = {MINE_FUNCTION["main"]: [{"mine_function": "network.ip_addrs"}, {"cidr": "127.0.0.0/8"}, {"include_loopback": True}]}
PORTAL_MINE = {MINE_FUNCTION["portal"]: [{"mine_function": "grains.get"}, "ciphermail_portal_address"]}
PORTAL_STEP = "ciphermail_split-orch-portal-applied"
NEXTHOP = "smtp:[127.0.0.3], [127.0.0.4]"
TLS_POLICIES = {"[127.0.0.3]": "encrypt", "[127.0.0.4]": "encrypt"}


GATEWAYS = (*PORTAL_NODES, "main")


class Site:
    """The master, a minion per gateway, a sandboxed gateway per minion, and the pillar files."""

    def __init__(self, master, minions, gateways, pillar_root):
        self.master, self.minions, self.gateways, self.pillar_root = master, minions, gateways, pillar_root
        self.salt = master.salt_cli(timeout=180)
        self.salt_run = master.salt_run_cli(timeout=300)

    def set_pillar(self, name, pillar):
        """Give the gateway's minion the ``ciphermail_split`` pillar ``pillar`` (lookup: its sandbox)."""
        text = yaml.safe_dump(gateway_pillar(self.gateways[name], pillar))
        (self.pillar_root / f"{name}.sls").write_text(text)

    def refresh_pillar(self):
        assert self.salt.run("saltutil.refresh_pillar", "wait=True", minion_tgt="*").returncode == 0

    def orchestrate(self, sls="ciphermail_split.orch", *args):
        """``salt-run state.orchestrate``: the run's return code and ``{step ID: result}`` (or the errors)."""
        ret = self.salt_run.run("state.orchestrate", sls, *args)
        data = ret.data["data"] if isinstance(ret.data, dict) and "data" in ret.data else ret.data
        (outcome,) = data.values()
        steps = {step["__id__"]: step for step in outcome.values()} if isinstance(outcome, dict) else outcome
        return ret.returncode, steps

    def main_step(self):
        return f"ciphermail_split-orch-main-applied-{self.minions['main'].id}"

    def calls(self):
        return {name: len(gateway.calls()) for name, gateway in self.gateways.items()}

    def files(self):
        return {name: gateway.files() for name, gateway in self.gateways.items()}

    def writes_since(self, calls):
        return {name: gateway.write_calls(since=calls[name]) for name, gateway in self.gateways.items()}

    def age_config(self):
        for gateway in self.gateways.values():
            gateway.age_config()


@pytest.fixture(scope="module")
def site(salt_factories, tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    suffix = random_string("-", uppercase=False)
    ids = {name: f"{name}{suffix}" for name in GATEWAYS}  # portal-a... sorts before portal-b...
    gateways = {name: GatewaySandbox(root / name) for name in GATEWAYS}
    pillar_root = root / "pillar"
    pillar_root.mkdir()
    (pillar_root / "top.sls").write_text(yaml.safe_dump({"base": {ids[name]: [name] for name in GATEWAYS}}))
    master = salt_factories.salt_master_daemon(
        random_string("master-"),
        overrides={
            "file_roots": {"base": [str(link_formula(root / "file-root"))]},
            "pillar_roots": {"base": [str(pillar_root)]},
        },
    )
    minions = {"main": master.salt_minion_daemon(ids["main"], overrides={"mine_functions": MAIN_MINE})}
    for name in PORTAL_NODES:
        overrides = {"mine_functions": PORTAL_MINE, "grains": {"ciphermail_portal_address": NODE_ADDRESSES[name]}}
        minions[name] = master.salt_minion_daemon(ids[name], overrides=overrides)
    site = Site(master, minions, gateways, pillar_root)
    for name in PORTAL_NODES:
        site.set_pillar(name, {"role": "portal"})  # no addresses: they come from the mine
    site.set_pillar("main", {"role": "main", "portal_tls": {"level": "encrypt"}})
    with master.started(), minions["main"].started(), minions["portal-a"].started(), minions["portal-b"].started():
        for function in ("saltutil.sync_all", "mine.update"):
            assert site.salt.run(function, minion_tgt="*").returncode == 0
        yield site


def minion_changes(step):
    """``{minion: {state ID: changes}}`` of one ``salt.state`` step of an orchestration."""
    return {
        minion: {ret["__id__"]: ret["changes"] for ret in states.values() if ret["changes"]}
        for minion, states in (step["changes"].get("ret") or {}).items()
    }


def test_orchestration_configures_a_portal_cluster_and_its_main_gateway_from_the_mine(site):
    gateways, minions = site.gateways, site.minions
    main_step = site.main_step()
    steps = (PORTAL_STEP, main_step)

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

    # test=True predicts every gateway and changes nothing.
    returncode, predicted = site.orchestrate("ciphermail_split.orch", "test=True")
    assert returncode == 0, predicted
    assert [predicted[step]["result"] for step in steps] == [None, None]
    assert site.writes_since(calls) == {name: [] for name in GATEWAYS}
    assert site.files() == files
    predicted_changes = {step: minion_changes(predicted[step]) for step in steps}
    for name in PORTAL_NODES:
        assert predicted_changes[PORTAL_STEP][minions[name].id]["ciphermail_split-portal-mynetworks-present"] == {
            "mynetworks": {"old": BASE_MYNETWORKS, "new": [*BASE_MYNETWORKS, LOOPBACK]}
        }
    main_changes = predicted_changes[main_step][minions["main"].id]
    assert main_changes["ciphermail_split-main-transport-present"]["nexthop"] == {"old": None, "new": NEXTHOP}
    assert {
        key: change["new"]
        for key, change in main_changes["ciphermail_split-main-tls-policy-present"].items()
        if key.startswith("[")
    } == TLS_POLICIES

    # Live: the portal nodes, then the main gateway, exactly as predicted.
    returncode, live = site.orchestrate()
    assert returncode == 0, live
    assert [live[step]["result"] for step in steps] == [True, True]
    assert {step: minion_changes(live[step]) for step in steps} == predicted_changes
    main = gateways["main"]
    for name in PORTAL_NODES:
        portal = gateways[name]
        assert portal.mynetworks() == [*BASE_MYNETWORKS, LOOPBACK]
        assert portal.sim_state()["domains"] == {DOMAIN: {"revert-rewrite-recipient": "true"}}
        assert {prop: portal.sim_state()["global"][prop] for prop in TRIGGERS} == TRIGGERS
    assert main.postmap_query(DOMAIN, f"hash:{main.postfix_dir}/transport") == NEXTHOP
    for key, policy in TLS_POLICIES.items():
        assert main.postmap_query(key, f"hash:{main.postfix_dir}/tls_policy") == policy
    assert yaml.safe_load((main.ansible_vars_dir / OVERRIDE_FILE).read_text()) == {OVERRIDE_KEY: True}
    assert main.sim_state()["playbook"]["runs"] == 1

    # Again: no changes, no write command on any gateway.
    site.age_config()
    calls, files = site.calls(), site.files()
    returncode, again = site.orchestrate()
    assert returncode == 0, again
    assert [again[step]["result"] for step in steps] == [True, True]
    assert [again[step]["changes"] for step in steps] == [{}, {}]
    assert site.writes_since(calls) == {name: [] for name in GATEWAYS}
    assert site.files() == files

    # What each gateway has, as an admin asks the fleet.
    ret = site.salt.run("ciphermail_split.status", minion_tgt="*")
    assert ret.returncode == 0, ret
    report = ret.data
    print("salt '*' ciphermail_split.status\n" + yaml.safe_dump(report, sort_keys=True))
    main_status = report[minions["main"].id]
    assert (main_status["role"], main_status["role_in_pillar"]) == ("main", "main")
    assert main_status["main"]["transport"]["entry"] == main_status["main"]["transport"]["lookup"] == NEXTHOP
    assert main_status["main"]["tls_policy"]["entries"] == TLS_POLICIES
    assert main_status["main"]["tls_policy"]["ours"] == sorted(TLS_POLICIES)
    assert main_status["main"]["override"]["portal_enabled"] is True
    assert main_status["main"]["playbook"] == {"pending": False}
    for name in PORTAL_NODES:
        portal_status = report[minions[name].id]
        assert (portal_status["role"], portal_status["role_in_pillar"]) == ("portal", "portal")
        assert portal_status["portal"]["mynetworks"] == {
            "parameter": "mynetworks",
            "value": [*BASE_MYNETWORKS, LOOPBACK],
            "ours": [LOOPBACK],
        }
        assert portal_status["portal"]["private_domain"]["present"] is True
        assert portal_status["portal"]["triggers"] == TRIGGERS

    # Clean: the main gateway first, then the portal nodes; each back to what it was.
    site.age_config()
    calls = site.calls()
    returncode, cleaned = site.orchestrate("ciphermail_split.orch.clean")
    assert returncode == 0, cleaned
    assert sorted(cleaned, key=lambda step: cleaned[step]["__run_num__"]) == [
        "ciphermail_split-orch-clean-main-cleaned",
        "ciphermail_split-orch-clean-portal-cleaned",
    ]
    assert all(step["result"] is True for step in cleaned.values()), cleaned
    for name in PORTAL_NODES:
        assert gateways[name].mynetworks() == BASE_MYNETWORKS
        assert gateways[name].sim_state()["domains"] == {}
    assert main.postconf("transport_maps") == main.postconf("smtp_tls_policy_maps") == ""
    assert sorted(path.name for path in main.postfix_dir.iterdir()) == ["data", "main.cf", "master.cf", "spool"]
    assert not (main.ansible_vars_dir / OVERRIDE_FILE).exists()
    main_done = max(call["ts"] for call in main.write_calls(since=calls["main"]))
    portal_begun = min(call["ts"] for name in PORTAL_NODES for call in gateways[name].write_calls(since=calls[name]))
    assert main_done < portal_begun

    # Pillar wins over the mine; one failing portal node stops the main role (which has all to do) from running.
    site.set_pillar(
        "portal-b",
        {
            "role": "portal",
            "main_gateway_addresses": [MAIN_GATEWAY_ADDRESS],
            "lookup": {"command_env": {"CIPHERMAIL_SIM_FAIL": "domain"}},
        },
    )
    site.set_pillar("portal-a", {"role": "portal", "main_gateway_addresses": [MAIN_GATEWAY_ADDRESS]})
    site.refresh_pillar()
    calls, main_files = site.calls(), main.files()
    returncode, failed = site.orchestrate()
    assert returncode != 0
    assert failed[PORTAL_STEP]["result"] is False
    assert failed[PORTAL_STEP]["comment"].startswith(f"Run failed on minions: {minions['portal-b'].id}")
    assert failed[main_step]["result"] is False
    assert "requisite failed" in failed[main_step]["comment"].lower()
    assert gateways["portal-a"].mynetworks() == [*BASE_MYNETWORKS, MAIN_GATEWAY_ADDRESS]
    assert main.calls()[calls["main"] :] == []
    assert main.files() == main_files
