"""
Integration tier: ``salt-call --local state.apply ciphermail_split`` as an
admin runs it, against a sandboxed gateway (simulator + throwaway Postfix
configuration directory); and salt-ssh through a real sshd.
"""

import shutil

import pytest
from support.masterless import MasterlessMinion
from support.saltssh import SaltSsh, new_master_root
from support.sshd import Sshd
from support.values import CREDENTIAL, MAIN_PILLAR, PORTAL_PILLAR, SECRET

pytestmark = pytest.mark.integration


@pytest.fixture
def make_minion(tmp_path):
    """Build a masterless minion for a fresh sandboxed gateway with the given pillar."""

    def make(pillar, name="gw", main_cf_extra="", log_level="warning"):
        return MasterlessMinion.synced(tmp_path / name, name, pillar, main_cf_extra, log_level=log_level)

    return make


@pytest.fixture
def main_minion(make_minion):
    return make_minion(MAIN_PILLAR, name="main")


@pytest.fixture
def portal_minion(make_minion):
    return make_minion(PORTAL_PILLAR, name="portal")


@pytest.fixture
def salt_ssh_root():
    """The salt-ssh master's directory (config, file root, cache), removed at teardown."""
    root = new_master_root()
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def sshd(tmp_path, salt_ssh_root):
    """
    A real OpenSSH sshd on 127.0.0.1 with throwaway keys, blind to the
    master's directory; stopped at teardown. Its gateways' ciphermail-cli
    wants the test credential (``SECRET``), as a real one would want its own.
    """
    with Sshd(tmp_path / "sshd", master_dirs=[salt_ssh_root], env={"CIPHERMAIL_SIM_PASSWORD": SECRET}) as server:
        yield server


@pytest.fixture
def salt_ssh(sshd, salt_ssh_root, tmp_path):
    """
    A salt-ssh master config with the targets ``main`` and ``portal`` behind
    ``sshd``, each a sandboxed gateway with the main or portal test pillar
    and the credential its ciphermail-cli wants in ``command_env``.
    """
    pillars = {"main": {**MAIN_PILLAR, **CREDENTIAL}, "portal": {**PORTAL_PILLAR, **CREDENTIAL}}
    return SaltSsh(sshd, tmp_path / "gateways", root=salt_ssh_root, pillars=pillars)
