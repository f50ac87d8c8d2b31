"""
Integration tier: ``salt-call --local state.apply ciphermail_split`` as an
admin runs it, against a sandboxed gateway (simulator + throwaway Postfix
configuration directory); and salt-ssh through a real sshd.
"""

import pytest
from support.masterless import MasterlessMinion
from support.saltssh import SaltSsh
from support.sshd import Sshd
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


@pytest.fixture
def sshd(tmp_path):
    """A real OpenSSH sshd on 127.0.0.1 with throwaway keys, stopped at teardown."""
    with Sshd(tmp_path / "sshd") as server:
        yield server


@pytest.fixture
def salt_ssh(sshd, tmp_path):
    """
    A salt-ssh master config with the targets ``main`` and ``portal`` behind
    ``sshd``, each a sandboxed gateway with the main or portal test pillar.
    """
    master = SaltSsh(sshd, tmp_path / "gateways", pillars={"main": MAIN_PILLAR, "portal": PORTAL_PILLAR})
    yield master
    master.cleanup()
