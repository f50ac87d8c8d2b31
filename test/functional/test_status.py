"""
``ciphermail_split.status`` reports what a gateway has configured, for
each role, for an unconfigured gateway and with the CipherMail back-end
down; it never writes.
"""

import subprocess

import pytest
from support.masterless import gateway_pillar, link_formula
from support.values import BASE_MYNETWORKS, DOMAIN, MAIN_GATEWAY_ADDRESS, MAIN_PILLAR, PORTAL_PILLAR, TRIGGERS

NEXTHOP = "smtp:[portal.dmz.example.net]"
TRIGGERS_OFF = {
    "trigger-webmail-header": "",
    "trigger-webmail-header-enabled": "false",
    "trigger-otp-encryption-header": "",
    "trigger-otp-encryption-header-enabled": "false",
}


@pytest.fixture
def apply_role(modules, gateway, state_tree):
    """Apply the formula's role SLS to the sandboxed gateway, as state.apply does."""
    link_formula(state_tree)

    def apply(pillar):
        ret = modules.state.sls("ciphermail_split", pillar=gateway_pillar(gateway, pillar))
        assert not ret.failed and all(state.result is True for state in ret), ret.raw
        gateway.age_config()

    return apply


@pytest.fixture
def status(modules, gateway, state_tree):
    """``ciphermail_split.status``, checked to write nothing and to run each CLI read once."""
    link_formula(state_tree)

    def read():
        calls, files = len(gateway.calls()), gateway.files()
        state_files = sorted(gateway.state_dir.rglob("*")) if gateway.state_dir.exists() else []
        report = modules.ciphermail_split.status()
        assert gateway.write_calls(since=calls) == []
        asked = [tuple(call["argv"]) for call in gateway.calls()[calls:]]
        assert len(asked) == len(set(asked)), asked
        assert gateway.files() == files
        assert (sorted(gateway.state_dir.rglob("*")) if gateway.state_dir.exists() else []) == state_files
        return report

    return read


def test_an_unconfigured_gateway(status, gateway):
    report = status()
    assert report["role"] == "none"
    assert report["role_in_pillar"] is None
    assert report["main"] == {
        "override": {
            "path": str(gateway.ansible_vars_dir / "ciphermail-split-mode.yml"),
            "values": {},
            "portal_enabled": False,
            "shadowed_by": None,
        },
        "playbook": {"pending": False},
        "transport": {
            "domain": DOMAIN,
            "table": None,
            "entry": None,
            "lookup": None,
            "ours": False,
            "shadowed_by": None,
        },
        "tls_policy": {"table": None, "entries": {}, "ours": []},
    }
    assert report["portal"] == {
        "mynetworks": {"parameter": "mynetworks", "value": BASE_MYNETWORKS, "ours": []},
        "private_domain": {
            "name": DOMAIN,
            "present": False,
            "properties": {"revert-rewrite-recipient": None},
            "ours": False,
        },
        "triggers": TRIGGERS_OFF,
    }


def test_a_main_gateway(apply_role, status, gateway):
    apply_role(MAIN_PILLAR)
    report = status()
    assert report["role"] == "main"
    assert report["main"]["override"]["values"] == {"ciphermail_backend__remote_portal_enabled": True}
    assert report["main"]["override"]["portal_enabled"] is True
    assert report["main"]["playbook"] == {"pending": False}
    table = f"hash:{gateway.postfix_dir}/transport"
    assert report["main"]["transport"] == {
        "domain": DOMAIN,
        "table": table,
        "entry": NEXTHOP,
        "lookup": NEXTHOP,
        "ours": True,
        "shadowed_by": None,
    }
    assert report["main"]["tls_policy"] == {"table": None, "entries": {"[portal.dmz.example.net]": None}, "ours": []}
    assert report["portal"]["private_domain"]["present"] is False
    assert report["portal"]["triggers"] == TRIGGERS_OFF


def test_a_table_that_answers_before_the_formulas_entry_shows(apply_role, status, gateway):
    apply_role(MAIN_PILLAR)
    table = f"hash:{gateway.postfix_dir}/transport"
    shadow = gateway.postfix_dir / "shadow.re"
    shadow.write_text("/@relay-to-webmail\\.private$/ discard:\n")
    maps = f"{table}, regexp:{shadow}"
    subprocess.run(["postconf", "-c", str(gateway.postfix_dir), "-e", f"transport_maps={maps}"], check=True)
    gateway.age_config()
    transport = status()["main"]["transport"]
    assert (transport["entry"], transport["lookup"]) == (NEXTHOP, NEXTHOP)
    assert transport["shadowed_by"] == {
        "table": f"regexp:{shadow}",
        "key": f"portal-recipient@{DOMAIN}",
        "value": "discard:",
    }


