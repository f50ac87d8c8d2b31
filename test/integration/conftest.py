"""
Integration tier: ``salt-call --local state.apply ciphermail_split`` as an
admin runs it, against a sandboxed gateway (simulator + throwaway Postfix
configuration directory).
"""

import pytest
from support.masterless import MasterlessMinion
from support.values import MAIN_PILLAR, PORTAL_PILLAR

pytestmark = pytest.mark.integration


@pytest.fixture
def make_minion(tmp_path):
    """Build a masterless minion for a fresh sandboxed gateway with the given pillar."""

    def make(pillar, name="gw", main_cf_extra=""):
        return MasterlessMinion.synced(tmp_path / name, name, pillar, main_cf_extra)

    return make


@pytest.fixture
def main_minion(make_minion):
    return make_minion(MAIN_PILLAR, name="main")


@pytest.fixture
def portal_minion(make_minion):
    return make_minion(PORTAL_PILLAR, name="portal")
