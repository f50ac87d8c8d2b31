"""
A gateway command that starts but fails, or runs too long, is named by the
command and its ``ciphermail_split:lookup`` key (the setting to look at),
with the command's own message; never in Salt's words.
"""

import pytest
from salt.exceptions import CommandExecutionError
from support.values import DOMAIN


def script(path, body):
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_a_failing_command_is_named_by_its_lookup_key_and_command(modules, loaders, gateway, tmp_path):
    lookup = loaders.opts["ciphermail_split"]["lookup"]
    lookup["postconf"] = script(tmp_path / "postconf", 'echo "postconf: fatal: broken configuration" >&2; exit 3')
    with pytest.raises(CommandExecutionError) as error:
        modules.ciphermail_mta.transport_table()
    assert str(error.value) == (
        f"ciphermail_split:lookup:postconf: postconf -c {gateway.postfix_dir} -hx transport_maps default_database_type "
        "failed (exit 3): postconf: fatal: broken configuration"
    )


def test_a_command_that_runs_too_long_says_so_and_names_its_timeout(modules, loaders, tmp_path):
    lookup = loaders.opts["ciphermail_split"]["lookup"]
    lookup["cli"] = script(tmp_path / "ciphermail-cli", "sleep 30")
    lookup["cli_timeout"] = 1
    with pytest.raises(CommandExecutionError) as error:
        modules.ciphermail.domain_exists(DOMAIN)
    assert str(error.value) == (
        "ciphermail_split:lookup:cli: ciphermail-cli domain list timed out after 1 s "
        "(ciphermail_split:lookup:cli_timeout)"
    )
