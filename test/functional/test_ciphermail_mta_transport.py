"""
ciphermail_mta transport states against real postconf/postmap on the
sandbox's Postfix configuration directory.
"""

import os
import pathlib
import shutil
import tempfile
import time

import pytest
from support.sandbox import REPO_ROOT
from support.values import DOMAIN

ADMIN_TRANSPORT = """\
# Transport table, maintained by the mail team.
example.com      smtp:[mx1.example.com]

   # the partner needs port 2525
partner.example  smtp:[mx.partner.example]:2525
Legacy.Example   relay:[legacy.example]
    :587
# end of the mail team's entries"""


def _use_table(gateway, text, kind="hash"):
    """Give the sandbox a configured transport table with ``text`` as its source."""
    return gateway.admin_table("transport_maps", "transport", text, kind)


def _stamp(path):
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


def _present(states, host, port=None, test=False):
    return states.ciphermail_mta.transport_present(name=DOMAIN, host=host, port=port, test=test)


def test_foreign_entries_and_comments_are_kept_byte_for_byte(states, gateway):
    path, table = _use_table(gateway, ADMIN_TRANSPORT)

    ret = _present(states, "portal.example.net")

    assert ret.result is True, ret.comment
    assert ret.changes == {"nexthop": {"old": None, "new": "smtp:[portal.example.net]"}}
    assert path.read_text() == ADMIN_TRANSPORT + "\nrelay-to-webmail.private smtp:[portal.example.net]\n"
    assert gateway.postmap_query(DOMAIN, table) == "smtp:[portal.example.net]"
    assert gateway.postmap_query("legacy.example", table) == "relay:[legacy.example]    :587"
    assert gateway.postmap_query("partner.example", table) == "smtp:[mx.partner.example]:2525"


def test_changed_portal_is_predicted_exactly_and_a_second_run_does_nothing(states, gateway):
    path, table = _use_table(gateway, "example.com smtp:[mx1.example.com]\n")
    assert _present(states, "portal-a.example.net").result is True
    files = gateway.files()

    predicted = _present(states, "portal-b.example.net", test=True)
    assert predicted.result is None
    assert predicted.changes == {
        "nexthop": {"old": "smtp:[portal-a.example.net]", "new": "smtp:[portal-b.example.net]"}
    }
    assert predicted.comment.startswith("Transport entry relay-to-webmail.private would be set to smtp:[portal-b")
    assert gateway.files() == files

    applied = _present(states, "portal-b.example.net")
    assert applied.result is True
    assert applied.changes == predicted.changes
    assert gateway.postmap_query(DOMAIN, table) == "smtp:[portal-b.example.net]"

    database = gateway.postfix_dir / "transport.db"
    main_cf = gateway.postfix_dir / "main.cf"
    stamps = (_stamp(path), _stamp(database), _stamp(main_cf))
    again = _present(states, "portal-b.example.net")
    assert again.result is True
    assert again.changes == {}
    assert (_stamp(path), _stamp(database), _stamp(main_cf)) == stamps
    assert _present(states, "portal-b.example.net", test=True).result is True


def test_ipv6_portal_with_port(states, gateway):
    _, table = _use_table(gateway, "")

    ret = _present(states, "2001:DB8:0::20", port="2525")

    assert ret.result is True, ret.comment
    assert ret.changes["nexthop"]["new"] == "smtp:[ipv6:2001:db8::20]:2525"
    assert gateway.postmap_query(DOMAIN, table) == "smtp:[ipv6:2001:db8::20]:2525"


@pytest.mark.parametrize(
    ("host", "port", "named"),
    [
        ("portal example.net", None, "host: got 'portal example.net'"),
        ("portal.example.net\nevil.example smtp:[x]", None, "host: got 'portal.example.net\\nevil.example smtp:[x]'"),
        ("portal.example.net", 0, "port: got 0"),
        ("portal.example.net", 70000, "port: got 70000"),
    ],
)
def test_invalid_input_changes_nothing(states, gateway, host, port, named):
    _use_table(gateway, ADMIN_TRANSPORT)
    files = gateway.files()

    ret = _present(states, host, port)

    assert (ret.result, ret.changes) == (False, {})
    assert named in ret.comment
    assert gateway.files() == files
    assert not (gateway.state_dir / "ledger.json").exists()


