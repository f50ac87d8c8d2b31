"""
A role needs only the tools it runs: the main role converges on a host
without ``ciphermail-cli``, the portal role on one without
``cm-run-playbook``; ``ciphermail_split.status`` reports every part it can
read there and names the missing command for the others.
"""

import json

import yaml
from support.contract import converge_apply
from support.values import BASE_MYNETWORKS, DOMAIN, MAIN_PILLAR, OVERRIDE_KEY, PORTAL_PILLAR, PORTAL_SERVER

MISSING_CLI = "/nonexistent/ciphermail-cli"
MISSING_PLAYBOOK = "/nonexistent/cm-run-playbook"


def test_the_main_role_converges_without_ciphermail_cli(make_minion):
    minion = make_minion({**MAIN_PILLAR, "lookup": {"cli": MISSING_CLI}}, name="main")
    live = converge_apply(minion)
    assert live.changes["ciphermail_split-main-transport-present"]["nexthop"]["new"] == f"smtp:[{PORTAL_SERVER}]"
    override = minion.gateway.ansible_vars_dir / "ciphermail-split-mode.yml"
    assert yaml.safe_load(override.read_text()) == {OVERRIDE_KEY: True}
    assert minion.gateway.sim_state()["playbook"]["applied"] == {OVERRIDE_KEY: True}
    assert [call["prog"] for call in minion.gateway.calls()] == ["cm-run-playbook"]


def test_the_portal_role_converges_without_cm_run_playbook(make_minion):
    minion = make_minion({**PORTAL_PILLAR, "lookup": {"playbook_cmd": MISSING_PLAYBOOK}}, name="portal")
    converge_apply(minion)
    assert minion.gateway.sim_state()["domains"] == {DOMAIN: {"revert-rewrite-recipient": "true"}}


def test_status_reports_each_part_it_cannot_read(make_minion):
    minion = make_minion({**MAIN_PILLAR, "lookup": {"cli": MISSING_CLI}})
    proc = minion.salt_call("ciphermail_split.status")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)["local"]
    missing = f"ciphermail_split:lookup:cli: {MISSING_CLI} is not found or not executable"
    for part in (report["portal"]["private_domain"], report["portal"]["triggers"]):
        assert part["error"].startswith(missing), part
    assert report["main"]["override"]["portal_enabled"] is False
    assert report["main"]["transport"]["entry"] is None
    assert report["portal"]["mynetworks"]["value"] == BASE_MYNETWORKS
    assert (report["role"], report["role_in_pillar"]) == ("none", "main")
    assert "Traceback" not in proc.stderr
