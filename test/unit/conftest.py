"""
Unit tier: the formula's ``_utils`` modules are imported as plain modules,
as Salt's loader makes them importable for execution and state modules.
"""

from support.modules import put_utils_on_path

put_utils_on_path()