def test_empty_transport_maps_gets_a_table_and_absent_takes_it_back(states, gateway):
    main_cf = (gateway.postfix_dir / "main.cf").read_bytes()
    path = gateway.postfix_dir / "transport"
    table = f"hash:{path}"
    expected = {
        "transport_maps": {"old": "", "new": table},
        "transport_file": {"old": None, "new": str(path)},
        "nexthop": {"old": None, "new": "smtp:[192.0.2.20]"},
    }

    predicted = states.ciphermail_mta.transport_present(name=DOMAIN, host="192.0.2.20", test=True)
    assert (predicted.result, predicted.changes) == (None, expected)
    assert not path.exists()

    applied = states.ciphermail_mta.transport_present(name=DOMAIN, host="192.0.2.20")
    assert (applied.result, applied.changes) == (True, expected)
    assert gateway.postconf("transport_maps") == table
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert gateway.postmap_query(DOMAIN, table) == "smtp:[192.0.2.20]"

    taken_back = {
        "nexthop": {"old": "smtp:[192.0.2.20]", "new": None},
        "transport_maps": {"old": table, "new": ""},
        "transport_file": {"old": str(path), "new": None},
    }
    predicted = states.ciphermail_mta.transport_absent(name=DOMAIN, test=True)
    assert (predicted.result, predicted.changes) == (None, taken_back)
    absent = states.ciphermail_mta.transport_absent(name=DOMAIN)
    assert (absent.result, absent.changes) == (True, taken_back)
    assert (gateway.postfix_dir / "main.cf").read_bytes() == main_cf
    assert not path.exists()
    assert not (gateway.postfix_dir / "transport.db").exists()
    assert states.ciphermail_mta.transport_absent(name=DOMAIN).changes == {}


def test_absent_keeps_an_admins_entries_in_a_table_the_formula_created(states, gateway):
    assert states.ciphermail_mta.transport_present(name=DOMAIN, host="portal.example.net").result is True
    path = gateway.postfix_dir / "transport"
    table = gateway.postconf("transport_maps")
    with path.open("a") as handle:
        handle.write("example.com smtp:[mx1.example.com]\n")
    gateway.admin_postfix("postmap", table)

    ret = states.ciphermail_mta.transport_absent(name=DOMAIN)

    assert ret.result is True
    assert ret.changes == {"nexthop": {"old": "smtp:[portal.example.net]", "new": None}}
    assert path.read_text() == "example.com smtp:[mx1.example.com]\n"
    assert gateway.postconf("transport_maps") == table
    assert gateway.postmap_query("example.com", table) == "smtp:[mx1.example.com]"
    assert gateway.postmap_query(DOMAIN, table) is None


def test_absent_puts_back_the_nexthop_an_admin_had(states, gateway):
    original = "example.com smtp:[mx1.example.com]\nrelay-to-webmail.private   smtp:[old-portal.example.net]\n"
    path, table = _use_table(gateway, original)
    assert _present(states, "portal.example.net").changes == {
        "nexthop": {"old": "smtp:[old-portal.example.net]", "new": "smtp:[portal.example.net]"}
    }

    ret = states.ciphermail_mta.transport_absent(name=DOMAIN)

    assert ret.changes == {"nexthop": {"old": "smtp:[portal.example.net]", "new": "smtp:[old-portal.example.net]"}}
    assert path.read_text() == original
    assert gateway.postmap_query(DOMAIN, table) == "smtp:[old-portal.example.net]"


def test_absent_leaves_an_entry_the_admin_changed_or_owns(states, gateway):
    path, table = _use_table(gateway, "relay-to-webmail.private smtp:[admins-portal]\n")
    files = gateway.files()
    ret = states.ciphermail_mta.transport_absent(name=DOMAIN)
    assert (ret.result, ret.changes) == (True, {})
    assert gateway.files() == files

    forced = states.ciphermail_mta.transport_absent(name=DOMAIN, force=True)
    assert forced.changes == {"nexthop": {"old": "smtp:[admins-portal]", "new": None}}
    assert path.read_text() == ""
    assert gateway.postmap_query(DOMAIN, table) is None


