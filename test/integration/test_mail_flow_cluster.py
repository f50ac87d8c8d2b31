"""
A portal cluster and a secure hop, with real mail: a main Postfix instance
configured by the formula (``salt-call --local``; pillar ``portal_server``
a list of two portal nodes, ``portal_tls``) and two running portal
instances on loopback addresses, which trust the main gateway and offer
STARTTLS with certificates of a test CA that the main trusts.

It shows, from the main's log and the portals' mailboxes, that:

* the formula's transport entry ``smtp:[a]:p, [b]:p`` fails over: with
  portal a stopped, the next message goes to b, after the attempt on a;
* the formula's TLS policy entries are in force for each node: at
  ``encrypt`` the mail goes over TLS; a node that offers no STARTTLS gets
  no mail ("TLS is required, but was not offered"), not even in the clear;
  at ``secure`` a certificate for another name defers the mail, and the
  right name delivers it over a verified connection;
* clean gives back the admin's TLS policy table and main.cf byte for byte.
"""

import pytest
from support.contract import applied
from support.mail_site import fails_over_over_tls
from support.masterless import MasterlessMinion
from support.postfix_instance import PostfixInstance, free_port, instance_root, loopback_address, running, wait_for
from support.tls_ca import TestCA
from support.values import DOMAIN, MAIN_PILLAR

pytestmark = [pytest.mark.integration, pytest.mark.default_salt_only]

NAMES = {"a": "portal-a.mailflow.test", "b": "portal-b.mailflow.test"}
#: An entry the admin had in the main's TLS policy table before the formula.
ADMINS_POLICY = {"partner.example": "secure match=mx.partner.example"}


@pytest.fixture
def site(tmp_path):
    """A test CA, portal nodes a and b on one port, a main instance that trusts the CA, and its minion."""
    with instance_root() as root:
        ca = TestCA(root / "ca")
        addresses = {label: loopback_address(host) for label, host in (("a", 3), ("b", 4))}
        port = free_port(*addresses.values())
        portals = {}
        for label, address in addresses.items():
            portal = PostfixInstance(root, f"portal-{label}", address, mynetworks="127.0.0.0/8", port=port)
            portal.deliver_to_mailbox(DOMAIN)
            portal.offer_starttls(*ca.issue(label, [NAMES[label]]))
            portals[label] = portal
        main = PostfixInstance(root, "main", loopback_address(2), mynetworks="127.0.0.0/8")
        main.trust_ca(ca.cafile)
        policy_table = main.use_table("smtp_tls_policy_maps", "tls_policy", ADMINS_POLICY)
        pillar = {
            **MAIN_PILLAR,
            "portal_server": [portals["a"].address, portals["b"].address],
            "portal_port": port,
            "portal_tls": {"level": "encrypt"},
            "lookup": {"postfix_config_dir": str(main.config_dir)},
        }
        minion = MasterlessMinion.synced(tmp_path / "main", "main", pillar)
        with running(main, *portals.values()):
            yield {
                "ca": ca,
                "main": main,
                "portals": portals,
                "minion": minion,
                "pillar": pillar,
                "policy_table": policy_table,
            }


def test_failover_and_tls_with_the_formulas_entries_and_clean_gives_everything_back(site):
    ca, main, minion = site["ca"], site["main"], site["minion"]
    a, b = site["portals"]["a"], site["portals"]["b"]
    policy_table = site["policy_table"]
    main_cf, policy_source = (main.config_dir / "main.cf").read_bytes(), policy_table.read_bytes()

    # The main role: a TLS policy per node in the admin's table, then the transport entry to both nodes.
    run = applied(minion)
    assert run.changes["ciphermail_split-main-tls-policy-present"] == {
        a.nexthop: {"old": None, "new": "encrypt"},
        b.nexthop: {"old": None, "new": "encrypt"},
    }
    nexthop = f"smtp:{a.nexthop}, {b.nexthop}"
    assert run.changes["ciphermail_split-main-transport-present"]["nexthop"] == {"old": None, "new": nexthop}
    assert main.postconf("-h", "smtp_tls_policy_maps") == f"hash:{policy_table}"
    assert policy_table.read_text().endswith(f"{a.nexthop} encrypt\n{b.nexthop} encrypt\n")

    # Mail goes to portal a, over TLS; failover: with a stopped, the next goes through b, over TLS.
    fails_over_over_tls(main, a, b)

    # Portal b offers no STARTTLS: deferred, and nothing but EHLO and QUIT reaches it.
    b.offer_starttls()
    sessions = len(b.sessions_from(main.address))
    queue_id = main.submit(f"third@{DOMAIN}", "secure hop")
    plain = main.wait_for_delivery(queue_id)
    assert (plain.status, plain.dsn) == ("deferred", "4.7.4"), plain
    assert plain.reason == f"TLS is required, but was not offered by host {b.address}[{b.address}]"
    new_sessions = wait_for("b's session", lambda: b.sessions_from(main.address)[sessions:])
    assert new_sessions == [{"ehlo": 1, "quit": 1}]
    assert [entry["queue_id"] for entry in main.queue()] == [queue_id]
    assert len(b.messages()) == 1

    # secure, and b's certificate is for another name: still deferred.
    b.offer_starttls(*ca.issue("elsewhere", ["elsewhere.mailflow.test"]))
    minion.set_pillar({**site["pillar"], "portal_tls": {"level": "secure", "match": NAMES["b"]}})
    run = applied(minion)
    secure = f"secure match={NAMES['b']}"
    assert run.changes["ciphermail_split-main-tls-policy-present"] == {
        a.nexthop: {"old": "encrypt", "new": secure},
        b.nexthop: {"old": "encrypt", "new": secure},
    }
    main.flush()
    wrong = main.wait_for_delivery(queue_id, attempt=2)
    assert (wrong.status, wrong.dsn, wrong.reason) == ("deferred", "4.7.5", "Server certificate not verified"), wrong
    assert [trust for trust, peer, _ in wrong.tls() if peer == b.peer_name] == ["Untrusted"]
    assert len(b.messages()) == 1

    # The right name: verified, and delivered.
    b.offer_starttls(*ca.issue("b-again", [NAMES["b"]]))
    main.flush()
    right = main.wait_for_delivery(queue_id, attempt=3)
    assert (right.status, right.relay) == ("sent", b.peer_name), right
    assert [(trust, peer) for trust, peer, _ in right.tls()] == [("Verified", b.peer_name)]
    assert "Verified TLS connection established to " + b.peer_name in main.log()
    assert sorted(m["Subject"] for m in b.wait_for_messages(2)) == ["secure hop", "to b"]  # by queue ID, not by time

    # Clean: the admin's TLS policy table and main.cf come back byte for byte.
    applied(minion, "ciphermail_split.clean")
    assert policy_table.read_bytes() == policy_source
    assert (main.config_dir / "main.cf").read_bytes() == main_cf
    assert main.postconf("-h", "transport_maps") == ""

