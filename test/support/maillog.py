"""
What a Postfix maillog says happened, parsed: the delivery attempts of the
SMTP client (each ``status=`` line, with the lines its smtp(8) process
logged on the way: refused connections, TLS handshakes, certificate
failures), and the sessions of the SMTP server (which commands a client
sent). Pure text parsing; the lines are those of Postfix 3.7 with
``smtp_tls_loglevel = 1`` (at the default 0, no TLS line is logged).
"""

import dataclasses
import re

_LINE = re.compile(r"postfix/(?P<service>[\w-]+)\[(?P<pid>\d+)\]: (?P<text>.*)$")
_STATUS = re.compile(
    r"(?P<queue_id>\w+): to=<(?P<to>[^>]*)>, relay=(?P<relay>[^,]+), .*"
    r"dsn=(?P<dsn>[\d.]+), status=(?P<status>\w+) \((?P<reason>.*)\)$"
)
_REFUSED = re.compile(r"connect to (?P<peer>\S+): (?P<error>.*)$")
_TLS = re.compile(
    r"(?P<trust>Anonymous|Untrusted|Trusted|Verified) TLS connection established to (?P<peer>\S+): "
    r"(?P<version>\S+) with cipher (?P<cipher>\S+)"
)
_SESSION_END = re.compile(r"disconnect from (?P<client>\S+) (?P<counts>.*)$")


@dataclasses.dataclass
class Delivery:
    """One delivery attempt for one recipient: its ``status=`` line and what its smtp process logged before."""

    queue_id: str
    to: str
    relay: str
    dsn: str
    status: str
    reason: str
    events: list

    def failed_connects(self):
        """``(peer, error)`` of each connection that failed on the way, e.g. ``("a[a]:25", "Connection refused")``."""
        return [(m["peer"], m["error"]) for m in map(_REFUSED.match, self.events) if m]

    def tls(self):
        """``(trust, peer, version)`` of each TLS handshake on the way (trust: Untrusted, Trusted, Verified...)."""
        return [(m["trust"], m["peer"], m["version"]) for m in map(_TLS.match, self.events) if m]


def deliveries(log, service="smtp"):
    """Every delivery attempt of ``service`` in ``log`` (maillog text), in order."""
    found, pending = [], {}
    for match in map(_LINE.search, log.splitlines()):
        if not match or match["service"] != service:
            continue
        events = pending.setdefault(match["pid"], [])
        status = _STATUS.match(match["text"])
        if status:
            found.append(Delivery(events=list(events), **status.groupdict()))
            events.clear()
        else:
            events.append(match["text"])
    return found


def smtpd_sessions(log):
    """
    ``(client, {command: count})`` of each finished SMTP server session in
    ``log``, e.g. ``("unknown[127.0.0.1]", {"ehlo": 1, "quit": 1})``. A
    count is of the commands sent, accepted or not (Postfix logs
    ``rcpt=0/1`` for one RCPT that was refused).
    """
    sessions = []
    for match in map(_LINE.search, log.splitlines()):
        end = match and match["service"] == "smtpd" and _SESSION_END.match(match["text"])
        if end:
            counts = dict(item.split("=", 1) for item in end["counts"].split())
            counts.pop("commands", None)
            sent = {command: int(count.rpartition("/")[2]) for command, count in counts.items()}
            sessions.append((end["client"], sent))
    return sessions
