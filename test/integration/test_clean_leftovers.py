"""
Clean never reports a clean gateway that still takes part in split mode.
When it finds split mode configured that it cannot prove is the formula's
(the ledger was deleted, the pillar role was switched before clean), it
leaves it, fails, and says what is left and how to take it back
(``clean_force``, or clean with the other role). A corrupt ledger's message
says how to recover.
"""

import pytest
import yaml
from support.contract import converge_apply
from support.values import DOMAIN, MAIN_GATEWAY_ADDRESS, MAIN_PILLAR, OVERRIDE_KEY, PORTAL_PILLAR, PORTAL_SERVER

pytestmark = [pytest.mark.integration, pytest.mark.default_salt_only]

CHECK = {"portal": "ciphermail_split-portal-clean-split-mode-absent", "main": "ciphermail_split-main-clean-split-mode-absent"}
FORCE = "clean_force"


def refused_clean(minion, role, *words):
    """Clean, under test=True and live, fails in its last state naming ``words``; nothing is taken back."""
    gateway = minion.gateway
    files, domains = gateway.files(), gateway.sim_state().get("domains")
    for test in (True, False):
        run = minion.apply("ciphermail_split.clean", test=test)
        assert run.returncode != 0, run
        check = run.states[CHECK[role]]
        assert check["result"] is False, check
        for word in words:
            assert word in check["comment"], (word, check["comment"])
        assert all(ret["result"] is not False for state_id, ret in run.states.items() if state_id != CHECK[role]), run
    assert gateway.files() == files
    assert gateway.sim_state().get("domains") == domains
    return check["comment"]


def mynetworks(gateway):
    return gateway.postconf("mynetworks").replace(",", " ").split()


def test_a_portal_whose_ledger_is_gone_is_not_reported_clean(portal_minion):
    gateway = portal_minion.gateway
    converge_apply(portal_minion)
    (gateway.state_dir / "ledger.json").unlink()

    refused_clean(portal_minion, "portal", MAIN_GATEWAY_ADDRESS, DOMAIN, "ledger", FORCE)
    assert MAIN_GATEWAY_ADDRESS in mynetworks(gateway)

    portal_minion.set_pillar({**PORTAL_PILLAR, FORCE: True})
    converge_apply(portal_minion, "ciphermail_split.clean")
    assert MAIN_GATEWAY_ADDRESS not in mynetworks(gateway)
    assert DOMAIN not in gateway.sim_state()["domains"]


def test_a_main_gateway_whose_ledger_is_gone_is_not_reported_clean(main_minion):
    gateway = main_minion.gateway
    converge_apply(main_minion)
    (gateway.state_dir / "ledger.json").unlink()
    table = f"hash:{gateway.postfix_dir / 'transport'}"

    refused_clean(main_minion, "main", f"smtp:[{PORTAL_SERVER}]", table, OVERRIDE_KEY, FORCE)
    assert gateway.postmap_query(DOMAIN, table) == f"smtp:[{PORTAL_SERVER}]"

    main_minion.set_pillar({**MAIN_PILLAR, FORCE: True})
    converge_apply(main_minion, "ciphermail_split.clean")
    assert gateway.postmap_query(DOMAIN, table) is None
    override = yaml.safe_load((gateway.ansible_vars_dir / "ciphermail-split-mode.yml").read_text() or "{}") or {}
    assert OVERRIDE_KEY not in override


def test_a_role_switched_before_clean_is_named(portal_minion):
    gateway = portal_minion.gateway
    converge_apply(portal_minion)
    portal_minion.set_pillar({**MAIN_PILLAR})

    comment = refused_clean(portal_minion, "main", MAIN_GATEWAY_ADDRESS, DOMAIN, "role: portal")
    assert MAIN_GATEWAY_ADDRESS in mynetworks(gateway)

    portal_minion.set_pillar(PORTAL_PILLAR)
    converge_apply(portal_minion, "ciphermail_split.clean")
    assert MAIN_GATEWAY_ADDRESS not in mynetworks(gateway), comment


def test_a_corrupt_ledger_says_how_to_recover(portal_minion):
    gateway = portal_minion.gateway
    converge_apply(portal_minion)
    (gateway.state_dir / "ledger.json").write_text("{not json")
    run = portal_minion.apply("ciphermail_split.clean")
    assert run.returncode != 0
    failed = [
        ret["comment"]
        for ret in run.states.values()
        if ret["result"] is False and not ret["comment"].startswith("One or more requisite failed")
    ]
    assert failed and all("move it aside" in comment and FORCE in comment for comment in failed), failed
