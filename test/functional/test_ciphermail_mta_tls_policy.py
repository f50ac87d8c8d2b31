"""
ciphermail_mta.tls_policy_present/_absent and a transport entry to several
portal nodes, against real postconf/postmap on the sandbox's Postfix
configuration directory: the same guarantees as the transport entry (the
admin's lines kept, the ledger, exact clean, test=True predicts, postmap,
a second run writes nothing).
"""

import functools

import pytest
from support.contract import converge_state
from support.values import DOMAIN

NODES = ["portal-a.dmz.example", "192.0.2.21"]
KEYS = ["[portal-a.dmz.example]:25", "[192.0.2.21]:25"]

ADMIN_POLICIES = """\
# TLS policies of the mail team.
partner.example   secure match=mx.partner.example
[mx1.example.com]:25 encrypt
"""


def _admins_policy_table(gateway, text=ADMIN_POLICIES, kind="hash", name="tls_policy"):
    return gateway.admin_table("smtp_tls_policy_maps", name, text, kind)


def _present(states, host=NODES, level="encrypt", match=None, port=25, **kwargs):
    return functools.partial(
        states.ciphermail_mta.tls_policy_present, name=DOMAIN, host=host, port=port, level=level, match=match, **kwargs
    )


def test_each_node_gets_its_entry_in_the_admins_table_and_every_other_byte_stays(states, gateway):
    path, table = _admins_policy_table(gateway)

    changes = converge_state(gateway, _present(states))

    assert changes == {key: {"old": None, "new": "encrypt"} for key in KEYS}
    assert path.read_text() == ADMIN_POLICIES + "".join(f"{key} encrypt\n" for key in KEYS)
    for key in KEYS:
        assert gateway.postmap_query(key, table) == "encrypt"
    assert gateway.postmap_query("partner.example", table) == "secure match=mx.partner.example"

    secure = converge_state(gateway, _present(states, level="secure", match=".dmz.example"))
    assert secure == {key: {"old": "encrypt", "new": "secure match=.dmz.example"} for key in KEYS}

    absent = converge_state(gateway, functools.partial(states.ciphermail_mta.tls_policy_absent, name=DOMAIN))
    assert absent == {key: {"old": "secure match=.dmz.example", "new": None} for key in KEYS}
    assert path.read_text() == ADMIN_POLICIES
    assert gateway.postconf("smtp_tls_policy_maps") == table
    assert gateway.postmap_query(KEYS[0], table) is None


def test_without_a_table_one_is_made_beside_the_transport_table_and_clean_gives_main_cf_back(states, gateway):
    transport = gateway.postfix_dir / "maps"
    transport.mkdir()
    (transport / "transport").write_text("example.com smtp:[mx1.example.com]\n")
    gateway.admin_postfix("postmap", f"btree:{transport}/transport")
    gateway.admin_postfix("postconf", "-e", f"transport_maps=btree:{transport}/transport")
    main_cf = (gateway.postfix_dir / "main.cf").read_bytes()
    path = transport / "tls_policy"
    table = f"btree:{path}"

    changes = converge_state(gateway, _present(states, host="portal-a.dmz.example", port=None))

    assert changes == {
        "smtp_tls_policy_maps": {"old": "", "new": table},
        "tls_policy_file": {"old": None, "new": str(path)},
        "[portal-a.dmz.example]": {"old": None, "new": "encrypt"},
    }
    assert gateway.postconf("smtp_tls_policy_maps") == table
    assert gateway.postmap_query("[portal-a.dmz.example]", table) == "encrypt"
    assert oct(path.stat().st_mode & 0o777) == "0o644"

    taken_back = converge_state(gateway, functools.partial(states.ciphermail_mta.tls_policy_absent, name=DOMAIN))

    assert taken_back == {
        "[portal-a.dmz.example]": {"old": "encrypt", "new": None},
        "smtp_tls_policy_maps": {"old": table, "new": ""},
        "tls_policy_file": {"old": str(path), "new": None},
    }
    assert (gateway.postfix_dir / "main.cf").read_bytes() == main_cf
    assert sorted(p.name for p in transport.iterdir()) == ["transport", "transport.db"]
    assert not (gateway.state_dir / "ledger.json").read_text().count("tls_policy")


