"""
What an admin reads stays in step with the code: every public execution
module function has a CLI Example, and README.rst and pillar.example name
every pillar and lookup key the formula accepts.
"""

import inspect

import ciphermail_cli_commands as cli_commands
import ciphermail_split_pillar
import ciphermail_split_settings as split_settings
import pytest
import yaml
from support.modules import load_execution_module
from support.sandbox import REPO_ROOT

EXECUTION_MODULES = sorted(path.stem for path in (REPO_ROOT / "_modules").glob("*.py"))
README = (REPO_ROOT / "README.rst").read_text()
PILLAR_EXAMPLE = (REPO_ROOT / "pillar.example").read_text()
DEFAULTS = yaml.safe_load((REPO_ROOT / "ciphermail_split" / "parameters" / "defaults.yaml").read_text())["values"]


def public_functions(module):
    return [
        (name, function)
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if not name.startswith("_") and function.__module__ == module.__name__
    ]


@pytest.mark.parametrize("name", EXECUTION_MODULES)
def test_every_public_function_has_a_cli_example(name):
    module = load_execution_module(name)
    missing = [fn for fn, function in public_functions(module) if "CLI Example:" not in (function.__doc__ or "")]
    assert missing == []
    assert module.__doc__.strip()


def pillar_keys():
    keys = [key for key in DEFAULTS if key != "lookup"]
    keys += list(DEFAULTS["lookup"]) + list(split_settings.HOST_DEFAULTS)
    return keys


@pytest.mark.parametrize("key", pillar_keys())
def test_readme_and_pillar_example_name_every_key(key):
    assert f"``{key}``" in README or f"``{key}:" in README
    assert f"{key}:" in PILLAR_EXAMPLE


def test_readme_marks_the_inferred_commands():
    for words, source in cli_commands.COMMANDS.values():
        command = " ".join(words).replace("{domain}", "D").replace("{name}", "N").replace("{value}", "V")
        row = next(line for line in README.splitlines() if f"``ciphermail-cli {command}``" in line)
        assert ("**inferred**" in row) == (source == "inferred"), row


def test_the_pillar_example_is_a_valid_pillar():
    example = yaml.safe_load(PILLAR_EXAMPLE)["ciphermail_split"]
    assert ciphermail_split_pillar.problems(example, DEFAULTS)[1] == []
