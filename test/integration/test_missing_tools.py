"""
A command the role runs that is not there (a wrong ``lookup`` path) stops
the role before anything is written, under test=True as in the live run,
and the message names the lookup key and the path.
"""

import pytest
from support.cases import on_every_salt
from support.masterless import MasterlessMinion
from support.sandbox import GatewaySandbox
from support.values import MAIN_PILLAR, PORTAL_PILLAR

pytestmark = pytest.mark.integration

#: The commands each role runs, apply and clean alike.
ROLE_TOOLS = {
    "main": ("postconf", "postmap", "postfix", "playbook_cmd"),
    "portal": ("cli", "postconf", "postfix"),
}
PILLARS = {"main": MAIN_PILLAR, "portal": PORTAL_PILLAR}
CASES = [(role, key, sls) for role, keys in ROLE_TOOLS.items() for key in keys for sls in ("", ".clean")]


@pytest.fixture(scope="module")
def minion(tmp_path_factory):
    return MasterlessMinion.synced(tmp_path_factory.mktemp("missing-tools"), "missing-tools", MAIN_PILLAR)


IDS = [f"{role}{sls}-{key}" for role, key, sls in CASES]
#: Each role, apply and clean, a Postfix command and a gateway tool, on every Salt.
EVERY_SALT = ("main-postmap", "main.clean-playbook_cmd", "portal-cli", "portal.clean-postconf")


@pytest.mark.parametrize("role, key, sls", on_every_salt(CASES, EVERY_SALT, IDS))
def test_a_missing_command_stops_the_role_before_anything_is_written(minion, tmp_path, role, key, sls):
    minion.gateway = GatewaySandbox(tmp_path / "gateway")
    missing = f"/nonexistent/bin/{key}"
    minion.set_pillar({**PILLARS[role], "lookup": {key: missing}})
    files = minion.gateway.files()
    for test in (True, False):
        run = minion.apply(f"ciphermail_split{sls}", test=test)
        assert run.returncode != 0, run
        failed = {state_id: ret["comment"] for state_id, ret in run.states.items() if ret["result"] is False}
        assert failed, run
        assert any(f"ciphermail_split:lookup:{key}: {missing}" in comment for comment in failed.values()), failed
        assert not any(ret["changes"] for ret in run.states.values()), run
        assert minion.gateway.files() == files
        assert minion.gateway.write_calls() == []
