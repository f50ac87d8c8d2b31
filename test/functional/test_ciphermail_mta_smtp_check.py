"""
ciphermail_mta.smtp_check against a real, running Postfix (the portal's
SMTP service), a closed port, a server that never speaks and servers that
refuse service. The check follows the sandbox's real transport table
unless given a host.
"""

import socket
import threading

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError
from support.masterless import link_formula
from support.postfix_instance import PostfixInstance, free_port, instance_root, loopback_address, running
from support.values import DOMAIN


@pytest.fixture(scope="module")
def portal():
    """A running Postfix: the portal gateway's SMTP service."""
    with instance_root() as root:
        instance = PostfixInstance(root, "portal", loopback_address(13), mynetworks="127.0.0.1")
        with running(instance):
            yield instance


@pytest.fixture
def smtp_check(modules, state_tree):
    link_formula(state_tree)  # the private domain comes from the formula's defaults.yaml
    return modules.ciphermail_mta.smtp_check


def test_smtp_check_follows_the_transport_entry_to_the_portal(modules, smtp_check, portal):
    nexthop = f"smtp:[{portal.address}]:{portal.port}"
    modules.ciphermail_mta.transport_set(DOMAIN, nexthop)
    check = smtp_check(helo="main.mailflow.test")
    assert check.pop("banner").startswith("220 portal.mailflow.test ESMTP")
    assert "PIPELINING" in check.pop("ehlo_extensions")
    assert check == {
        "host": portal.address,
        "port": portal.port,
        "nexthop": nexthop,
        "connected": True,
        "ehlo_code": 250,
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
        assert (check["ok"], check["host"], check["port"], check["nexthop"]) == (True, address, port, None), host


def test_smtp_check_reports_a_refused_connection(smtp_check):
    address = loopback_address(14)
    port = free_port(address)
    check = smtp_check(host=f"[{address}]:{port}", timeout=5)
    assert check["ok"] is False and check["connected"] is False and check["banner"] is None
    assert check["error"].startswith(f"cannot connect to {address}:{port}: ")
    assert "Connection refused" in check["error"]


def test_smtp_check_gives_up_on_a_server_that_never_answers(smtp_check):
    with socket.socket() as silent:  # the kernel accepts; nobody speaks
        silent.bind((loopback_address(15), 0))
        silent.listen()
        address, port = silent.getsockname()
        check = smtp_check(host=address, port=port, timeout=0.5)
    assert (check["ok"], check["connected"], check["banner"]) == (False, True, None)
    assert check["error"] == f"no SMTP banner from {address}:{port}: timed out"


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
    assert (check["ok"], check["connected"], check["banner"], check["ehlo_code"]) == (False, True, banner, ehlo_code)
    assert error in check["error"]


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