def test_keep_takes_back_only_the_nodes_no_longer_named(states, gateway):
    path, table = _admins_policy_table(gateway)
    assert _present(states)().result is True
    gateway.age_config()

    absent = functools.partial(states.ciphermail_mta.tls_policy_absent, name=DOMAIN, keep=NODES[:1], port=25)
    changes = converge_state(gateway, absent)

    assert changes == {KEYS[1]: {"old": "encrypt", "new": None}}
    assert gateway.postmap_query(KEYS[0], table) == "encrypt"
    assert gateway.postconf("smtp_tls_policy_maps") == table
    assert path.read_text() == ADMIN_POLICIES + f"{KEYS[0]} encrypt\n"
    # Keeping every node: nothing to do, and Postfix is not even asked.
    keep_all = states.ciphermail_mta.tls_policy_absent(name=DOMAIN, keep=NODES[:1], port=25)
    assert (keep_all.result, keep_all.changes) == (True, {})
    assert keep_all.comment.startswith("The formula's TLS policy entries but those of [portal-a.dmz.example]:25 are already")


def test_an_admins_policy_is_put_back_and_an_admins_later_edit_left_alone(states, gateway):
    text = ADMIN_POLICIES + f"{KEYS[0]} may\n"
    path, table = _admins_policy_table(gateway, text)
    assert _present(states)().changes == {
        KEYS[0]: {"old": "may", "new": "encrypt"},
        KEYS[1]: {"old": None, "new": "encrypt"},
    }
    path.write_text(path.read_text().replace(f"{KEYS[1]} encrypt", f"{KEYS[1]} secure match=admin.example"))
    gateway.admin_postfix("postmap", table)

    ret = states.ciphermail_mta.tls_policy_absent(name=DOMAIN)

    assert ret.result is True, ret.comment
    assert ret.changes == {KEYS[0]: {"old": "encrypt", "new": "may"}}
    assert path.read_text() == text + f"{KEYS[1]} secure match=admin.example\n"
    assert gateway.postmap_query(KEYS[1], table) == "secure match=admin.example"
    assert "tls_policy" not in (gateway.state_dir / "ledger.json").read_text()


def test_a_texthash_table_needs_no_postmap(states, gateway):
    path, table = _admins_policy_table(gateway, "", kind="texthash")
    assert converge_state(gateway, _present(states, host=NODES[1])) == {KEYS[1]: {"old": None, "new": "encrypt"}}
    assert sorted(p.name for p in gateway.postfix_dir.glob("tls_policy*")) == ["tls_policy"]
    assert gateway.postmap_query(KEYS[1], table) == "encrypt"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"level": "required"}, "level: got 'required'; expected may or encrypt or verify or secure"),
        ({"level": "encrypt", "match": "portal.example"}, "match: got 'portal.example'; expected no match"),
        ({"host": ["portal-a", "PORTAL-A"]}, "host: got ['portal-a', 'PORTAL-A']; expected each portal node once"),
        ({"port": 0}, "port: got 0"),
    ],
)
def test_bad_arguments_change_nothing(states, gateway, arguments, message):
    _admins_policy_table(gateway)
    files = gateway.files()
    ret = _present(states, **arguments)()
    assert (ret.result, ret.changes) == (False, {})
    assert ret.comment.startswith(message), ret.comment
    assert gateway.files() == files


def test_a_transport_entry_to_several_nodes(states, gateway):
    present = functools.partial(states.ciphermail_mta.transport_present, name=DOMAIN, host=NODES, port=25)
    changes = converge_state(gateway, present)
    nexthop = "smtp:[portal-a.dmz.example]:25, [192.0.2.21]:25"
    assert changes["nexthop"] == {"old": None, "new": nexthop}
    assert gateway.postmap_query(DOMAIN, gateway.postconf("transport_maps")) == nexthop


def _old_postfix(gateway, tmp_path, version="3.4.14"):
    """A postconf that answers mail_version as an older Postfix would, and is the real one for everything else."""
    wrapper = tmp_path / "postconf"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *"-dh mail_version"*) echo {version}; exit 0;; esac\n'
        'exec /usr/sbin/postconf "$@"\n'
    )
    wrapper.chmod(0o755)
    return str(wrapper)


def test_a_postfix_older_than_3_5_refuses_a_list_of_nodes_under_test_too(states, modules, loaders, gateway, tmp_path):
    loaders.opts["ciphermail_split"]["lookup"]["postconf"] = _old_postfix(gateway, tmp_path)
    assert modules.ciphermail_mta.postfix_version() == "3.4.14"
    files = gateway.files()
    for test in (True, False):
        ret = states.ciphermail_mta.transport_present(name=DOMAIN, host=NODES, test=test)
        assert (ret.result, ret.changes) == (False, {}), ret.comment
        assert ret.comment == (
            "Postfix 3.4.14 on this gateway takes one nexthop per transport entry; a list needs Postfix 3.5 or later"
        )
    assert gateway.files() == files
    # One node is what Postfix 3.4 takes.
    assert states.ciphermail_mta.transport_present(name=DOMAIN, host=NODES[:1]).result is True
