"""
ciphermail_mta.starttls_offered (portal gateway), a read-only check, against
the real postconf of the sandbox's Postfix configuration and certificates
from a test CA: it passes when smtpd offers STARTTLS with a certificate it
can load on the port the main gateway sends to, and otherwise fails, under
test=True too, saying why; it never changes a file.
"""

import functools
import subprocess

import pytest
from support.contract import converge_state
from support.tls_ca import TestCA


@pytest.fixture
def ca(tmp_path):
    return TestCA(tmp_path / "ca")


def _postconf(gateway, *args):
    subprocess.run(["postconf", "-c", str(gateway.postfix_dir), *args], check=True, capture_output=True)
    gateway.age_config()


def _offered(states, port=25):
    return functools.partial(states.ciphermail_mta.starttls_offered, name="portal offers STARTTLS", port=port)


def _fails(states, gateway, port=25):
    """The check fails, under test=True and live, changing nothing; returns its comment."""
    files = gateway.files()
    comments = set()
    for test in (True, False):
        ret = _offered(states, port)(test=test)
        assert (ret.result, ret.changes) == (False, {}), ret.comment
        comments.add(ret.comment)
    assert gateway.files() == files
    (comment,) = comments
    return comment


def test_a_certificate_that_loads_passes(states, gateway, ca):
    cert, key = ca.issue("portal", ["portal.dmz.example"])
    _postconf(gateway, "-e", "smtpd_tls_security_level=may", f"smtpd_tls_cert_file={cert}", f"smtpd_tls_key_file={key}")
    assert converge_state(gateway, _offered(states)) == {}
    assert _offered(states)().comment == f"STARTTLS on smtp/inet is already offered with {cert}, {key}"


def test_the_legacy_smtpd_use_tls_and_a_chain_file_pass(states, gateway, ca, tmp_path):
    cert, key = ca.issue("portal", ["portal.dmz.example"])
    chain = tmp_path / "chain.pem"
    chain.write_bytes(key.read_bytes() + cert.read_bytes())
    _postconf(gateway, "-e", "smtpd_use_tls=yes", f"smtpd_tls_chain_files={chain}")
    ret = _offered(states)()
    assert (ret.result, ret.changes) == (True, {}), ret.comment
    assert ret.comment.endswith(f"offered with {chain}")


def test_no_tls_fails_naming_the_level(states, gateway):
    comment = _fails(states, gateway)
    assert comment.startswith("Postfix does not offer STARTTLS with a certificate on port 25 (smtp/inet: ")
    assert "smtpd_tls_security_level is none: STARTTLS is not offered" in comment
    assert "The formula does not manage certificates" in comment


def test_a_master_cf_override_wins_over_main_cf(states, gateway, ca):
    cert, key = ca.issue("portal", ["portal.dmz.example"])
    _postconf(gateway, "-e", "smtpd_tls_security_level=may", f"smtpd_tls_cert_file={cert}", f"smtpd_tls_key_file={key}")
    _postconf(gateway, "-P", "smtp/inet/smtpd_tls_security_level=none")
    assert "smtp/inet: smtpd_tls_security_level is none" in _fails(states, gateway)


@pytest.mark.parametrize("fault", ["no certificate", "missing file", "key of another certificate"])
def test_a_certificate_that_does_not_load_fails(states, gateway, ca, fault):
    cert, key = ca.issue("portal", ["portal.dmz.example"])
    _, other_key = ca.issue("other", ["other.dmz.example"])
    settings = {
        "no certificate": [],
        "missing file": [f"smtpd_tls_cert_file={cert}.gone", f"smtpd_tls_key_file={key}"],
        "key of another certificate": [f"smtpd_tls_cert_file={cert}", f"smtpd_tls_key_file={other_key}"],
    }[fault]
    _postconf(gateway, "-e", "smtpd_tls_security_level=encrypt", *settings)
    comment = _fails(states, gateway)
    expected = {
        "no certificate": "neither smtpd_tls_cert_file nor smtpd_tls_chain_files is set",
        "missing file": f"{cert}.gone does not exist",
        "key of another certificate": f"{cert} with key {other_key} does not load",
    }[fault]
    assert expected in comment, comment
    assert str(other_key.read_text()) not in comment


def test_a_port_no_smtpd_listens_on_fails(states, gateway):
    comment = _fails(states, gateway, port=2525)
    assert comment.startswith("No smtpd service of master.cf listens on port 2525")


def test_the_execution_function_reports_each_service(modules, gateway, ca):
    cert, key = ca.issue("portal", ["portal.dmz.example"])
    _postconf(gateway, "-e", "smtpd_tls_security_level=may", f"smtpd_tls_cert_file={cert}", f"smtpd_tls_key_file={key}")
    _postconf(gateway, "-M", "127.0.0.1:smtp/inet=127.0.0.1:smtp inet n - n - - smtpd -o smtpd_tls_security_level=none")
    _postconf(gateway, "-M", "2525/inet=2525 inet n - n - - smtpd")
    report = modules.ciphermail_mta.smtpd_tls()
    assert report == [
        {"service": "smtp/inet", "level": "may", "files": [str(cert), str(key)], "offered": True, "problem": None},
        {
            "service": "127.0.0.1:smtp/inet",
            "level": "none",
            "files": [str(cert), str(key)],
            "offered": False,
            "problem": "smtpd_tls_security_level is none: STARTTLS is not offered",
        },
    ]
    assert [service["service"] for service in modules.ciphermail_mta.smtpd_tls(port=2525)] == ["2525/inet"]
