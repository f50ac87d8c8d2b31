"""
What a state run costs the gateway: a converged run writes nothing and runs
each read command once; a changing run reads an object again only after
something was written (to verify the write). Counted from the simulator's
call log and from the Postfix commands the formula ran (logging wrappers
that also note a checksum of the Postfix config files at each command).
"""

import collections

import pytest
from support.masterless import MasterlessMinion
from support.sandbox import is_postfix_write, is_write_call
from support.values import MAIN_PILLAR, PORTAL_PILLAR

pytestmark = pytest.mark.integration


def cli_reads_repeated(calls):
    """ciphermail-cli reads run again with no gateway write in between."""
    seen, repeated = set(), []
    for call in calls:
        argv = (call["prog"], *call["argv"])
        if is_write_call(call):
            seen.clear()
        elif argv in seen:
            repeated.append(argv)
        seen.add(argv)
    return repeated


def postfix_reads_repeated(calls):
    """Postfix reads run again on unchanged config files (same checksum)."""
    counts = collections.Counter(
        (call["config"], tuple(call["argv"])) for call in calls if not is_postfix_write(call["argv"])
    )
    return [argv for (_, argv), count in counts.items() if count > 1]


def apply_counted(minion, sls):
    """``state.apply sls``; returns the run, its ciphermail-cli calls and its Postfix commands."""
    cli_since, postfix_since = len(minion.gateway.calls()), len(minion.gateway.postfix_calls())
    run = minion.apply(sls)
    assert run.returncode == 0, run
    return run, minion.gateway.calls()[cli_since:], minion.gateway.postfix_calls()[postfix_since:]


@pytest.mark.parametrize("role, pillar", [("main", MAIN_PILLAR), ("portal", PORTAL_PILLAR)])
def test_each_object_is_read_once_per_run(tmp_path, role, pillar):
    minion = MasterlessMinion.synced(tmp_path, role, pillar, log_postfix=True)
    for sls in ("ciphermail_split", "ciphermail_split.clean"):
        changing, cli, postfix = apply_counted(minion, sls)
        assert changing.changes, changing
        assert cli_reads_repeated(cli) == [] and postfix_reads_repeated(postfix) == []

        converged, cli, postfix = apply_counted(minion, sls)
        assert converged.changes == {}
        assert [call for call in cli if is_write_call(call)] == []
        assert [call for call in postfix if is_postfix_write(call["argv"])] == []
        everything = [(call["prog"], *call["argv"]) for call in cli] + [tuple(call["argv"]) for call in postfix]
        assert {argv: n for argv, n in collections.Counter(everything).items() if n > 1} == {}
