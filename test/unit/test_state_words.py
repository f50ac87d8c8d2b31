"""
Every state of the formula words its comment the way Salt's own states do:
``... would be <verb>`` under test=True, ``... has been <verb>`` when done,
``... is already <state>`` when there is nothing to do. The words come from
one place, ``ciphermail_split_state``; the contract checks in
``support.contract`` hold every state of every role run to them.
"""

import ciphermail_split_state as state
import pytest


@pytest.mark.parametrize(
    "test, made, expected",
    [
        (True, {"x": {}}, "Global property trigger-webmail-header would be set"),
        (False, {"x": {}}, "Global property trigger-webmail-header has been set"),
        (True, {}, "Global property trigger-webmail-header is already set"),
        (False, {}, "Global property trigger-webmail-header is already set"),
    ],
)
def test_one_thing(test, made, expected):
    subject, plural = state.things("Global property", "Global properties", ["trigger-webmail-header"])
    assert state.report(test, made, subject, "set", "set", plural) == expected


@pytest.mark.parametrize(
    "test, made, expected",
    [
        (True, {"x": {}}, "Keys a, b in /f.yml would be removed"),
        (False, {"x": {}}, "Keys a, b in /f.yml have been removed"),
        (False, {}, "Keys a, b in /f.yml are already absent"),
    ],
)
def test_several_things(test, made, expected):
    subject, plural = state.things("Key", "Keys", ["a", "b"])
    assert state.report(test, made, f"{subject} in /f.yml", "removed", "absent", plural) == expected


def test_things_left_to_an_admin_are_said_so():
    assert state.released_note(["p"], ("Property", "Properties")) == (
        " Property p was changed by someone else since; left as it is."
    )
    assert state.released_note([], ("Property", "Properties")) == ""


def test_test_mode_is_read_one_way():
    assert state.is_test({"test": True}) is True
    assert state.is_test({"test": None}) is False
    assert state.is_test({}) is False