def test_absent_leaves_our_entry_once_an_admin_edited_it(states, gateway):
    path, table = _use_table(gateway, "example.com smtp:[mx1.example.com]\n")
    assert _present(states, "portal.example.net").result is True
    path.write_text(path.read_text().replace("smtp:[portal.example.net]", "smtp:[portal.example.net]:2525"))
    gateway.admin_postfix("postmap", table)
    files = gateway.files()

    ret = states.ciphermail_mta.transport_absent(name=DOMAIN)

    assert (ret.result, ret.changes) == (True, {})
    assert gateway.files() == files
    assert gateway.postmap_query(DOMAIN, table) == "smtp:[portal.example.net]:2525"


@pytest.mark.parametrize("staleness", ["database deleted", "source written without postmap"])
def test_stale_database_is_repaired_and_predicted(states, gateway, staleness):
    path, table = _use_table(gateway, "example.com smtp:[mx1.example.com]\n")
    database = gateway.postfix_dir / "transport.db"
    if staleness == "database deleted":
        assert _present(states, "portal.example.net").result is True
        database.unlink()
    else:
        path.write_text(path.read_text() + "relay-to-webmail.private smtp:[portal.example.net]\n")
    source = path.read_bytes()
    repair = {"postmap": {"old": "stale", "new": "rebuilt"}}

    predicted = _present(states, "portal.example.net", test=True)
    assert (predicted.result, predicted.changes) == (None, repair)
    assert gateway.postmap_query(DOMAIN, table) is None

    applied = _present(states, "portal.example.net")
    assert (applied.result, applied.changes) == (True, repair)
    assert path.read_bytes() == source
    assert gateway.postmap_query(DOMAIN, table) == "smtp:[portal.example.net]"
    assert gateway.postmap_query("example.com", table) == "smtp:[mx1.example.com]"
    assert _present(states, "portal.example.net").changes == {}


def test_texthash_table_needs_no_database(states, gateway):
    path, table = _use_table(gateway, "example.com smtp:[mx1.example.com]\n", kind="texthash")

    ret = _present(states, "portal.example.net")

    assert ret.changes == {"nexthop": {"old": None, "new": "smtp:[portal.example.net]"}}
    assert gateway.postmap_query(DOMAIN, table) == "smtp:[portal.example.net]"
    assert sorted(p.name for p in gateway.postfix_dir.glob("transport*")) == ["transport"]
    assert _present(states, "portal.example.net").changes == {}


def test_transport_maps_without_an_editable_table_is_reported(states, gateway):
    gateway.admin_postfix("postconf", "-e", f"transport_maps=regexp:{gateway.postfix_dir}/transport.re")
    files = gateway.files()

    ret = _present(states, "portal.example.net")

    assert ret.result is False
    assert "has no table this formula can edit" in ret.comment
    assert gateway.files() == files


def test_module_functions(modules, gateway):
    mta = modules.ciphermail_mta
    _, table = _use_table(gateway, "Relay-To-Webmail.Private smtp:[old]\n")
    assert mta.transport_table()["table"] == table
    assert mta.transport_get("RELAY-to-webmail.private") == "smtp:[old]"
    assert mta.transport_lookup(DOMAIN) == "smtp:[old]"
    assert mta.transport_set(DOMAIN, "smtp:[new]", test=True)["changes"] == {
        "nexthop": {"old": "smtp:[old]", "new": "smtp:[new]"}
    }
    assert mta.transport_lookup(DOMAIN) == "smtp:[old]"
    assert mta.transport_set(DOMAIN, "smtp:[new]")["table"] == table
    assert (gateway.postfix_dir / "transport").read_text() == "Relay-To-Webmail.Private smtp:[new]\n"
    assert mta.transport_delete(DOMAIN) == {
        "table": table,
        "changes": {"nexthop": {"old": "smtp:[new]", "new": None}},
        "entries_left": 0,
    }
    assert mta.transport_lookup(DOMAIN) is None
    assert mta.reload_if_running() == {"running": False, "reloaded": False}


