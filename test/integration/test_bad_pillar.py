"""
A bad pillar fails the whole run before any state runs: the message names
the key, the value and what is expected; the gateway is not written to and
no file changes.
"""

import pytest
from support.cases import on_every_salt
from support.masterless import MasterlessMinion
from support.values import MAIN_PILLAR, PORTAL_PILLAR

WEBMAIL_HEADER = "ciphermail_split:lookup:triggers:webmail:header"

BAD_PILLARS = {
    "unknown role": ({**MAIN_PILLAR, "role": "dmz"}, ["ciphermail_split:role", "'dmz'", "main or portal"]),
    "missing portal_server": (
        {"role": "main"},
        ["ciphermail_split:portal_server", "None", "FQDN, IPv4 or IPv6"],
    ),
    "portal_server with a space": (
        {**MAIN_PILLAR, "portal_server": "portal .example.net"},
        ["ciphermail_split:portal_server", "'portal .example.net'"],
    ),
    "portal_server with a newline": (
        {**MAIN_PILLAR, "portal_server": "portal.example.net\nevil.example"},
        ["ciphermail_split:portal_server", "evil.example"],
    ),
    "a portal node given twice": (
        {**MAIN_PILLAR, "portal_server": ["portal-a.example.net", "Portal-A.example.net"]},
        ["ciphermail_split:portal_server", "each portal node once", "portal-a.example.net is given twice"],
    ),
    "an unknown TLS level": (
        {**MAIN_PILLAR, "portal_tls": {"level": "mandatory"}},
        ["ciphermail_split:portal_tls:level", "'mandatory'", "may or encrypt or verify or secure"],
    ),
    "port 0": ({**MAIN_PILLAR, "portal_port": 0}, ["ciphermail_split:portal_port", "0", "65535"]),
    "port 70000": ({**MAIN_PILLAR, "portal_port": 70000}, ["ciphermail_split:portal_port", "70000", "65535"]),
    "address that is not an IP": (
        {**PORTAL_PILLAR, "main_gateway_addresses": ["not-an-ip"]},
        ["ciphermail_split:main_gateway_addresses[0]", "'not-an-ip'"],
    ),
    "network without allow_networks": (
        {**PORTAL_PILLAR, "main_gateway_addresses": ["10.0.0.0/8"]},
        ["ciphermail_split:main_gateway_addresses[0]", "10.0.0.0/8", "allow_networks"],
    ),
    "header with a line break": (
        {**PORTAL_PILLAR, "lookup": {"triggers": {"webmail": {"header": "X-Keep: True\nBcc: x@example.org"}}}},
        [WEBMAIL_HEADER, "line breaks"],
    ),
    "unknown top-level key": (
        {**MAIN_PILLAR, "portal_sever": "portal.example.net"},
        ["ciphermail_split:portal_sever", "unknown key", "portal_server"],
    ),
    "unknown messenger": (
        {**PORTAL_PILLAR, "messengers": {"webmial": False}},
        ["ciphermail_split:messengers:webmial", "unknown key", "webmail"],
    ),
    "unknown lookup key": (
        {**MAIN_PILLAR, "lookup": {"cli_timout": 5}},
        ["ciphermail_split:lookup:cli_timout", "unknown key", "cli_timeout"],
    ),
    "bad lookup value": (
        {**MAIN_PILLAR, "lookup": {"playbook_timeout": "soon"}},
        ["ciphermail_split:lookup:playbook_timeout", "'soon'", "seconds"],
    ),
    "domain properties not a mapping": (
        {**PORTAL_PILLAR, "lookup": {"private_domain_properties": ["revert-rewrite-recipient"]}},
        ["ciphermail_split:lookup:private_domain_properties", "a mapping"],
    ),
    "messenger not a boolean": (
        {**PORTAL_PILLAR, "messengers": {"webmail": "yes"}},
        ["ciphermail_split:messengers:webmail", "'yes'", "true or false"],
    ),
}


@pytest.fixture(scope="module")
def minion(tmp_path_factory):
    """One synced minion; each case gives it its own bad pillar."""
    return MasterlessMinion.synced(tmp_path_factory.mktemp("bad-pillar"), "bad-pillar", MAIN_PILLAR)


#: One refusal of a value, one of an unknown key and one in lookup show the render-time refusal on every Salt.
EVERY_SALT = ("unknown role", "unknown lookup key", "address that is not an IP")


@pytest.mark.parametrize("case", on_every_salt(BAD_PILLARS, EVERY_SALT))
def test_bad_pillar_fails_before_anything_changes(minion, case):
    pillar, expected_words = BAD_PILLARS[case]
    minion.set_pillar(pillar)
    files_before = minion.gateway.files()
    for test in (True, False):
        run = minion.apply(test=test)
        assert run.returncode != 0, run
        assert run.refusals, run  # only the failing states that say why ran
        assert all(result is False for result in run.results.values()), run
        message = " ".join(run.refusals)
        for word in expected_words:
            assert word in message, (word, message)
        assert "Traceback" not in run.proc.stdout + run.proc.stderr
        assert "map.jinja" not in run.proc.stdout + run.proc.stderr
    assert minion.gateway.write_calls() == []
    assert minion.gateway.files() == files_before


def test_role_sls_refuses_the_other_role(minion):
    minion.set_pillar(PORTAL_PILLAR)
    run = minion.apply("ciphermail_split.main")
    assert run.returncode != 0
    assert "ciphermail_split:role" in " ".join(run.refusals)
    assert minion.gateway.write_calls() == []


def test_a_list_of_portal_nodes_on_a_postfix_older_than_3_5_is_refused_naming_the_version(minion, tmp_path):
    """A postconf that reports mail_version 3.4.14, as an older Postfix does, and is the real one otherwise."""
    postconf = tmp_path / "postconf"
    postconf.write_text(
        "#!/bin/sh\n"
        'case "$*" in *"-dh mail_version"*) echo 3.4.14; exit 0;; esac\n'
        'exec /usr/sbin/postconf "$@"\n'
    )
    postconf.chmod(0o755)
    nodes = ["portal-a.example.net", "portal-b.example.net"]
    minion.set_pillar({**MAIN_PILLAR, "portal_server": nodes, "lookup": {"postconf": str(postconf)}})
    files_before = minion.gateway.files()
    for test in (True, False):
        run = minion.apply(test=test)
        assert run.returncode != 0, run
        assert run.refusals == [
            f"ciphermail_split:portal_server: got {nodes!r}; expected one host: Postfix 3.4.14 on this gateway "
            "takes one nexthop per transport entry; a list needs Postfix 3.5 or later"
        ], run
    assert minion.gateway.write_calls() == []
    assert minion.gateway.files() == files_before
    minion.set_pillar({**MAIN_PILLAR, "portal_server": nodes[:1], "lookup": {"postconf": str(postconf)}})
    assert minion.apply(test=True).returncode == 0
