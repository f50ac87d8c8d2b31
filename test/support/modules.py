"""Import the formula's execution modules as plain Python modules, for the unit tier."""

import importlib.util

from support.sandbox import REPO_ROOT


def load_execution_module(name):
    """``_modules/<name>.py`` imported without Salt's loader (no ``__salt__``)."""
    spec = importlib.util.spec_from_file_location(f"unit_{name}", REPO_ROOT / "_modules" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
