"""
Taking back what the ledger records (``ciphermail_split_state.take_back``)
when the current value cannot be read (documented-only mode), or only a
CLI write's applied value is known: a boolean the formula switched on goes
off, anything else stays, and an admin's change (when it can be read) is
left alone.
"""

import ciphermail_split_state as state
import pytest
from ciphermail_gateway_values import UNKNOWN
from ciphermail_split_ledger import Ledger


@pytest.fixture
def ledger(tmp_path):
    return Ledger(str(tmp_path / "state"))


def take_back(ledger, current, test=False):
    written, changes, kept = {}, {}, []
    restored, released = state.take_back(
        test,
        changes,
        ledger,
        "global_property",
        {name: name for name in ("enabled", "header", "admins", "untouched")},
        lambda name: current.get(name, UNKNOWN),
        written.__setitem__,
        kept,
    )
    return {"restored": restored, "released": released, "kept": kept, "changes": changes, "written": written}


def applied_all(ledger):
    ledger.remember_applied("global_property", "enabled", "true")
    ledger.remember_applied("global_property", "header", "X-Keep: True")
    ledger.remember_applied("global_property", "admins", "true")


def test_unreadable_values_switch_off_what_the_formula_switched_on(ledger):
    applied_all(ledger)
    predicted = take_back(ledger, {}, test=True)
    assert predicted["written"] == {}
    done = take_back(ledger, {})
    assert done["changes"] == predicted["changes"] == {
        "enabled": {"old": UNKNOWN, "new": "false"},
        "admins": {"old": UNKNOWN, "new": "false"},
    }
    assert done["written"] == {"enabled": "false", "admins": "false"}
    assert done["kept"] == ["header"]
    # Everything is forgotten: a second take-back has nothing to do and reads nothing.
    assert take_back(ledger, {"enabled": "read!"}) == {
        "restored": [], "released": [], "kept": [], "changes": {}, "written": {},
    }  # fmt: skip


def test_readable_values_show_an_admins_change(ledger):
    applied_all(ledger)
    done = take_back(ledger, {"enabled": "true", "header": "X-Keep: True", "admins": "false"})
    assert done["written"] == {"enabled": "false"}
    assert done["released"] == ["admins"]
    assert done["kept"] == ["header"]


def test_a_record_puts_back_the_value_before_the_formula_even_unread(ledger):
    ledger.remember("global_property", "header", "X-Old: 1", "X-Keep: True")
    done = take_back(ledger, {})
    assert done["written"] == {"header": "X-Old: 1"}
    assert ledger.record("global_property", "header") is None
