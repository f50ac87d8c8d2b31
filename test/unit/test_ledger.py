"""The ledger: what the formula changed, kept across runs in the state directory."""

import json

import ciphermail_split_ledger
import pytest
from ciphermail_split_ledger import Ledger


@pytest.fixture
def state_dir(tmp_path):
    return tmp_path / "state"


@pytest.fixture
def ledger(state_dir):
    return Ledger(str(state_dir))


def test_first_before_is_kept_and_ours_follows_the_last_change(ledger, state_dir):
    assert ledger.record("global_property", "p") is None
    ledger.remember("global_property", "p", "false", "true")
    ledger.remember("global_property", "p", "true", "TRUE")
    assert ledger.record("global_property", "p") == {"before": "false", "ours": "TRUE"}
    on_disk = json.loads((state_dir / "ledger.json").read_text())
    assert on_disk["records"] == {"global_property:p": {"before": "false", "ours": "TRUE"}}
    assert oct((state_dir / "ledger.json").stat().st_mode & 0o777) == "0o600"
    assert oct(state_dir.stat().st_mode & 0o777) == "0o700"


def test_changing_back_to_the_original_leaves_nothing_to_take_back(ledger):
    ledger.remember("override_key", "k", None, "true")
    ledger.remember("override_key", "k", "true", None)
    assert ledger.record("override_key", "k") is None


def test_restore_plan(ledger):
    assert ledger.restore_plan("transport", "d", "smtp:[x]") == {"action": "none"}
    ledger.remember("transport", "d", "smtp:[admin]", "smtp:[ours]")
    assert ledger.restore_plan("transport", "d", "smtp:[ours]") == {"action": "restore", "value": "smtp:[admin]"}
    assert ledger.restore_plan("transport", "d", "smtp:[later]") == {"action": "release", "value": "smtp:[later]"}
    assert ledger.forget("transport", "d") is True
    assert ledger.forget("transport", "d") is False


def test_records_of_one_kind(ledger):
    ledger.remember("mynetworks", "mynetworks|192.0.2.10", None, "present")
    ledger.remember("mynetworks_param", "mynetworks", None, ["127.0.0.0/8"])
    assert ledger.records("mynetworks") == {"mynetworks|192.0.2.10": {"before": None, "ours": "present"}}
    assert ledger.mynetworks_entries("mynetworks") == ["192.0.2.10"]


def test_pending_playbook_survives_between_runs(ledger, state_dir):
    assert ledger.playbook_pending is False
    ledger.set_playbook_pending(True)
    assert Ledger(str(state_dir)).load()["playbook_pending"] is True
    ledger.set_playbook_pending(False)
    assert ledger.playbook_pending is False


def test_what_a_write_applied_is_kept_apart_from_the_records(ledger, state_dir):
    assert ledger.applied("global_property", "p") is None
    ledger.remember_applied("global_property", "p", "true")
    ledger.remember_applied("domain_property", "d.example|q", "false")
    assert ledger.applied("global_property", "p") == "true"
    assert ledger.applied_keys_under("domain_property", "d.example|") == ["q"]
    assert ledger.record("global_property", "p") is None
    on_disk = json.loads((state_dir / "ledger.json").read_text())
    assert on_disk["applied"] == {"global_property:p": "true", "domain_property:d.example|q": "false"}
    ledger.forget_applied("global_property", "p")
    assert ledger.applied("global_property", "p") is None


def test_a_write_of_the_value_already_applied_leaves_the_file_alone(ledger, state_dir):
    ledger.remember_applied("global_property", "p", "true")
    stamp = (state_dir / "ledger.json").stat().st_mtime_ns
    ledger.remember_applied("global_property", "p", "true")
    assert (state_dir / "ledger.json").stat().st_mtime_ns == stamp


def test_the_items_the_formula_set_and_whether_they_hold(ledger):
    ledger.remember("mynetworks", "mynetworks|192.0.2.10", None, "present")
    ledger.remember("global_property", "p", "false", "true")
    ledger.remember_applied("global_property", "p", "true")
    ledger.remember_applied("domain", "d.example", "present")
    items = ledger.formula_items()
    assert items == [
        ("domain", "d.example", "present"),
        ("global_property", "p", "true"),
        ("mynetworks", "mynetworks|192.0.2.10", "present"),
    ]
    now = {"domain": "unknown", "global_property": "false", "mynetworks": "present"}
    held = ciphermail_split_ledger.held([(kind, key, ours, now[kind]) for kind, key, ours in items])
    assert held == {
        "domain:d.example": {"ours": "present", "now": "unknown", "holds": None},
        "global_property:p": {"ours": "true", "now": "false", "holds": False},
        "mynetworks:mynetworks|192.0.2.10": {"ours": "present", "now": "present", "holds": True},
    }
