"""The execution modules load only where their tool runs, and say why not."""

import shutil

import pytest
from support.modules import load_execution_module

MODULES = {"ciphermail": "cli", "ciphermail_mta": "postconf"}


def _load(name, lookup):
    split = load_execution_module("ciphermail_split")
    split.__salt__ = {"config.get": lambda key, default=None: lookup}
    module = load_execution_module(name)
    module.__salt__ = {"ciphermail_split.tool_problem": split.tool_problem}
    return module


@pytest.mark.skipif(shutil.which("postconf") is None, reason="needs Postfix's postconf")
@pytest.mark.parametrize("name", list(MODULES))
def test_loads_where_its_tool_is_found(name):
    assert _load(name, {MODULES[name]: "postconf"}).__virtual__() == name


@pytest.mark.parametrize("name", list(MODULES))
def test_refuses_to_load_without_its_tool(name):
    tool = MODULES[name]
    module = _load(name, {tool: ["/nonexistent/sbin/tool", "-v"]})
    assert module.__virtual__() == (
        False,
        f"{name}: /nonexistent/sbin/tool not found (set ciphermail_split:lookup:{tool})",
    )


@pytest.mark.parametrize("name", list(MODULES))
def test_names_invalid_host_settings(name):
    assert _load(name, {"postfix_timeout": 0}).__virtual__() == (
        False,
        f"{name}: ciphermail_split:lookup:postfix_timeout: got 0; expected a number of seconds, "
        "more than 0 and at most 86400",
    )
