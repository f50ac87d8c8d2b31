"""Import the formula's execution modules and ``_utils`` as plain Python modules, as Salt's loader makes them importable."""

import importlib.util
import sys

from support.sandbox import REPO_ROOT

UTILS_DIR = str(REPO_ROOT / "_utils")


def put_utils_on_path():
    """Make the formula's ``_utils`` importable (``import ciphermail_smtp_probe``), as Salt does for its modules."""
    if UTILS_DIR not in sys.path:
        sys.path.insert(0, UTILS_DIR)


def load_execution_module(name):
    """``_modules/<name>.py`` imported without Salt's loader (no ``__salt__``)."""
    spec = importlib.util.spec_from_file_location(f"unit_{name}", REPO_ROOT / "_modules" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
