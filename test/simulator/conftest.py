"""The simulated gateways of test_simulator.py, for the simulator's other test files."""

import pytest
from test_simulator import PORTAL, Gateway


@pytest.fixture
def gw(tmp_path):
    return Gateway(tmp_path / "gateway")


@pytest.fixture
def portal(gw):
    """A gateway with the portal domain added."""
    gw.ok("domain", "add", "--domain", PORTAL)
    return gw
