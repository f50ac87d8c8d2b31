"""
The formula's modules load whatever is installed; a command that cannot run
is named by its lookup key and path when it is needed, not earlier and not
in Salt's words.
"""

import ciphermail_split_commands as commands
import ciphermail_split_settings as split_settings
import pytest
from salt.exceptions import CommandExecutionError
from support.modules import load_execution_module
from support.sandbox import REPO_ROOT

MODULE_FILES = sorted(path.stem for path in (REPO_ROOT / "_modules").glob("*.py"))


@pytest.mark.parametrize("name", MODULE_FILES)
def test_every_execution_module_loads_without_any_gateway_tool(name):
    module = load_execution_module(name)
    assert module.__virtual__() == module.__virtualname__


def test_a_missing_command_is_named_by_its_lookup_key_and_path():
    settings = split_settings.host_settings({"postmap": "/nonexistent/sbin/postmap"})
    assert commands.missing(settings, "postmap") == (
        "ciphermail_split:lookup:postmap: /nonexistent/sbin/postmap is not found or not executable "
        "(set ciphermail_split:lookup:postmap)"
    )
    with pytest.raises(CommandExecutionError, match="^ciphermail_split:lookup:postmap: /nonexistent/sbin/postmap"):
        commands.require(settings, ["postconf", "postmap"])


def test_a_command_that_cannot_start_is_named_without_its_environment(tmp_path):
    script = tmp_path / "tool"
    script.write_text("#!/nonexistent/interpreter\n")
    script.chmod(0o755)
    settings = split_settings.host_settings({"cli": str(script), "command_env": {"SECRET_TOKEN": "s3cret-value"}})

    def run_all(argv, **kwargs):
        raise CommandExecutionError(
            f"Unable to run command '{argv}' with the context '{kwargs}', reason: [Errno 2] No such file"
        )

    with pytest.raises(CommandExecutionError) as error:
        commands.run(run_all, settings, "cli", ["domain", "list"], title="ciphermail-cli domain list", timeout=5)
    assert str(error.value) == (
        "ciphermail_split:lookup:cli: cannot run ciphermail-cli domain list: [Errno 2] No such file"
    )
    assert "s3cret-value" not in str(error.value)
