"""The read memo of one state (``_utils/ciphermail_split_reads.py``)."""

import ciphermail_split_reads as reads
import pytest


class Source:
    """A value that changes only when written; counts how often it was fetched."""

    def __init__(self):
        self.value, self.fetched = ["a"], 0

    def fetch(self):
        self.fetched += 1
        return list(self.value)


def test_outside_a_state_every_read_runs():
    context, source = {}, Source()
    assert reads.read(context, "k", source.fetch) == ["a"]
    assert reads.read(context, "k", source.fetch) == ["a"]
    assert source.fetched == 2 and context == {}


def test_within_a_state_a_read_runs_once_until_a_write():
    context, source = {}, Source()
    with reads.remembered(context):
        first = reads.read(context, "k", source.fetch)
        first.append("changed by the caller")
        assert reads.read(context, "k", source.fetch) == ["a"]
        assert source.fetched == 1
        source.value = ["b"]
        reads.forget(context)
        assert reads.read(context, "k", source.fetch) == ["b"]
        assert source.fetched == 2
    assert context == {}


def test_a_failed_read_is_not_remembered_and_the_memo_ends_with_the_state():
    context, calls = {}, []

    def failing():
        calls.append(1)
        raise OSError("down")

    with pytest.raises(OSError), reads.remembered(context):
        reads.read(context, "k", failing)
    with reads.remembered(context):
        for _ in range(2):
            with pytest.raises(OSError):
                reads.read(context, "k", failing)
    assert len(calls) == 3 and context == {}
