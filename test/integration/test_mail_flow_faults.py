"""
Faults that only running Postfix shows (see ``test_mail_flow.py`` for the
site): what the formula reports must be what Postfix does with the mail.

- an address written as IPv4-mapped IPv6 (``::ffff:192.0.2.10``), for the
  main gateway or the portal: Postfix sees the client as plain IPv4, so the
  formula writes the IPv4 form;
"""

import pytest
from support.mail_site import RELAY_DENIED, delivered_to_portal, mail_site, relay_reply, send
from support.values import MAIN_PILLAR, PORTAL_PILLAR

pytestmark = pytest.mark.integration

MYNETWORKS_STATE = "ciphermail_split-portal-mynetworks-present"
TRANSPORT_STATE = "ciphermail_split-main-transport-present"


def applied(minion, sls="ciphermail_split"):
    run = minion.apply(sls)
    assert run.returncode == 0, run
    assert all(result is True for result in run.results.values()), run
    return run


def test_ipv4_mapped_addresses_are_written_as_ipv4_and_the_main_gateway_relays(tmp_path):
    def pillars(instances):
        portal, main = instances["portal"], instances["main"]
        return {
            "portal": {**PORTAL_PILLAR, "main_gateway_addresses": [f"::ffff:{main.address}"]},
            "main": {**MAIN_PILLAR, "portal_server": f"::FFFF:{portal.address}", "portal_port": portal.port},
        }

    with mail_site(tmp_path, pillars) as (instances, minions):
        portal, main = instances["portal"], instances["main"]
        assert relay_reply(portal, main.address) == (554, RELAY_DENIED)

        run = applied(minions["portal"])
        assert relay_reply(portal, main.address)[0] == 250
        assert run.changes[MYNETWORKS_STATE]["mynetworks"] == {"old": ["127.0.0.1"], "new": ["127.0.0.1", main.address]}
        assert portal.mynetworks() == ["127.0.0.1", main.address]

        run = applied(minions["main"])
        nexthop = f"smtp:[{portal.address}]:{portal.port}"
        assert run.changes[TRANSPORT_STATE]["nexthop"] == {"old": None, "new": nexthop}
        delivered_to_portal(instances, send(main, "sender@main.mailflow.test", "mapped addresses"))
        assert len(portal.messages()) == 1