def test_a_main_gateway_with_portal_nodes_and_tls(apply_role, status, gateway):
    nodes = ["portal-a.dmz.example.net", "portal-b.dmz.example.net"]
    apply_role({**MAIN_PILLAR, "portal_server": nodes, "portal_tls": {"level": "secure", "match": ".dmz.example.net"}})
    report = status()["main"]
    assert report["transport"]["entry"] == "smtp:[portal-a.dmz.example.net], [portal-b.dmz.example.net]"
    keys = [f"[{node}]" for node in nodes]
    assert report["tls_policy"] == {
        "table": f"hash:{gateway.postfix_dir}/tls_policy",
        "entries": {key: "secure match=.dmz.example.net" for key in keys},
        "ours": keys,
    }


def test_a_portal_gateway(apply_role, status):
    apply_role(PORTAL_PILLAR)
    report = status()
    assert report["role"] == "portal"
    assert report["portal"] == {
        "mynetworks": {
            "parameter": "mynetworks",
            "value": [*BASE_MYNETWORKS, MAIN_GATEWAY_ADDRESS],
            "ours": [MAIN_GATEWAY_ADDRESS],
        },
        "private_domain": {
            "name": DOMAIN,
            "present": True,
            "properties": {"revert-rewrite-recipient": "true"},
            "ours": True,
        },
        "triggers": TRIGGERS,
    }
    assert report["main"]["override"]["portal_enabled"] is False
    assert report["main"]["transport"]["entry"] is None


def test_a_gateway_with_both_roles(apply_role, status):
    apply_role(MAIN_PILLAR)
    apply_role(PORTAL_PILLAR)
    assert status()["role"] == "both"


def test_a_pending_playbook_shows(apply_role, status, monkeypatch):
    monkeypatch.setenv("CIPHERMAIL_SIM_FAIL", "run-playbook")
    with pytest.raises(AssertionError):
        apply_role(MAIN_PILLAR)
    report = status()
    assert report["main"]["playbook"] == {"pending": True}
    assert report["role"] == "main"


def test_with_the_backend_down_the_other_parts_are_still_reported(apply_role, status, monkeypatch):
    apply_role(PORTAL_PILLAR)
    monkeypatch.setenv("CIPHERMAIL_SIM_FAIL", "domain,property")
    report = status()
    for part in ("private_domain", "triggers"):
        assert "the CipherMail back-end is not available" in report["portal"][part]["error"]
    assert report["portal"]["mynetworks"]["ours"] == [MAIN_GATEWAY_ADDRESS]
    assert report["main"]["transport"]["entry"] is None
    assert report["role"] == "portal"


def test_each_item_the_formula_set_says_whether_it_still_holds(apply_role, status, gateway):
    apply_role(PORTAL_PILLAR)
    report = status()
    assert report["cli_mode"] == "read-back"
    assert report["set_by_formula"]["mynetworks:mynetworks|192.0.2.10"] == {
        "ours": "present", "now": "present", "holds": True,
    }  # fmt: skip
    assert report["set_by_formula"][f"domain:{DOMAIN}"]["holds"] is True
    assert all(item["holds"] is True for item in report["set_by_formula"].values())

    # The web UI saves My Networks without the main gateway; an admin switches a trigger off.
    main_cf = gateway.postfix_dir / "main.cf"
    main_cf.write_text(main_cf.read_text().replace(f" {MAIN_GATEWAY_ADDRESS}", ""))
    gateway.age_config()
    gateway.cli("property", "global", "set", "--name", "trigger-otp-encryption-header-enabled", "--value", "false")
    changed = {key: item for key, item in status()["set_by_formula"].items() if item["holds"] is not True}
    assert changed == {
        "mynetworks:mynetworks|192.0.2.10": {"ours": "present", "now": None, "holds": False},
        "global_property:trigger-otp-encryption-header-enabled": {"ours": "true", "now": "false", "holds": False},
    }


def test_documented_only_status_reads_no_cli_and_says_what_it_cannot_see(apply_role, status, gateway, loaders):
    lookup = loaders.opts["ciphermail_split"]["lookup"]
    lookup["cli_read_back"] = False
    apply_role({**PORTAL_PILLAR, "lookup": {**gateway.lookup(), "cli_read_back": False}})
    calls = len(gateway.calls())
    report = status()
    assert gateway.calls()[calls:] == []
    assert (report["cli_mode"], report["role"]) == ("documented-only", "portal")
    assert report["portal"]["private_domain"] == {
        "name": DOMAIN, "present": "unknown", "properties": {"revert-rewrite-recipient": "unknown"}, "ours": True,
    }  # fmt: skip
    assert set(report["portal"]["triggers"].values()) == {"unknown"}
    assert report["set_by_formula"]["global_property:trigger-webmail-header-enabled"] == {
        "ours": "true", "now": "unknown", "holds": None,
    }  # fmt: skip
    assert report["set_by_formula"]["mynetworks:mynetworks|192.0.2.10"]["holds"] is True
