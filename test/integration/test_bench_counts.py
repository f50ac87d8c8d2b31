"""
``make bench`` counts, without latency or timing: a converged run of each
role, counted as the bench counts it (simulator call log, logged Postfix
commands, files written), makes no write of any kind. The first run's
writes show that the counting sees them.
"""

import pytest
from support.bench import bench_minion, measure_runs
from support.values import MAIN_PILLAR, PORTAL_PILLAR

pytestmark = pytest.mark.integration

#: What the first apply on a fresh sandbox does, per role (no Postfix running: no reload).
FIRST_RUN_WRITES = {
    "main": {"cli_writes": 0, "playbook_runs": 1, "postmap": 1, "reload": 0, "postconf_e": 1},
    "portal": {"cli_writes": 6, "playbook_runs": 0, "postmap": 0, "reload": 0, "postconf_e": 0},
}
NO_WRITES = {"cli_writes": 0, "playbook_runs": 0, "postmap": 0, "reload": 0, "postconf_e": 0}


@pytest.mark.parametrize("role, pillar", [("main", MAIN_PILLAR), ("portal", PORTAL_PILLAR)])
def test_a_converged_run_writes_nothing_by_the_bench_counts(tmp_path, role, pillar):
    minion = bench_minion(tmp_path, role, pillar, {"CIPHERMAIL_SIM_LATENCY_MS": "0"})
    first, converged = measure_runs(minion, "ciphermail_split", converged_runs=1)
    assert first.ok and converged.ok, (first, converged)
    assert {key: first.counts[key] for key in FIRST_RUN_WRITES[role]} == FIRST_RUN_WRITES[role]
    assert first.written
    assert converged.changes == {}
    assert {key: converged.counts[key] for key in NO_WRITES} == NO_WRITES
    assert converged.written == []
    assert all(times == 1 for times in converged.cli_reads.values()), converged.cli_reads
