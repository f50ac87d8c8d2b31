"""
The module reference, generated when the docs are built.

``.. formula-modules:: _modules`` (or ``_states``, ``_wrapper``) puts a section for each
``*.py`` file of that directory of the repository, as it is when the docs are
built: its Salt name (``__virtualname__``), how it is called, its docstring
and every public function with its docstring (``automodule`` with
``:members:`` and ``:undoc-members:``, so a function without a docstring is
still listed). No module or function is named by hand here.

Each file is imported as ``<directory>.<file name>`` (``_modules.ciphermail``,
``_states.ciphermail``), so the execution and the state module of one Salt
name stay apart.
"""

import importlib
import inspect
import pathlib
import sys
import types

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

#: The directories of Salt modules, and how an admin calls their functions.
KINDS = {
    "_modules": ("Execution module", "salt <minion> {name}.<function>"),
    "_states": ("State module", "{name}.<function> in an SLS file"),
    "_wrapper": ("salt-ssh wrapper module, run on the master", "salt-ssh <target> {name}.<function>"),
}


def module_files(kind):
    """The ``*.py`` files of ``_modules``, ``_states`` or ``_wrapper``, sorted by name."""
    return sorted((REPO_ROOT / kind).glob("*.py"))


def import_module(kind, path):
    """``<kind>/<file>.py`` imported as ``<kind>.<file>`` (with ``_utils`` on ``sys.path``)."""
    if kind not in sys.modules:
        package = types.ModuleType(kind)
        package.__path__ = [str(REPO_ROOT / kind)]
        sys.modules[kind] = package
    return importlib.import_module(f"{kind}.{path.stem}")


def salt_name(module, path):
    """The name Salt serves the module's functions under."""
    return getattr(module, "__virtualname__", path.stem)


class FormulaModules(SphinxDirective):
    """A section per module file of one directory, with its functions (autodoc)."""

    required_arguments = 1

    def run(self):
        kind = self.arguments[0]
        if kind not in KINDS:
            raise self.error(f"formula-modules: {kind!r} is not one of {', '.join(KINDS)}")
        what, call = KINDS[kind]
        files = module_files(kind)
        if not files:
            raise self.error(f"formula-modules: no *.py file in {kind}/")
        try:
            names = {path: salt_name(import_module(kind, path), path) for path in files}
        except Exception as exc:  # any import failure must fail the build, with its reason
            raise self.error(f"formula-modules: cannot import a module of {kind}/: {exc!r}") from exc
        lines = []
        for path, name in names.items():
            self.env.note_dependency(str(path))
            title = f"``{name}``: ``{kind}/{path.name}``"
            lines += [title, "-" * len(title), ""]
            lines += [f"{what}. Call its functions as ``{call.format(name=name)}``.", ""]
            shared = [other.name for other, other_name in names.items() if other_name == name and other != path]
            if shared:
                others = ", ".join(f"``{kind}/{other}``" for other in shared)
                lines += [f"Salt serves these functions under ``{name}`` together with those of {others}.", ""]
            lines += [f".. automodule:: {kind}.{path.stem}", "   :members:", "   :undoc-members:", ""]
        content = StringList(lines, source=f"<formula-modules {kind}>")
        node = nodes.Element()
        nested_parse_with_titles(self.state, content, node)
        return node.children


def skip_what_is_not_a_function(app, what, name, obj, skip, options):
    """The reference lists functions; module constants are read in the source."""
    if what == "module" and not inspect.isfunction(obj):
        return True
    return None


def setup(app):
    app.add_directive("formula-modules", FormulaModules)
    app.connect("autodoc-skip-member", skip_what_is_not_a_function)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
