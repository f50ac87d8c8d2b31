"""
``make <target>`` of this repository from a test, with the venv of the
Salt under test (``VENV``), so a ``make test SALT_VERSION=3006`` run checks
``make demo`` and ``make spm`` on Salt 3006 too.
"""

import os
import pathlib
import subprocess
import sys

from support.sandbox import REPO_ROOT


def make(target, env=None, **variables):
    """Run ``make -s <target> VAR=value ...`` in the repository; returns the CompletedProcess."""
    venv = os.path.relpath(pathlib.Path(sys.executable).parent.parent, REPO_ROOT)
    argv = ["make", "-s", "-C", str(REPO_ROOT), target, f"VENV={venv}"]
    argv += [f"{name}={value}" for name, value in variables.items()]
    return subprocess.run(argv, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})})
