"""``make demo`` converges both roles on a sandbox only."""

import pathlib
import re

import pytest
from support.make import make

pytestmark = [pytest.mark.integration, pytest.mark.default_salt_only]

#: The states of the two roles' runs, in the demo's order (the main role: its TLS policy step besides).
STATES_PER_RUN = (4, 5)


def test_demo_converges_without_touching_etc(tmp_path):
    etc_salt = pathlib.Path("/etc/salt")
    existed = etc_salt.exists()
    proc = make("demo", env={"CIPHERMAIL_DEMO_SANDBOX": str(tmp_path / "sandbox")})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = proc.stdout.split("== ")
    last_runs = [run for run in runs if "live again" in run]
    assert len(last_runs) == 2
    for run, states in zip(last_runs, STATES_PER_RUN):
        assert "gateway write commands in this run: 0" in run
        assert re.search(rf"Succeeded: {states}\n", run), run  # no "(changed=...)"
    assert etc_salt.exists() == existed
