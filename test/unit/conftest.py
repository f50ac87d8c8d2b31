"""
Unit tier: the formula's ``_utils`` modules are imported as plain modules,
as Salt's loader makes them importable for execution and state modules.
"""

import sys

from support.sandbox import REPO_ROOT

_UTILS = str(REPO_ROOT / "_utils")
if _UTILS not in sys.path:
    sys.path.insert(0, _UTILS)
