"""ciphermail_mta loads only where it can run postconf, and says why not."""

import shutil

import pytest
from salt.exceptions import SaltInvocationError
from support.modules import load_execution_module


def _load_module(host_settings):
    module = load_execution_module("ciphermail_mta")
    module.__salt__ = {"ciphermail_split.host_settings": host_settings}
    return module


@pytest.mark.skipif(shutil.which("postconf") is None, reason="needs Postfix's postconf")
def test_loads_where_postconf_is_found():
    assert _load_module(lambda: {"postconf": ["postconf"]}).__virtual__() == "ciphermail_mta"


def test_refuses_to_load_without_postconf():
    mta = _load_module(lambda: {"postconf": ["/nonexistent/sbin/postconf", "-v"]})
    assert mta.__virtual__() == (
        False,
        "ciphermail_mta: /nonexistent/sbin/postconf not found (set ciphermail_split:lookup:postconf)",
    )


def test_names_invalid_host_settings():
    def invalid():
        raise SaltInvocationError("ciphermail_split:lookup:postfix_timeout: got 0; expected a number of seconds")

    assert _load_module(invalid).__virtual__() == (
        False,
        "ciphermail_mta: ciphermail_split:lookup:postfix_timeout: got 0; expected a number of seconds",
    )
