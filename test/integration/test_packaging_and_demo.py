"""``make spm`` builds a package with the formula; ``make demo`` runs on a sandbox only."""

import os
import pathlib
import re
import subprocess
import tarfile

import pytest
from support.sandbox import REPO_ROOT

pytestmark = pytest.mark.integration


def make(target, **variables):
    argv = ["make", "-s", "-C", str(REPO_ROOT), target] + [f"{k}={v}" for k, v in variables.items()]
    return subprocess.run(argv, capture_output=True, text=True, check=False, env=os.environ)


def test_spm_build_packages_the_formula(tmp_path):
    proc = make("spm", SPM_DIR=tmp_path)
    assert proc.returncode == 0, proc.stderr
    packages = list(tmp_path.glob("ciphermail_split-*.spm"))
    assert len(packages) == 1
    with tarfile.open(packages[0]) as package:
        names = set(package.getnames())
    for sls in ("init", "clean", "main/init", "main/clean", "portal/init", "portal/clean", "orch/init", "orch/clean"):
        assert f"ciphermail_split/ciphermail_split/{sls}.sls" in names
    for module in ("ciphermail", "ciphermail_mta", "ciphermail_ledger", "ciphermail_split", "ciphermail_split_status"):
        assert f"ciphermail_split/_modules/{module}.py" in names
    assert "ciphermail_split/_utils/ciphermail_split_state.py" in names
    assert "ciphermail_split/FORMULA" in names
    assert not any("/test/" in name or ".venv" in name for name in names)


def test_demo_converges_without_touching_etc(tmp_path):
    etc_salt = pathlib.Path("/etc/salt")
    existed = etc_salt.exists()
    proc = subprocess.run(
        ["make", "-s", "-C", str(REPO_ROOT), "demo"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "CIPHERMAIL_DEMO_SANDBOX": str(tmp_path / "sandbox")},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = proc.stdout.split("== ")
    last_runs = [run for run in runs if "live again" in run]
    assert len(last_runs) == 2
    for run in last_runs:
        assert "gateway write commands in this run: 0" in run
        assert re.search(r"Succeeded: 3\n", run)  # no "(changed=...)"
    assert etc_salt.exists() == existed
