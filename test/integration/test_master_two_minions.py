"""
A Salt master with a main and a portal minion (pytest-salt-factories), as a
site runs the formula: ``salt '*' saltutil.sync_all``, then
``salt '*' state.apply ciphermail_split`` with test=True, live, and again.
"""

import pytest
import yaml
from saltfactories.utils import random_string
from support.masterless import gateway_pillar, link_formula
from support.sandbox import GatewaySandbox
from support.values import MAIN_PILLAR, PORTAL_PILLAR

pytestmark = [pytest.mark.integration, pytest.mark.master]


@pytest.fixture(scope="module")
def site(salt_factories, tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    ids = {role: random_string(f"{role}-gw-") for role in ("main", "portal")}
    gateways = {role: GatewaySandbox(root / role) for role in ids}
    pillar_root = root / "pillar"
    pillar_root.mkdir()
    top = {"base": {}}
    for role, pillar in (("main", MAIN_PILLAR), ("portal", PORTAL_PILLAR)):
        (pillar_root / f"{role}.sls").write_text(yaml.safe_dump(gateway_pillar(gateways[role], pillar)))
        top["base"][ids[role]] = [role]
    (pillar_root / "top.sls").write_text(yaml.safe_dump(top))
    master = salt_factories.salt_master_daemon(
        random_string("master-"),
        overrides={
            "file_roots": {"base": [str(link_formula(root / "file-root"))]},
            "pillar_roots": {"base": [str(pillar_root)]},
        },
    )
    minions = {role: master.salt_minion_daemon(minion_id) for role, minion_id in ids.items()}
    with master.started(), minions["main"].started(), minions["portal"].started():
        yield master, minions, gateways


def apply(salt_cli, minion_id, *args):
    ret = salt_cli.run("state.apply", "ciphermail_split", *args, minion_tgt=minion_id)
    assert ret.returncode == 0, ret
    return {state["__id__"]: state for state in ret.data.values()}


def test_site_converges_through_a_master(site):
    master, minions, gateways = site
    salt_cli = master.salt_cli(timeout=120)
    for minion in minions.values():
        assert salt_cli.run("saltutil.sync_all", minion_tgt=minion.id).returncode == 0

    for role in ("portal", "main"):  # the portal first: it must accept the main gateway's mail
        minion_id = minions[role].id
        predicted = apply(salt_cli, minion_id, "test=True")
        live = apply(salt_cli, minion_id)
        assert {k: v["changes"] for k, v in live.items()} == {k: v["changes"] for k, v in predicted.items()}
        assert all(v["result"] is True for v in live.values())
        assert all(v["changes"] for v in live.values())
        calls_before = len(gateways[role].calls())
        again = apply(salt_cli, minion_id)
        assert all(not v["changes"] for v in again.values())
        assert gateways[role].write_calls(since=calls_before) == []

    assert gateways["portal"].sim_state()["domains"] == {
        "relay-to-webmail.private": {"revert-rewrite-recipient": "true"}
    }
    assert gateways["main"].sim_state()["playbook"]["runs"] == 1
