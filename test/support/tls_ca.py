"""
A throwaway certificate authority for TLS between test Postfix instances,
made with the ``cryptography`` package: one CA certificate, and server
certificates it signs for whatever names a test asks for (a right name and a
wrong name). Keys are ECDSA P-256: made in microseconds, and Postfix 3.x and
OpenSSL 3 take them as server keys.

Files go into one directory that Postfix's unprivileged processes can
search: certificates and the CA file are world-readable (they are public);
private keys are readable by root only, which is enough because smtpd(8)
reads its key before it drops privileges.
"""

import datetime
import ipaddress
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Certificates are valid from an hour ago (clock skew) for a day.
VALIDITY = datetime.timedelta(days=1)


class TestCA:
    """A CA under ``directory``: :attr:`cafile` is its certificate in PEM; :meth:`issue` makes server certificates."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory, common_name="Mail-flow test CA"):
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o711)
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(common_name)
        self._certificate = (
            _builder(subject, subject, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.cafile = self.directory / "ca.pem"
        _write(self.cafile, self._certificate.public_bytes(serialization.Encoding.PEM), 0o644)

    def issue(self, label, dns_names=(), ip_addresses=()):
        """
        A server certificate signed by this CA, with ``dns_names`` and
        ``ip_addresses`` as subjectAltName entries; its CN is the first DNS
        name, or ``label`` (then alone, without subjectAltName, when there
        are no names). Returns ``(cert_file, key_file)``, named after ``label``.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        alt_names = [x509.DNSName(name) for name in dns_names]
        alt_names += [x509.IPAddress(ipaddress.ip_address(address)) for address in ip_addresses]
        common_name = dns_names[0] if dns_names else label
        builder = _builder(_name(common_name), self._certificate.subject, key.public_key())
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        certificate = (
            builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        cert_file = self.directory / f"{label}.crt"
        key_file = self.directory / f"{label}.key"
        _write(cert_file, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write(key_file, key_pem, 0o600)
        return cert_file, key_file


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject, issuer, public_key):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + VALIDITY)
    )


def _write(path, data, mode):
    path.write_bytes(data)
    path.chmod(mode)
