"""
Postfix TLS values (ciphermail_postfix_tls): the levels and match= names
the formula sets for the hop to the portal, the text of a TLS policy entry
built and read back, the level in effect from the old and new parameters,
and the names a certificate must carry for a bracketed nexthop.
"""

import ciphermail_postfix_tls as tls
import pytest
from salt.exceptions import SaltInvocationError


@pytest.mark.parametrize(
    ("level", "match", "expected"),
    [
        ("may", None, "may"),
        ("encrypt", None, "encrypt"),
        ("verify", None, "verify"),
        ("secure", "Portal.Example.NET", "secure match=portal.example.net"),
        ("secure", ["portal-a.example.net", ".dmz.example.net"], "secure match=portal-a.example.net:.dmz.example.net"),
        ("verify", "nexthop:dot-nexthop:hostname", "verify match=nexthop:dot-nexthop:hostname"),
        ("secure", "192.0.2.20", "secure match=192.0.2.20"),
    ],
)
def test_policy(level, match, expected):
    assert tls.policy(level, match) == expected
    assert tls.parse_policy(expected) == {"level": level, "match": expected.partition("=")[2].split(":") if match else None}


@pytest.mark.parametrize(
    ("level", "match", "message"),
    [
        ("required", None, "level: got 'required'; expected may or encrypt or verify or secure"),
        ("none", None, "level: got 'none'"),
        ("dane", None, "level: got 'dane'"),
        (None, None, "level: got None"),
        ("encrypt", "portal.example.net", "match: got 'portal.example.net'; expected no match with level encrypt"),
        ("secure", "portal example.net", "match: got 'portal example.net'; expected Postfix match= names"),
        ("secure", "portal.example.net secure", "match: got"),
        ("secure", "a::b", "match: got 'a::b'"),
        ("secure", "", "match: got ''"),
        ("secure", [], "match: got []"),
        ("secure", "*.example.net", "match: got '*.example.net'"),
        ("secure", "portal.example.net\nciphers=null", "match: got"),
    ],
)
def test_policy_refuses(level, match, message):
    with pytest.raises(SaltInvocationError) as error:
        tls.policy(level, match)
    assert str(error.value).startswith(message)


def test_parse_policy_reads_what_an_admin_writes():
    assert tls.parse_policy("secure match=a:b ciphers=high match=.c") == {"level": "secure", "match": ["a", "b", ".c"]}
    assert tls.parse_policy("encrypt protocols=>=TLSv1.2") == {"level": "encrypt", "match": None}
    assert tls.parse_policy(None) == {"level": None, "match": None}


@pytest.mark.parametrize(
    ("level", "enforce", "use", "expected"),
    [
        ("encrypt", "no", "no", "encrypt"),
        ("", "yes", "yes", "encrypt"),
        ("", "no", "yes", "may"),
        ("", "no", "no", "none"),
    ],
)
def test_effective_level(level, enforce, use, expected):
    assert tls.effective_level(level, enforce, use) == expected


def test_certificate_names_for_a_bracketed_nexthop():
    assert tls.default_match("secure", "nexthop, dot-nexthop") == ["nexthop", "dot-nexthop"]
    assert tls.certificate_names(["nexthop", "dot-nexthop"], "portal.example.net") == [
        "portal.example.net",
        ".portal.example.net",
    ]
    assert tls.certificate_names(["hostname", "portal.example.net"], "portal.example.net") == ["portal.example.net"]
    assert tls.certificate_names([".dmz.example"], "192.0.2.20") == [".dmz.example"]


def test_portal_tls_pillar_value():
    assert tls.portal_tls({"level": None, "match": None}) == {"level": None, "match": None}
    assert tls.portal_tls({"level": "secure", "match": ["A.example"]}) == {"level": "secure", "match": "a.example"}
