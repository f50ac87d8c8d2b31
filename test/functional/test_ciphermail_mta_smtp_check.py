"""
ciphermail_mta.smtp_check against real, running Postfix instances (the
portal nodes' SMTP service, with and without STARTTLS), a closed port, a
server that never speaks and servers that refuse service. The check follows
the sandbox's real transport table unless given a host, and each node's TLS
policy in the sandbox's real smtp_tls_policy_maps; certificates come from a
test CA that the sandbox's Postfix trusts (smtp_tls_CAfile).
"""

import socket
import threading

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError
from support.masterless import link_formula
from support.postfix_instance import PostfixInstance, free_port, instance_root, loopback_address, running
from support.tls_ca import TestCA
from support.values import DOMAIN

TLS_NAME = "portal-t.mailflow.test"


@pytest.fixture(scope="module")
def site():
    """Two running Postfix instances: a portal node without STARTTLS, one with a certificate of a test CA."""
    with instance_root() as root:
        ca = TestCA(root / "ca")
        portal = PostfixInstance(root, "portal", loopback_address(13), mynetworks="127.0.0.1")
        secured = PostfixInstance(root, "portal-t", loopback_address(17), mynetworks="127.0.0.1")
        secured.offer_starttls(*ca.issue("portal-t", [TLS_NAME]))
        with running(portal, secured):
            yield {"ca": ca, "portal": portal, "secured": secured}


@pytest.fixture
def portal(site):
    return site["portal"]


@pytest.fixture
def secured(site):
    return site["secured"]


@pytest.fixture
def smtp_check(modules, state_tree):
    link_formula(state_tree)  # the private domain comes from the formula's defaults.yaml
    return modules.ciphermail_mta.smtp_check


def test_smtp_check_follows_the_transport_entry_to_the_portal(modules, smtp_check, portal):
    nexthop = f"smtp:[{portal.address}]:{portal.port}"
    modules.ciphermail_mta.transport_set(DOMAIN, nexthop)
    check = smtp_check(helo="main.mailflow.test")
    assert (check["nexthop"], check["ok"], check["error"]) == (nexthop, True, None)
    (node,) = check["nodes"]
    assert node.pop("banner").startswith("220 portal.mailflow.test ESMTP")
    assert "PIPELINING" in node.pop("ehlo_extensions")
    assert node == {
        "nexthop": f"[{portal.address}]:{portal.port}",
        "host": portal.address,
        "port": portal.port,
        "connected": True,
        "ehlo_code": 250,
        "starttls": False,
        "tls_version": None,
        "cipher": None,
        "certificate": None,
        "tls_policy": None,
        "tls_level": "none",
        "ok": True,
        "error": None,
    }
    # Only EHLO and QUIT reached the portal: no mail.
    portal.wait_for_log(r"disconnect from \S+ ehlo=1 quit=1 commands=2")
    assert "mail=" not in portal.log()


def test_smtp_check_reads_a_host_written_as_a_destination(smtp_check, portal):
    address, port = portal.address, portal.port
    for host, given_port in [
        (f"[{address}]:{port}", None),
        (f"smtp:[{address}]:{port}", None),
        (f"[{address}]", port),
        (address, port),
    ]:
        check = smtp_check(host=host, port=given_port)
        (node,) = check["nodes"]
        assert (check["ok"], node["host"], node["port"], check["nexthop"]) == (True, address, port, None), host


def test_smtp_check_reports_a_refused_connection(smtp_check):
    address = loopback_address(14)
    port = free_port(address)
    check = smtp_check(host=f"[{address}]:{port}", timeout=5)
    (node,) = check["nodes"]
    assert check["ok"] is False and node["connected"] is False and node["banner"] is None
    assert node["error"].startswith(f"cannot connect to {address}:{port}: ")
    assert "Connection refused" in node["error"]
    assert check["error"] == node["error"]


def test_smtp_check_gives_up_on_a_server_that_never_answers(smtp_check):
    with socket.socket() as silent:  # the kernel accepts; nobody speaks
        silent.bind((loopback_address(15), 0))
        silent.listen()
        address, port = silent.getsockname()
        check = smtp_check(host=address, port=port, timeout=0.5)
    (node,) = check["nodes"]
    assert (check["ok"], node["connected"], node["banner"]) == (False, True, None)
    assert node["error"] == f"no SMTP banner from {address}:{port}: timed out"


def _scripted_server(address, replies):
    """Answer one SMTP client with ``replies``: the first as the banner, each next one to a command."""
    server = socket.create_server((address, 0))
    server.settimeout(30)

    def serve():
        with server, server.accept()[0] as conn, conn.makefile("rb") as commands:
            for number, reply in enumerate(replies):
                if number:
                    commands.readline()
                conn.sendall(reply.encode() + b"\r\n")

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()


@pytest.mark.parametrize(
    ("replies", "banner", "ehlo_code", "error"),
    [
        (["554 5.3.2 no service for you"], "554 5.3.2 no service for you", None, "does not offer SMTP service"),
        (["220 portal ready", "502 5.5.2 say HELO"], "220 portal ready", 502, "refused EHLO main.mailflow.test"),
    ],
)
def test_smtp_check_reports_a_server_that_refuses_service(smtp_check, replies, banner, ehlo_code, error):
    address, port = _scripted_server(loopback_address(16), replies)
    check = smtp_check(host=address, port=port, helo="main.mailflow.test", timeout=5)
    (node,) = check["nodes"]
    assert (check["ok"], node["connected"], node["banner"], node["ehlo_code"]) == (False, True, banner, ehlo_code)
    assert error in node["error"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"host": "smtp:portal.example.net"}, "host: got 'smtp:portal.example.net'"),
        ({"host": "lmtp:[portal.example.net]"}, "host: got 'lmtp:[portal.example.net]'"),
        ({"host": "portal.example.net", "port": 0}, "port: got 0"),
        ({"host": "[portal.example.net]:2525", "port": 25}, "port: got 25"),
        ({"host": "portal.example.net", "timeout": 0}, "timeout: got 0"),
        ({"host": "portal.example.net", "helo": "main gateway"}, "helo: got 'main gateway'"),
    ],
)
def test_smtp_check_refuses_bad_arguments(smtp_check, arguments, message):
    with pytest.raises(SaltInvocationError) as error:
        smtp_check(**arguments)
    assert str(error.value).startswith(message)


