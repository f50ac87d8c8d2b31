"""
Certificate names against Postfix ``match=`` values, as the STARTTLS probe
of ``smtp_check`` (_utils/ciphermail_smtp_probe.py) matches them. Each case is one Postfix 3.7
accepted or refused for ``secure match=<name>`` with such a certificate.
"""

import pytest
from ciphermail_smtp_probe import certificate_names, first_match


@pytest.mark.parametrize(
    ("cert_names", "name", "matches"),
    [
        (["portal-a.mailflow.test"], "portal-a.mailflow.test", True),
        (["portal-a.mailflow.test"], "portal-b.mailflow.test", False),
        (["portal-w.mailflow.test"], "PORTAL-W.mailflow.test", True),
        (["*.mailflow.test"], "portal-w.mailflow.test", True),
        (["*.mailflow.test"], "a.b.mailflow.test", False),
        (["*.mailflow.test"], ".mailflow.test", True),
        (["a.b.mailflow.test"], ".mailflow.test", True),
        (["mailflow.test"], ".mailflow.test", False),
        (["portal-a.mailflow.test"], "mailflow.test", False),
        (["portal-ip.mailflow.test", "127.0.100.3"], "127.0.100.3", True),
        (["portal-a.mailflow.test"], "127.0.100.3", False),
    ],
)
def test_a_name_matches_as_postfix_matches_it(cert_names, name, matches):
    assert first_match(cert_names, [name]) == (name if matches else None)


def test_the_first_matching_name_of_several_is_reported():
    assert first_match(["portal-b.mailflow.test"], ["portal-a.mailflow.test", ".mailflow.test"]) == ".mailflow.test"
    assert first_match(["portal-b.mailflow.test"], []) is None


def test_the_cn_counts_only_without_dns_names_in_subject_alt_name():
    subject = ((("commonName", "cn.mailflow.test"),),)
    assert certificate_names({"subject": subject}) == ["cn.mailflow.test"]
    with_alt_names = {"subject": subject, "subjectAltName": (("DNS", "san.mailflow.test"), ("IP Address", "127.0.0.9"))}
    assert certificate_names(with_alt_names) == ["san.mailflow.test", "127.0.0.9"]
    addresses_only = {"subject": subject, "subjectAltName": (("IP Address", "127.0.0.9"),)}
    assert certificate_names(addresses_only) == ["cn.mailflow.test", "127.0.0.9"]