@pytest.fixture
def postfix_workdir():
    """A directory for a running Postfix, in the repository's build area."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="mta-postfix-", dir=REPO_ROOT / "build"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="starting Postfix needs root")
def test_a_running_postfix_is_reloaded_once(states, gateway, postfix_workdir):
    _use_table(gateway, "")
    gateway.start_postfix(postfix_workdir)
    try:
        ret = _present(states, "portal.example.net")
        assert ret.result is True, ret.comment
        assert ret.comment.endswith("Postfix has been reloaded")
        assert " is already set to " in _present(states, "portal.example.net").comment
        deadline = time.time() + 5
        while "reload -- version" not in _maillog(postfix_workdir) and time.time() < deadline:
            time.sleep(0.1)
        assert _maillog(postfix_workdir).count("reload -- version") == 1
    finally:
        gateway.stop_postfix()


def _maillog(workdir):
    path = workdir / "data" / "maillog"
    return path.read_text() if path.exists() else ""


# -- a table that answers before the formula's entry --------------------------------

ELSEWHERE = "smtp:[elsewhere.example.net]"
SHADOWS = {
    # Postfix looks up the full address in every table first (pattern tables included),
    # then the domain in the fixed-string tables, in the order of transport_maps.
    "regexp before": ("regexp:{dir}/shadow.re, hash:{dir}/transport", "regexp:{dir}/shadow.re"),
    "regexp after": ("hash:{dir}/transport, regexp:{dir}/shadow.re", "regexp:{dir}/shadow.re"),
    "unionmap after": (
        "hash:{dir}/transport unionmap:{{regexp:{dir}/shadow.re}}",
        "unionmap:{{regexp:{dir}/shadow.re}}",
    ),
    "inline before": (
        "inline:{{ relay-to-webmail.private=smtp:[elsewhere.example.net] }}, hash:{dir}/transport",
        "inline:{{ relay-to-webmail.private=smtp:[elsewhere.example.net] }}",
    ),
}


def _shadowed_gateway(gateway, maps):
    directory = gateway.postfix_dir
    (directory / "shadow.re").write_text(f"/@relay-to-webmail\\.private$/ {ELSEWHERE}\n")
    (directory / "transport").write_text("example.com smtp:[mx1.example.com]\n")
    gateway.admin_postfix("postmap", f"hash:{directory}/transport")
    gateway.admin_postfix("postconf", "-e", f"transport_maps={maps.format(dir=directory)}")


@pytest.mark.parametrize("case", SHADOWS)
def test_a_table_that_answers_first_fails_the_state_naming_it(states, modules, gateway, case):
    maps, shadow = SHADOWS[case]
    _shadowed_gateway(gateway, maps)
    shadow = shadow.format(dir=gateway.postfix_dir)
    files = gateway.files()

    for test in (True, False):
        ret = _present(states, "portal.example.net", test=test)
        assert ret.result is False, ret.comment
        assert ret.changes == {}
        assert shadow in ret.comment and ELSEWHERE in ret.comment, ret.comment
        assert gateway.files() == files
    found = modules.ciphermail_mta.transport_shadowed(DOMAIN)
    assert (found["table"], found["value"]) == (shadow, ELSEWHERE)


@pytest.mark.parametrize(
    "maps",
    [
        # Postfix finds the domain in the formula's table before a later one.
        "hash:{dir}/transport, inline:{{ relay-to-webmail.private=smtp:[elsewhere.example.net] }}",
        # A table that matches other domains only, or gives the formula's own answer.
        "regexp:{dir}/other.re, hash:{dir}/transport",
        "inline:{{ relay-to-webmail.private=smtp:[portal.example.net] }}, hash:{dir}/transport",
    ],
)
def test_a_table_that_does_not_answer_first_is_no_shadow(states, modules, gateway, maps):
    (gateway.postfix_dir / "other.re").write_text(f"/@example\\.org$/ {ELSEWHERE}\n")
    _shadowed_gateway(gateway, maps)
    ret = _present(states, "portal.example.net")
    assert ret.result is True, ret.comment
    assert gateway.postmap_query(DOMAIN, f"hash:{gateway.postfix_dir}/transport") == "smtp:[portal.example.net]"
    assert modules.ciphermail_mta.transport_shadowed(DOMAIN) in (None, {
        "table": "inline:{ relay-to-webmail.private=smtp:[portal.example.net] }",
        "key": DOMAIN,
        "value": "smtp:[portal.example.net]",
    })
