"""Fixtures shared by every test tier."""

import pytest
from support.sandbox import REPO_ROOT, GatewaySandbox


@pytest.fixture(scope="session")
def salt_factories_config():
    """Keep Salt's factories inside the repository's ignored build area."""
    root_dir = REPO_ROOT / "build" / "salt-factories"
    root_dir.mkdir(parents=True, exist_ok=True)
    return {"root_dir": str(root_dir)}


@pytest.fixture
def gateway(tmp_path):
    """An empty sandboxed gateway: simulator home, state dir, Postfix config dir."""
    return GatewaySandbox(tmp_path / "gateway")
