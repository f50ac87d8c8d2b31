"""``make demo`` converges both roles on a sandbox only."""

import pathlib
import re

import pytest
from support.make import make

pytestmark = pytest.mark.integration


def test_demo_converges_without_touching_etc(tmp_path):
    etc_salt = pathlib.Path("/etc/salt")
    existed = etc_salt.exists()
    proc = make("demo", env={"CIPHERMAIL_DEMO_SANDBOX": str(tmp_path / "sandbox")})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = proc.stdout.split("== ")
    last_runs = [run for run in runs if "live again" in run]
    assert len(last_runs) == 2
    for run in last_runs:
        assert "gateway write commands in this run: 0" in run
        assert re.search(r"Succeeded: 4\n", run)  # no "(changed=...)"
    assert etc_salt.exists() == existed
