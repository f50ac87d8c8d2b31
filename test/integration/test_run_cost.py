"""
What a state run costs the gateway, counted as ``make bench`` counts it
(simulator call log, the sandbox's logged Postfix commands, files written),
without latency or timing:

- a changing run (apply, clean) reads an object again only after
  something was written, to verify the write; its writes show that the
  counting sees them;
- a converged run writes nothing of any kind and runs each read once;
  clean's last state (``split_mode_absent``) reads the gateway once more,
  after the states that take split mode back, to show that it is gone.
"""

import collections

import pytest
from support.bench import bench_minion, measure_apply
from support.sandbox import is_postfix_write, is_write_call
from support.values import MAIN_PILLAR, PORTAL_PILLAR

pytestmark = [pytest.mark.integration, pytest.mark.default_salt_only]

#: What the first apply on a fresh sandbox writes, per role (no Postfix running: no reload).
FIRST_RUN_WRITES = {
    "main": {"cli_writes": 0, "playbook_runs": 1, "postmap": 1, "reload": 0, "postconf_e": 0},
    "portal": {"cli_writes": 6, "playbook_runs": 0, "postmap": 0, "reload": 0, "postconf_e": 0},
    # A table each for the transport entry and the TLS policies: postmap each (main.cf is edited as text).
    "main with portal nodes and TLS": {"cli_writes": 0, "playbook_runs": 1, "postmap": 2, "reload": 0, "postconf_e": 0},
}
CLUSTER_PILLAR = {
    **MAIN_PILLAR,
    "portal_server": ["portal-a.dmz.example.net", "portal-b.dmz.example.net"],
    "portal_tls": {"level": "secure", "match": ".dmz.example.net"},
}
NO_WRITES = {"cli_writes": 0, "playbook_runs": 0, "postmap": 0, "reload": 0, "postconf_e": 0}


def cli_reads_repeated(calls, times=1):
    """ciphermail-cli reads run more than ``times`` times with no gateway write in between."""
    seen, repeated = collections.Counter(), []
    for call in calls:
        argv = (call["prog"], *call["argv"])
        if is_write_call(call):
            seen.clear()
            continue
        seen[argv] += 1
        if seen[argv] > times:
            repeated.append(argv)
    return repeated


def postfix_reads_repeated(calls, times=1):
    """Postfix reads run more than ``times`` times on unchanged config files (same checksum)."""
    counts = collections.Counter(
        (call["config"], tuple(call["argv"])) for call in calls if not is_postfix_write(call["argv"])
    )
    return [argv for (_, argv), count in counts.items() if count > times]


@pytest.mark.parametrize(
    "case, pillar",
    [("main", MAIN_PILLAR), ("portal", PORTAL_PILLAR), ("main with portal nodes and TLS", CLUSTER_PILLAR)],
)
def test_a_run_reads_each_object_once_and_a_converged_run_writes_nothing(tmp_path, case, pillar):
    role = pillar["role"]
    minion = bench_minion(tmp_path, role, pillar, {"CIPHERMAIL_SIM_LATENCY_MS": "0"})
    gateway = minion.gateway
    for sls in ("ciphermail_split", "ciphermail_split.clean"):
        times = 2 if sls.endswith(".clean") else 1  # clean's final check reads once more
        cli_since, postfix_since = len(gateway.calls()), len(gateway.postfix_calls())
        changing = measure_apply(minion, sls, "first")
        assert changing.ok and changing.changes and changing.written, changing
        if sls == "ciphermail_split":
            assert {key: changing.counts[key] for key in FIRST_RUN_WRITES[case]} == FIRST_RUN_WRITES[case]
        assert cli_reads_repeated(gateway.calls()[cli_since:], times) == []
        assert postfix_reads_repeated(gateway.postfix_calls()[postfix_since:], times) == []

        converged = measure_apply(minion, sls, "converged")
        assert converged.ok and converged.changes == {}, converged
        assert {key: converged.counts[key] for key in NO_WRITES} == NO_WRITES
        assert converged.written == []
        reads = {**converged.cli_reads, **converged.postfix_reads}
        assert {command: count for command, count in reads.items() if count > times} == {}

