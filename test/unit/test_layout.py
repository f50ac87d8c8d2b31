"""
How the code hangs together: the pure modules in ``_utils`` import each
other without a cycle and never reach Salt's loader; the execution and
state modules import them directly and never call a thin wrapper of a pure
helper through ``__salt__``; each virtual name belongs to one file.
"""

import ast
import re

import pytest
from support.sandbox import REPO_ROOT

UTILS = {path.stem: path for path in (REPO_ROOT / "_utils").glob("*.py")}
LOADED = [path for folder in ("_modules", "_states") for path in sorted((REPO_ROOT / folder).glob("*.py"))]
SALT_CALL = re.compile(r"""__salt__\[\s*(?:f?)["']([a-z_]+)\.([a-z_]+)["']\s*\]""")
DUNDERS = ("__salt__", "__opts__", "__pillar__", "__grains__", "__context__", "__utils__")


def _tree(path):
    return ast.parse(path.read_text(), filename=str(path))


def _imported(path):
    names = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_utils_import_graph_has_no_cycle():
    graph = {name: _imported(path) & UTILS.keys() for name, path in UTILS.items()}
    done, visiting = set(), []

    def visit(name):
        assert name not in visiting, f"import cycle: {' -> '.join([*visiting, name])}"
        if name in done:
            return
        visiting.append(name)
        for other in sorted(graph[name]):
            visit(other)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


@pytest.mark.parametrize("name", sorted(UTILS))
def test_utils_use_no_salt_loader_dunder(name):
    names = {node.id for node in ast.walk(_tree(UTILS[name])) if isinstance(node, ast.Name)}
    assert not names & set(DUNDERS)


def _thin_wrappers():
    """``{(virtual name, function)}`` of execution functions whose body only returns a call into ``_utils``."""
    wrappers = set()
    for path in sorted((REPO_ROOT / "_modules").glob("*.py")):
        tree = _tree(path)
        aliases = {
            alias.asname or alias.name
            for node in tree.body
            if isinstance(node, ast.Import)
            for alias in node.names
            if alias.name in UTILS
        }
        virtual = next(
            node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__virtualname__"
        )
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                body = [stmt for stmt in node.body if not isinstance(stmt, ast.Expr)]
                if (
                    len(body) == 1
                    and isinstance(body[0], ast.Return)
                    and isinstance(body[0].value, ast.Call)
                    and isinstance(body[0].value.func, ast.Attribute)
                    and getattr(body[0].value.func.value, "id", None) in aliases
                ):
                    wrappers.add((virtual, node.name))
    return wrappers


def test_the_thin_wrappers_are_found():
    assert ("ciphermail", "normalise_value") in _thin_wrappers()


@pytest.mark.parametrize("path", LOADED, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_no_pure_helper_is_reached_through_salt(path):
    called = set(SALT_CALL.findall(path.read_text()))
    assert not called & _thin_wrappers()


def test_each_virtual_name_belongs_to_one_file():
    for folder in ("_modules", "_states"):
        names = [re.search(r'__virtualname__ = "(\w+)"', path.read_text())[1] for path in (REPO_ROOT / folder).glob("*.py")]
        assert len(names) == len(set(names)), (folder, names)
