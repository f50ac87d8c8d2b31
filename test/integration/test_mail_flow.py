"""
Mail that really flows: two running Postfix instances on loopback
addresses, a main and a portal gateway, each configured by the formula
(``salt-call --local state.apply``) with its own simulated CipherMail.

Before split mode the portal refuses to relay for the main gateway. After
the portal role and the main role, a message for the private domain goes
from the main instance over SMTP to the portal, which delivers it into a
mailbox (the stand-in for CipherMail's processing behind Postfix). The
portal still refuses everyone else, and after ``ciphermail_split.clean``
the main gateway as well. The portal keeps running throughout: the
formula's ``postfix reload`` is what makes each change take effect.
"""

import concurrent.futures
import json

import pytest
from support.contract import applied
from support.mail_site import RECIPIENT, RELAY_DENIED, WEBMAIL_HEADER, mail_site, relay_reply, reloads, send
from support.postfix_instance import free_port, loopback_address, wait_for
from support.values import MAIN_PILLAR, PORTAL_PILLAR

pytestmark = pytest.mark.integration


def split_mode_pillars(instances):
    portal, main = instances["portal"], instances["main"]
    return {
        "portal": {**PORTAL_PILLAR, "main_gateway_addresses": [main.address]},
        "main": {**MAIN_PILLAR, "portal_server": portal.address, "portal_port": portal.port},
    }


@pytest.fixture
def site(tmp_path):
    """A running main and portal Postfix instance, and a masterless minion for each gateway."""
    with mail_site(tmp_path, split_mode_pillars) as found:
        yield found


def smtp_check(minion, args=()):
    proc = minion.salt_call("ciphermail_mta.smtp_check", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["local"]


def test_mail_flows_from_main_to_portal_in_split_mode_only(site):
    instances, minions = site
    portal, main = instances["portal"], instances["main"]
    portal_master = portal.master_pid()
    outsider = loopback_address(4)

    # Before split mode, the portal does not relay for the main gateway.
    assert relay_reply(portal, main.address) == (554, RELAY_DENIED)

    # The portal role: the main gateway's address in mynetworks, put in force by a reload.
    run = applied(minions["portal"])
    assert main.address in portal.mynetworks() and "127.0.0.1" in portal.mynetworks()
    assert "Postfix has been reloaded" in run.states["ciphermail_split-portal-mynetworks-present"]["comment"]
    wait_for("the portal reloaded", lambda: reloads(portal) > 0)
    assert portal.master_pid() == portal_master  # reloaded, not restarted
    assert relay_reply(portal, main.address)[0] == 250

    # The main role: the transport entry to the portal (the running main reloads too).
    applied(minions["main"])

    # smtp_check on the main gateway follows the transport entry to the portal; a closed port fails.
    closed = f"[{loopback_address(5)}]:{free_port(loopback_address(5))}"
    with concurrent.futures.ThreadPoolExecutor() as pool:
        check, absent = pool.map(smtp_check, [minions["main"]] * 2, [[], [f"host={closed}", "timeout=5"]])
    assert check["ok"] is True, check
    nexthop = f"smtp:[{portal.address}]:{portal.port}"
    (node,) = check["nodes"]
    assert (node["host"], node["port"], check["nexthop"]) == (portal.address, portal.port, nexthop)
    assert node["banner"].startswith("220 portal.mailflow.test ESMTP")
    assert node["ehlo_code"] == 250 and "PIPELINING" in node["ehlo_extensions"]
    (closed,) = absent["nodes"]
    assert (absent["ok"], closed["connected"], closed["host"]) == (False, False, loopback_address(5)), absent
    assert "Connection refused" in absent["error"]

    # Mail for the private domain goes from main to portal, headers intact.
    queue_id = send(main, "sender@main.mailflow.test", "split mode works")
    main.wait_for_log(
        rf"{queue_id}: to=<{RECIPIENT}>, relay={portal.address}\[{portal.address}\]:{portal.port},.* status=sent"
    )
    portal.wait_for_log(rf"to=<{RECIPIENT}>, relay=mailbox,.* status=sent")
    assert f"client=unknown[{main.address}]" in portal.log()
    (message,) = portal.messages()
    assert message["Subject"] == "split mode works"
    assert message[WEBMAIL_HEADER] == "True"
    assert message["To"] == f"<{RECIPIENT}>"
    assert message["Return-Path"] == "<sender@main.mailflow.test>"

    # Any other client is refused: the portal is no open relay.
    assert relay_reply(portal, outsider) == (554, RELAY_DENIED)

    # Clean on the portal takes the main gateway's relay right back, again by a reload.
    reloaded = reloads(portal)
    applied(minions["portal"], "ciphermail_split.clean")
    assert portal.mynetworks() == ["127.0.0.1"]
    wait_for("the portal reloaded after clean", lambda: reloads(portal) > reloaded)
    assert portal.master_pid() == portal_master
    queue_id = send(main, "", "after clean")
    main.wait_for_log(rf"{queue_id}: to=<{RECIPIENT}>, relay={portal.address}.* status=bounced .*Relay access denied")
    assert len(portal.messages()) == 1
