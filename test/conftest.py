"""Fixtures shared by every test tier."""

import logging
import os

import pytest
from hypothesis import HealthCheck, settings
from support.sandbox import REPO_ROOT, GatewaySandbox

# Property tests check outcomes, not speed: no per-example deadline and no
# "generation is slow" health check, which fail on a loaded machine.
settings.register_profile("outcomes", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("outcomes")


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


def pytest_sessionfinish(session):  # pylint: disable=unused-argument
    """
    Salt's deferred console handler replays its records at exit, when
    pytest has closed the captured stream ("--- Logging error ---" noise).
    pytest captured those records already: send the replay to /dev/null.
    """
    from salt._logging.handlers import DeferredStreamHandler  # pylint: disable=import-outside-toplevel

    for handler in logging.root.handlers:
        if isinstance(handler, DeferredStreamHandler):
            handler.stream = open(os.devnull, "w", encoding="utf-8")  # pylint: disable=consider-using-with


def pytest_collection_modifyitems(items):
    """
    The longest tests first (the master tier, then the other integration
    tests), so that the short ones fill up the end of a parallel run
    instead of one long test holding it up. Stable: the order within a tier
    stays.
    """
    items.sort(key=lambda item: 0 if item.get_closest_marker("master") else 1 if item.get_closest_marker("integration") else 2)