def test_smtp_check_without_host_needs_the_transport_entry(smtp_check):
    with pytest.raises(CommandExecutionError) as error:
        smtp_check()
    assert str(error.value) == f"Postfix has no transport entry for {DOMAIN}: apply the main role, or give host"


def test_smtp_check_refuses_a_transport_entry_it_cannot_follow(modules, smtp_check):
    modules.ciphermail_mta.transport_set(DOMAIN, "smtp:portal.example.net")  # MX lookup: not one host
    with pytest.raises(CommandExecutionError) as error:
        smtp_check()
    assert str(error.value).startswith(f"transport of {DOMAIN}: got 'smtp:portal.example.net'; expected ")


def _trust(modules, ca):
    modules.ciphermail_mta.main_cf_set("smtp_tls_CAfile", str(ca.cafile))


def test_smtp_check_checks_every_node_of_a_nexthop_list(modules, smtp_check, portal, secured):
    closed = loopback_address(14)
    nexthop = f"smtp:[{secured.address}]:{secured.port}, [{closed}]:{free_port(closed)}, [{portal.address}]:{portal.port}"
    modules.ciphermail_mta.transport_set(DOMAIN, nexthop)
    check = smtp_check(timeout=5)
    assert check["nexthop"] == nexthop
    nodes = check["nodes"]
    assert [node["host"] for node in nodes] == [secured.address, closed, portal.address]
    assert [node["ok"] for node in nodes] == [True, False, True]
    assert [node["starttls"] for node in nodes] == [True, False, False]
    assert nodes[0]["tls_version"] == "TLSv1.3" and nodes[2]["tls_version"] is None
    assert check["ok"] is False and check["error"] == nodes[1]["error"]
    assert "Connection refused" in check["error"]


@pytest.mark.parametrize(
    ("level", "match", "ok", "error"),
    [
        ("encrypt", None, True, None),
        ("secure", TLS_NAME, True, None),
        ("verify", ".mailflow.test", True, None),
        ("secure", "elsewhere.mailflow.test", False, f"is for {TLS_NAME}, not for elsewhere.mailflow.test"),
        ("secure", None, False, f"is for {TLS_NAME}, not for "),  # the default match: nexthop, dot-nexthop (the address)
    ],
)
def test_smtp_check_verifies_the_certificate_as_the_tls_policy_says(modules, smtp_check, site, level, match, ok, error):
    secured = site["secured"]
    _trust(modules, site["ca"])
    key = f"[{secured.address}]:{secured.port}"
    modules.ciphermail_mta.tls_policy_set({key: f"{level} match={match}" if match else level})
    (node,) = smtp_check(host=key)["nodes"]
    assert (node["tls_policy"] is not None, node["tls_level"], node["starttls"], node["tls_version"]) == (
        True,
        level,
        True,
        "TLSv1.3",
    )
    assert (node["ok"], node["error"] is None) == (ok, error is None), node
    if error:
        assert error in node["error"]
    if level in ("verify", "secure"):
        certificate = node["certificate"]
        assert (certificate["verified"], certificate["names"]) == (True, [TLS_NAME])
        assert certificate["matched"] == (match if ok else None)
        assert certificate["match"] == ([match] if match else [secured.address, f".{secured.address}"])
    else:
        assert node["certificate"] is None


def test_smtp_check_reports_a_certificate_from_another_ca_and_a_main_without_ca(modules, smtp_check, site, tmp_path):
    secured = site["secured"]
    key = f"[{secured.address}]:{secured.port}"
    modules.ciphermail_mta.tls_policy_set({key: f"secure match={TLS_NAME}"})
    (node,) = smtp_check(host=key)["nodes"]
    assert node["ok"] is False and node["tls_version"] == "TLSv1.3"
    assert node["certificate"]["verified"] is False
    assert "has no smtp_tls_CAfile or smtp_tls_CApath" in node["error"]

    modules.ciphermail_mta.main_cf_set("smtp_tls_CAfile", str(TestCA(tmp_path / "other-ca").cafile))
    (node,) = smtp_check(host=key)["nodes"]
    assert (node["ok"], node["certificate"]["verified"], node["tls_version"]) == (False, False, "TLSv1.3")
    assert node["error"].endswith("does not verify against the main gateway's CA: unable to get local issuer certificate")


def test_smtp_check_says_when_a_node_offers_no_starttls_at_a_level_that_needs_it(modules, smtp_check, portal):
    key = f"[{portal.address}]:{portal.port}"
    modules.ciphermail_mta.main_cf_set("smtp_tls_security_level", "encrypt")
    (node,) = smtp_check(host=key)["nodes"]
    assert (node["tls_policy"], node["tls_level"], node["starttls"], node["ok"]) == (None, "encrypt", False, False)
    assert node["error"] == f"{portal.address}:{portal.port} offers no STARTTLS; at TLS level encrypt Postfix defers the mail"
