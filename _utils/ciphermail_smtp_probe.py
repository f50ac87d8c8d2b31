"""
A look at an SMTP service from outside, as the main gateway's Postfix would
make it: connect, read the banner, ``EHLO``, optionally ``STARTTLS`` (the
TLS version, and whether the certificate verifies against given CA
certificates for given names), ``QUIT``. No mail is sent. Every failure is
reported in words, not raised. Plain Python (``smtplib``, ``socket``,
``ssl``; no Salt loader), imported by ``_modules/ciphermail_mta.py`` for
``smtp_check``.

Names are matched as Postfix 3.7 matches ``match=`` of
``smtp_tls_policy_maps``: a name matches a DNS name of the certificate
exactly, case aside, or through a ``*.`` wildcard for one leftmost label; a
name that starts with a dot matches any DNS name below it (a wildcard one
too) but not the domain itself; an IP address matches an IP address entry.
The CN counts when the certificate has no DNS name in subjectAltName
(OpenSSL's rule, which Postfix uses).
"""

import ipaddress
import smtplib
import socket
import ssl


def _reply_text(message):
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)


def _failure(exc):
    """What went wrong, in words: smtplib reports a timeout or reset as "Connection unexpectedly closed: ..."."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_reply_text(exc.smtp_error)}"
    cause = exc.__context__ if isinstance(exc, smtplib.SMTPServerDisconnected) else None
    return str(cause if isinstance(cause, OSError) else exc) or type(exc).__name__


def probe(host, port, timeout, helo, tls=False, cafile=None, capath=None, names=()):
    """
    Connect, read the banner, EHLO; with ``tls``, STARTTLS when the server
    offers it; QUIT. Every failure goes into ``error``.

    Returns ``connected``, ``banner``, ``ehlo_code``, ``ehlo_extensions``,
    ``starttls`` (offered in EHLO), ``tls_version`` and ``cipher`` (of a
    handshake that worked, else None) and ``certificate``: None, or, when
    ``cafile`` or ``capath`` is given, ``verified`` (the chain ends at one of
    their CA certificates), ``error`` (OpenSSL's reason when not), ``names``
    (the DNS names and IP addresses of a verified certificate) and
    ``matched`` (the first of ``names`` the certificate is for, or None).
    """
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    report = {
        "connected": False,
        "banner": None,
        "ehlo_code": None,
        "ehlo_extensions": [],
        "starttls": False,
        "tls_version": None,
        "cipher": None,
        "certificate": None,
        "error": None,
    }
    context = _encrypting_context()
    if tls and (cafile or capath):
        try:
            context = _verifying_context(cafile, capath)
        except (OSError, ssl.SSLError) as exc:
            report["certificate"] = _unverified(f"cannot load the CA certificates: {exc}")
    _session(report, host, port, timeout, helo, where, context if tls else None, names)
    certificate = report["certificate"]
    if certificate and certificate["verified"] is False and report["tls_version"] is None and not report["error"]:
        # No TLS version yet: a second session, encrypting only, tells it.
        second = dict(report)
        _session(second, host, port, timeout, helo, where, _encrypting_context(), ())
        report.update(tls_version=second["tls_version"], cipher=second["cipher"])
    return report


def _session(report, host, port, timeout, helo, where, context, names):
    """One SMTP session; records in ``report`` what it saw. ``context``: STARTTLS with it (None: no STARTTLS)."""
    client = smtplib.SMTP(local_hostname=helo, timeout=timeout)
    step = f"cannot connect to {where}"
    try:
        # Connect apart from smtplib, so the report tells "no connection" from "no banner".
        client.sock = socket.create_connection((host, port), timeout)
        client._host = host  # what SMTP.connect would set: STARTTLS sends it as the TLS server name (SNI)
        report["connected"] = True
        step = f"no SMTP banner from {where}"
        code, message = client.getreply()
        report["banner"] = f"{code} {_reply_text(message)}"
        if code != 220:
            report["error"] = f"{where} does not offer SMTP service: {report['banner']}"
            return
        step = f"no answer to EHLO from {where}"
        code, message = client.ehlo()
        report["ehlo_code"] = code
        lines = _reply_text(message).splitlines()
        if code != 250:
            report["error"] = f"{where} refused EHLO {helo}: {code} {' '.join(lines)}"
            return
        report["ehlo_extensions"] = lines[1:]
        report["starttls"] = client.has_extn("starttls")
        if context is not None and report["starttls"]:
            step = f"STARTTLS with {where} failed"
            if not _starttls(client, report, context, names):
                return
        step = None
        client.quit()
    except (OSError, smtplib.SMTPException) as exc:
        if step is not None:  # a failing QUIT after a good EHLO does not matter
            report["error"] = f"{step}: {_failure(exc)}"
    finally:
        client.close()


def _starttls(client, report, context, names):
    """STARTTLS in ``client``'s session; records the handshake in ``report``. False: the session is over."""
    verifying = context.verify_mode == ssl.CERT_REQUIRED
    try:
        client.starttls(context=context)
    except ssl.SSLCertVerificationError as exc:
        report["certificate"] = _unverified(exc.verify_message)
        return False  # the session is broken: no QUIT
    report["tls_version"] = client.sock.version()
    report["cipher"] = client.sock.cipher()[0]
    if verifying:
        found = certificate_names(client.sock.getpeercert())
        report["certificate"] = {"verified": True, "error": None, "names": found, "matched": first_match(found, names)}
    return True


def _unverified(reason):
    return {"verified": False, "error": reason, "names": None, "matched": None}


def certificate_names(peer_certificate):
    """The DNS names and IP addresses of a verified peer's certificate (``SSLSocket.getpeercert()``)."""
    alt_names = peer_certificate.get("subjectAltName", ())
    dns = [value for kind, value in alt_names if kind == "DNS"]
    addresses = [value for kind, value in alt_names if kind == "IP Address"]
    if not dns:
        dns = [value for rdn in peer_certificate.get("subject", ()) for key, value in rdn if key == "commonName"]
    return dns + addresses


def first_match(cert_names, names):
    """The first of ``names`` that the certificate with ``cert_names`` is for (Postfix ``match=`` rules), or None."""
    for name in names:
        if any(_matches(cert_name, name) for cert_name in cert_names):
            return name
    return None


def _matches(cert_name, name):
    name_address, cert_address = _address(name), _address(cert_name)
    if name_address or cert_address:
        return name_address is not None and name_address == cert_address
    cert_name, name = cert_name.lower().rstrip("."), name.lower().rstrip(".")
    if name.startswith("."):
        return cert_name.endswith(name)
    if cert_name.startswith("*."):
        head, _, tail = name.partition(".")
        return bool(head) and tail == cert_name[2:]
    return cert_name == name


def _address(text):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _verifying_context(cafile, capath):
    """The chain must end at a CA of ``cafile``/``capath``; names are checked apart, by :func:`first_match`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=cafile or None, capath=capath or None)
    return context


def _encrypting_context():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
