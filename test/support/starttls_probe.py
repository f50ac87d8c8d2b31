"""
What an SMTP server offers for TLS, seen from a client: whether STARTTLS is
in its EHLO reply, which TLS version a handshake gets, and whether its
certificate verifies against a given CA file, for which names. Standard
library only (``smtplib``, ``ssl``); no mail is sent, each session ends with
QUIT.

Names are matched as Postfix 3.7 matches ``match=`` of
``smtp_tls_policy_maps`` (each rule below tried against it): a name matches
a DNS name of the certificate exactly, case aside, or through a ``*.``
wildcard for one leftmost label; a name that starts with a dot matches any
DNS name below it (a wildcard one too) but not the domain itself; an IP
address matches an IP address entry. The CN counts when the certificate
has no DNS name in subjectAltName (OpenSSL's rule, which Postfix uses).
"""

import ipaddress
import smtplib
import ssl


def starttls_probe(host, port, cafile=None, names=(), timeout=10, source=None, ehlo_name="probe.invalid"):
    """
    Probe ``host:port``. Returns a dict:

    ``connected``, ``error`` (why not, or None), ``starttls`` (offered in
    EHLO), ``tls_version`` and ``cipher`` (of a handshake that worked, else
    None); with ``cafile``: ``chain_verified`` (the chain ends at a CA of
    ``cafile``), ``verify_error`` (OpenSSL's reason when not),
    ``cert_names`` (the DNS names and IP addresses the certificate is for,
    known only when the chain verified) and ``matched`` (the first of
    ``names`` the certificate is for, or None). Without ``cafile`` those are
    None.
    """
    result = {
        "connected": False,
        "error": None,
        "starttls": False,
        "tls_version": None,
        "cipher": None,
        "chain_verified": None,
        "verify_error": None,
        "cert_names": None,
        "matched": None,
    }
    session = _Session(host, port, timeout, source, ehlo_name)
    try:
        with session.open() as client:
            result["connected"] = True
            result["starttls"] = client.has_extn("starttls")
            if result["starttls"]:
                context = _verifying_context(cafile) if cafile else _encrypting_context()
                _handshake(client, result, context, names)
        if result["chain_verified"] is False:
            # No TLS version yet: a second session, encrypting only, tells it.
            with session.open() as client:
                _handshake(client, result, _encrypting_context(), names)
    except (OSError, smtplib.SMTPException) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    return result


def _handshake(client, result, context, names):
    """STARTTLS in ``client``'s session; record what it got in ``result``."""
    try:
        client.starttls(context=context)
    except ssl.SSLCertVerificationError as exc:
        result["chain_verified"], result["verify_error"] = False, exc.verify_message
        client.close()  # the session is broken: no QUIT
        return
    result["tls_version"] = client.sock.version()
    result["cipher"] = client.sock.cipher()[0]
    if context.verify_mode == ssl.CERT_REQUIRED:
        result["chain_verified"] = True
        result["cert_names"] = certificate_names(client.sock.getpeercert())
        result["matched"] = first_match(result["cert_names"], names)


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


def _verifying_context(cafile):
    """The chain must end at a CA of ``cafile`` (and nothing else); names are checked apart, by :func:`first_match`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=cafile)
    return context


def _encrypting_context():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class _Session:
    """Opens an SMTP session to the probed server and sends EHLO."""

    def __init__(self, host, port, timeout, source, ehlo_name):
        self.host, self.port, self.timeout = host, port, timeout
        self.source = (source, 0) if source else None
        self.ehlo_name = ehlo_name

    def open(self):
        client = smtplib.SMTP(
            self.host, self.port, local_hostname=self.ehlo_name, timeout=self.timeout, source_address=self.source
        )
        try:
            client.ehlo()
        except BaseException:
            client.close()
            raise
        return client
