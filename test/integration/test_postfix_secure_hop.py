"""
What Postfix itself does with a list of portal nodes and a TLS policy per
node, shown with running instances and hand-written configuration (no
formula): the ground the main role's nexthop list and ``portal_tls`` stand
on.

A main instance routes the private domain to two portal nodes with one
transport entry, ``smtp:[a]:pa, [b]:pb``, and a second domain to one more
portal; ``smtp_tls_policy_maps`` has one entry per nexthop, keyed as the
nexthop is written. A test CA signs the portals' certificates, and the main
trusts only that CA.
"""

import pytest
from support.mail_site import fails_over_over_tls
from support.modules import put_utils_on_path
from support.postfix_instance import PostfixInstance, instance_root, loopback_address, nexthop_list, running, wait_for
from support.tls_ca import TestCA
from support.values import DOMAIN

put_utils_on_path()
from ciphermail_smtp_probe import probe  # noqa: E402  (the product's probe, as smtp_check uses it)

pytestmark = [pytest.mark.integration, pytest.mark.default_salt_only]

SECURE_DOMAIN = "secure-hop.private"
NAMES = {"a": "portal-a.mailflow.test", "b": "portal-b.mailflow.test", "s": "portal-s.mailflow.test"}


@pytest.fixture
def site():
    """A test CA; portals ``a`` and ``b`` offering STARTTLS, portal ``s`` offering none; a main that trusts the CA."""
    with instance_root() as root:
        ca = TestCA(root / "ca")
        portals = {}
        for host, label in enumerate(NAMES, start=3):
            portal = PostfixInstance(root, f"portal-{label}", loopback_address(host), mynetworks="127.0.0.0/8")
            portal.deliver_to_mailbox(SECURE_DOMAIN if label == "s" else DOMAIN)
            portals[label] = portal
        for label in ("a", "b"):
            portals[label].offer_starttls(*ca.issue(label, [NAMES[label]]))
        main = PostfixInstance(root, "main", loopback_address(2), mynetworks="127.0.0.0/8")
        main.trust_ca(ca.cafile)
        with running(main, *portals.values()):
            yield ca, main, portals


def test_a_nexthop_list_fails_over_and_each_node_gets_its_tls_policy(site):
    ca, main, portals = site
    a, b, s = portals["a"], portals["b"], portals["s"]
    transport = main.use_table(
        "transport_maps",
        "transport",
        {DOMAIN: f"smtp:{nexthop_list(a, b)}", SECURE_DOMAIN: f"smtp:{s.nexthop}"},
    )
    policy = {a.nexthop: "encrypt", b.nexthop: "encrypt", s.nexthop: "encrypt"}
    main.use_table("smtp_tls_policy_maps", "tls_policy", policy)
    assert main.postconf("-h", "transport_maps") == f"hash:{transport}"
    assert main.postconf("-h", "smtp_tls_security_level") == ""  # no TLS but by the table

    # What the portals offer, seen by a client that trusts the test CA.
    offered = probe(a.address, a.port, 10, "probe.invalid", tls=True, cafile=ca.cafile, names=[NAMES["b"], NAMES["a"]])
    assert offered["starttls"] and offered["tls_version"] == "TLSv1.3", offered
    certificate = offered["certificate"]
    assert certificate == {"verified": True, "error": None, "names": [NAMES["a"]], "matched": NAMES["a"]}
    untrusted = probe(a.address, a.port, 10, "probe.invalid", tls=True, cafile=TestCA(ca.directory / "other").cafile)
    assert (untrusted["certificate"]["verified"], untrusted["tls_version"]) == (False, "TLSv1.3"), untrusted
    assert untrusted["certificate"]["error"] == "unable to get local issuer certificate"
    assert probe(s.address, s.port, 10, "probe.invalid", tls=True)["starttls"] is False

    # Failover: the first message goes to portal a, encrypted; with a stopped, the next goes to b.
    fails_over_over_tls(main, a, b)
    assert len(a.messages()) == 1

    # encrypt, and the portal offers no STARTTLS: deferred; the portal saw EHLO and QUIT, no mail.
    queue_id = main.submit(f"someone@{SECURE_DOMAIN}", "secure hop")
    plain = main.wait_for_delivery(queue_id)
    assert (plain.status, plain.dsn) == ("deferred", "4.7.4"), plain
    assert plain.reason == f"TLS is required, but was not offered by host {s.address}[{s.address}]"
    assert wait_for("the session on s", lambda: s.sessions_from(main.address)) == [{"ehlo": 1, "quit": 1}]
    assert [entry["queue_id"] for entry in main.queue()] == [queue_id]

    # secure, and the portal's certificate is for another name: still deferred.
    s.offer_starttls(*ca.issue("elsewhere", ["elsewhere.mailflow.test"]))
    main.use_table("smtp_tls_policy_maps", "tls_policy", {**policy, s.nexthop: f"secure match={NAMES['s']}"})
    main.flush()
    wrong = main.wait_for_delivery(queue_id, attempt=2)
    assert (wrong.status, wrong.dsn, wrong.reason) == ("deferred", "4.7.5", "Server certificate not verified"), wrong
    assert f"server certificate verification failed for {s.peer_name}: num=62:hostname mismatch" in wrong.events
    assert [trust for trust, _, _ in wrong.tls()] == ["Untrusted"]
    assert s.messages() == []

    # secure, and a certificate for the name in match=: verified, and delivered.
    s.offer_starttls(*ca.issue("s", [NAMES["s"]]))
    main.flush()
    right = main.wait_for_delivery(queue_id, attempt=3)
    assert (right.status, right.relay) == ("sent", s.peer_name), right
    assert [(trust, peer) for trust, peer, _ in right.tls()] == [("Verified", s.peer_name)]
    assert [m["Subject"] for m in s.wait_for_messages(1)] == ["secure hop"]
    assert main.queue() == []
