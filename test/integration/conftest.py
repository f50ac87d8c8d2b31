"""
Integration tier: ``salt-call --local state.apply ciphermail_split`` as an
admin runs it, against a sandboxed gateway (simulator + throwaway Postfix
configuration directory).
"""

import pytest
from support.masterless import MasterlessMinion
from support.sandbox import GatewaySandbox

pytestmark = pytest.mark.integration

MAIN_GATEWAY_ADDRESS = "192.0.2.10"
PORTAL_SERVER = "portal.dmz.example.net"

MAIN_PILLAR = {"role": "main", "portal_server": PORTAL_SERVER}
PORTAL_PILLAR = {"role": "portal", "main_gateway_addresses": [MAIN_GATEWAY_ADDRESS]}


@pytest.fixture
def make_minion(tmp_path):
    """Build a masterless minion for a fresh sandboxed gateway with the given pillar."""

    def make(pillar, name="gw", main_cf_extra=""):
        gateway = GatewaySandbox(tmp_path / name / "gateway", main_cf_extra=main_cf_extra)
        minion = MasterlessMinion(tmp_path / name / "salt", f"{name}-minion", gateway, pillar)
        minion.sync()
        return minion

    return make


@pytest.fixture
def main_minion(make_minion):
    return make_minion(MAIN_PILLAR, name="main")


@pytest.fixture
def portal_minion(make_minion):
    return make_minion(PORTAL_PILLAR, name="portal")
