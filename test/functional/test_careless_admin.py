"""
Small holes found by using the formula as a careless admin would: a
transport line the admin edited, a quoted key and an inline comment in the
override file, a vars directory or a transport table that is not there yet.
"""

import functools

import pytest
import yaml
from support.contract import converge_state
from support.values import DOMAIN, OVERRIDE_FILE, OVERRIDE_KEY

PORTAL = "portal.example.net"
NEXTHOP = f"smtp:[{PORTAL}]"


def override_present(states, test=False):
    return states.ciphermail_ansible.override_keys_present(name="override", values={OVERRIDE_KEY: True}, test=test)


def override_absent(states, test=False):
    return states.ciphermail_ansible.override_keys_absent(name="override", keys=[OVERRIDE_KEY], test=test)


def test_clean_says_it_left_the_admins_edit_of_the_transport_line(states, gateway):
    assert states.ciphermail_mta.transport_present(name=DOMAIN, host=PORTAL).result is True
    path = gateway.postfix_dir / "transport"
    path.write_text(path.read_text().replace(NEXTHOP, "smtp:[admins.example.net]"))
    gateway.admin_postfix("postmap", f"hash:{path}")

    cleaned = states.ciphermail_mta.transport_absent(name=DOMAIN)
    assert (cleaned.result, cleaned.changes) == (True, {}), cleaned.comment
    assert "changed by someone else since; left as it is" in cleaned.comment, cleaned.comment
    assert "taken back" not in cleaned.comment, cleaned.comment
    assert path.read_text() == f"{DOMAIN} smtp:[admins.example.net]\n"


@pytest.mark.parametrize("quoted", [f'"{OVERRIDE_KEY}"', f"'{OVERRIDE_KEY}'"])
def test_a_quoted_key_is_the_same_key(states, gateway, quoted):
    override = gateway.ansible_vars_dir / OVERRIDE_FILE
    original = f"---\n# the admin's\n{quoted}: false\nother: 1\n"
    override.write_text(original)

    changes = converge_state(gateway, functools.partial(override_present, states))
    assert changes == {OVERRIDE_KEY: {"old": "false", "new": "true"}}
    assert override.read_text().count(OVERRIDE_KEY) == 1, override.read_text()
    assert yaml.safe_load(override.read_text()) == {OVERRIDE_KEY: True, "other": 1}

    converge_state(gateway, functools.partial(override_absent, states))
    assert override.read_text().count(OVERRIDE_KEY) == 1, override.read_text()
    assert yaml.safe_load(override.read_text()) == {OVERRIDE_KEY: False, "other": 1}


def test_an_inline_comment_on_the_keys_line_is_kept(states, gateway):
    override = gateway.ansible_vars_dir / OVERRIDE_FILE
    override.write_text(f"---\n{OVERRIDE_KEY}: false   # set by Jane, ticket 42\n")
    converge_state(gateway, functools.partial(override_present, states))
    assert override.read_text() == f"---\n{OVERRIDE_KEY}: true   # set by Jane, ticket 42\n"
    converge_state(gateway, functools.partial(override_absent, states))
    assert override.read_text() == f"---\n{OVERRIDE_KEY}: false   # set by Jane, ticket 42\n"


def test_a_missing_vars_directory_is_predicted_created_and_removed_by_clean(states, gateway, loaders):
    (gateway.root / "ansible").mkdir()
    vars_dir = gateway.root / "ansible" / "new" / "all"
    loaders.opts["ciphermail_split"]["lookup"]["ansible_vars_dir"] = str(vars_dir)
    override = vars_dir / OVERRIDE_FILE

    changes = converge_state(gateway, functools.partial(override_present, states))
    assert changes == {
        "directory": {"old": None, "new": str(vars_dir)},
        "file": {"old": None, "new": str(override)},
        OVERRIDE_KEY: {"old": None, "new": "true"},
    }
    assert yaml.safe_load(override.read_text()) == {OVERRIDE_KEY: True}

    changes = converge_state(gateway, functools.partial(override_absent, states))
    assert changes == {
        OVERRIDE_KEY: {"old": "true", "new": None},
        "file": {"old": str(override), "new": None},
        "directory": {"old": str(vars_dir), "new": None},
    }
    assert not (gateway.root / "ansible" / "new").exists()
    assert (gateway.root / "ansible").is_dir()


def test_a_missing_transport_file_named_in_transport_maps_is_predicted_created_and_removed(states, gateway):
    path = gateway.postfix_dir / "transport"
    gateway.admin_postfix("postconf", "-e", f"transport_maps=hash:{path}")

    def present(test=False):
        return states.ciphermail_mta.transport_present(name=DOMAIN, host=PORTAL, test=test)

    def absent(test=False):
        return states.ciphermail_mta.transport_absent(name=DOMAIN, test=test)

    assert converge_state(gateway, present) == {
        "transport_file": {"old": None, "new": str(path)},
        "nexthop": {"old": None, "new": NEXTHOP},
    }
    assert gateway.postmap_query(DOMAIN, f"hash:{path}") == NEXTHOP
    assert converge_state(gateway, absent) == {
        "nexthop": {"old": NEXTHOP, "new": None},
        "transport_file": {"old": str(path), "new": None},
    }
    assert sorted(p.name for p in gateway.postfix_dir.glob("transport*")) == []
    assert gateway.postconf("transport_maps") == f"hash:{path}"  # the admin's setting stays
