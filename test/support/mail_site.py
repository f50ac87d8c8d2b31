"""
A main and a portal gateway whose Postfix really runs (see
``postfix_instance``), each with a masterless minion and its own simulated
CipherMail: the site of the mail-flow tests. The portal delivers mail for
the private domain into a mailbox, and relays for 127.0.0.1 only until the
formula adds the main gateway.
"""

import concurrent.futures
import contextlib

from support.masterless import MasterlessMinion
from support.postfix_instance import PostfixInstance, instance_root, loopback_address, rcpt_reply, running
from support.values import DOMAIN

RECIPIENT = f"someone@{DOMAIN}"
WEBMAIL_HEADER = "X-Keep-CipherMail-To-Webmail"
RELAY_DENIED = "5.7.1 <someone@relay-to-webmail.private>: Relay access denied"


@contextlib.contextmanager
def mail_site(tmp_path, pillars, lookups=None, prepare=None):
    """
    Running ``{"portal": ..., "main": ...}`` instances and their minions.
    ``pillars(instances)``: the role pillars, given the instances (their
    addresses and ports); ``lookups``: more ``lookup`` per role;
    ``prepare(instances)``: configures them further before they start.
    """
    with instance_root() as root:
        portal = PostfixInstance(root, "portal", loopback_address(3), mynetworks="127.0.0.1")
        portal.deliver_to_mailbox(DOMAIN)
        main = PostfixInstance(root, "main", loopback_address(2), mynetworks="127.0.0.0/8")
        instances = {"portal": portal, "main": main}
        given = pillars(instances)
        if prepare:
            prepare(instances)
        with running(portal, main):
            with concurrent.futures.ThreadPoolExecutor() as pool:
                jobs = {
                    role: pool.submit(_minion, tmp_path, role, given[role], instances[role], (lookups or {}).get(role))
                    for role in given
                }
            yield instances, {role: job.result() for role, job in jobs.items()}


def _minion(tmp_path, role, pillar, instance, lookup=None):
    lookup = {"postfix_config_dir": str(instance.config_dir), **(lookup or {})}
    return MasterlessMinion.synced(tmp_path / role, role, {**pillar, "lookup": lookup})


def send(main, sender, subject):
    """Submit a message for the private domain to the main instance by SMTP; return its queue ID there."""
    return main.submit(RECIPIENT, subject, sender=sender, headers=[f"{WEBMAIL_HEADER}: True"])


def reloads(instance):
    """How often the instance has been reloaded (its maillog)."""
    return instance.log().count("reload -- version")


def relay_reply(portal, source):
    """The portal's answer to RCPT for the private domain from a client at ``source``."""
    return rcpt_reply(portal.address, portal.port, RECIPIENT, source=source)


def delivered_to_portal(instances, queue_id):
    """Wait until the message ``queue_id`` went from the main instance to the portal's mailbox."""
    portal, main = instances["portal"], instances["main"]
    main.wait_for_log(
        rf"{queue_id}: to=<{RECIPIENT}>, relay={portal.address}\[{portal.address}\]:{portal.port},.* status=sent"
    )
    portal.wait_for_log(rf"to=<{RECIPIENT}>, relay=mailbox,.* status=sent")


def fails_over_over_tls(main, a, b):
    """
    Mail to the private domain goes to portal ``a`` over trusted TLS; with
    ``a`` stopped, the next message is tried on ``a`` (refused), then sent
    through ``b`` over trusted TLS. Each portal holds its one message.
    """
    first = main.wait_for_delivery(main.submit(f"first@{DOMAIN}", "to a"))
    assert (first.status, first.relay) == ("sent", a.peer_name), first
    assert [(trust, peer) for trust, peer, _ in first.tls()] == [("Trusted", a.peer_name)]
    assert [m["Subject"] for m in a.wait_for_messages(1)] == ["to a"]
    a.stop()
    second = main.wait_for_delivery(main.submit(f"second@{DOMAIN}", "to b"))
    assert second.failed_connects() == [(a.peer_name, "Connection refused")], second
    assert (second.status, second.relay) == ("sent", b.peer_name), second
    assert [(trust, peer) for trust, peer, _ in second.tls()] == [("Trusted", b.peer_name)]
    assert [m["Subject"] for m in b.wait_for_messages(1)] == ["to b"]
