"""
Sphinx configuration of the maintainers' documentation (``make docs``).

The module reference is generated from the docstrings of every file in
``_modules``, ``_states`` and ``_wrapper`` (``_ext/formula_reference.py``); the formula's
``_utils`` are put on ``sys.path`` as Salt's loader puts them on the import
path of those modules. Salt's dunders (``__salt__``, ``__opts__``, ...) are
only used when a function runs, so importing the modules needs none.
"""

import pathlib
import re
import sys

DOCS = pathlib.Path(__file__).resolve().parent
REPO_ROOT = DOCS.parent
for path in (DOCS / "_ext", REPO_ROOT / "_utils"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

project = "ciphermail-split-formula"
author = "ciphermail-split-formula contributors"
copyright = "the ciphermail-split-formula contributors, Apache License 2.0"
version = release = re.search(r"^version:\s*(\S+)", (REPO_ROOT / "FORMULA").read_text(), re.M).group(1)

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.graphviz",
    "formula_reference",
]

root_doc = "index"
exclude_patterns = ["_ext"]
# Functions are shown under their module's heading (the Salt name), so the
# import path the reference uses (``_modules.ciphermail``) is left out.
add_module_names = False
autodoc_member_order = "bysource"
graphviz_output_format = "svg"

html_theme = "alabaster"
html_title = f"{project} {release}"
html_show_sourcelink = False
