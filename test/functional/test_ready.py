"""
``ciphermail_split.ready``: what keeps a gateway from running a role, found
without running a command or writing anything.
"""

import pytest


def test_a_sandboxed_gateway_is_ready_for_both_roles(modules):
    assert modules.ciphermail_split.ready("main") == []
    assert modules.ciphermail_split.ready("portal") == []


def test_a_state_dir_that_is_a_file_is_named(modules, loaders, gateway):
    blocker = gateway.root / "not-a-dir"
    blocker.write_text("")
    lookup = loaders.opts["ciphermail_split"]["lookup"]
    lookup["state_dir"] = str(blocker / "state")
    try:
        assert modules.ciphermail_split.ready("portal") == [
            f"ciphermail_split:lookup:state_dir: {blocker / 'state'} cannot be used: {blocker} is not a directory"
        ]
    finally:
        lookup["state_dir"] = str(gateway.state_dir)


def test_the_role_must_be_known(modules):
    with pytest.raises(Exception, match="role: got 'dmz'; expected main or portal"):
        modules.ciphermail_split.ready("dmz")
