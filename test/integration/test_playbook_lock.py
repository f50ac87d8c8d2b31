"""
One ``cm-run-playbook`` at a time on a gateway, whatever runs the formula:
two ``salt-call`` processes at once (``concurrent=True``), or a new run
while the playbook of a killed ``salt-call`` still works. A second run
waits for the first (up to ``playbook_timeout``), or fails saying another
run is in progress; it never starts a second playbook beside the first.

Each test runs real, separate salt-call processes against one sandboxed
main gateway; the simulated playbook works for a few seconds
(``CIPHERMAIL_SIM_PLAYBOOK_SECONDS``) behind a wrapper that logs when each
run starts and ends.
"""

import os
import shlex
import signal
import subprocess
import sys

import pytest
from support.masterless import MasterlessMinion, StateRun
from support.postfix_instance import wait_for
from support.sandbox import SIMULATOR_DIR
from support.values import MAIN_PILLAR, OVERRIDE_KEY

pytestmark = [pytest.mark.integration, pytest.mark.default_salt_only]

PLAYBOOK_STATE = "ciphermail_split-main-playbook-applied"
WORKS_SECONDS = "4"


def logging_playbook(directory):
    """cm-run-playbook behind a wrapper that logs ``start``/``end``, its pid and the time, one line each."""
    runs = directory / "playbook-runs"
    wrapper = directory / "cm-run-playbook-logged"
    simulator = shlex.join([sys.executable, str(SIMULATOR_DIR / "cm-run-playbook")])
    log = shlex.quote(str(runs))
    wrapper.write_text(
        "#!/bin/sh\n"
        f'echo "start $$ $(date +%s.%N)" >> {log}\n'
        f'{simulator} "$@"\nrc=$?\n'
        f'echo "end $$ $(date +%s.%N)" >> {log}\n'
        "exit $rc\n"
    )
    wrapper.chmod(0o755)
    return wrapper, runs


def playbook_runs(runs):
    """``[(start, end or None)]`` of each playbook run, in start order."""
    if not runs.exists():
        return []
    started, ended = {}, {}
    for line in runs.read_text().splitlines():
        event, pid, when = line.split()
        (started if event == "start" else ended)[pid] = float(when)
    return sorted((when, ended.get(pid)) for pid, when in started.items())


def assert_one_at_a_time(runs):
    spans = playbook_runs(runs)
    for (_, end), (next_start, _) in zip(spans, spans[1:]):
        assert end is not None and next_start >= end, spans


@pytest.fixture
def main(tmp_path):
    wrapper, runs = logging_playbook(tmp_path)
    minion = MasterlessMinion.synced(tmp_path / "main", "main", {**MAIN_PILLAR, "lookup": {"playbook_cmd": [str(wrapper)]}})
    minion.runs = runs
    return minion


def start_apply(minion, works=WORKS_SECONDS):
    """``salt-call state.apply`` as its own process, started now; its playbook works ``works`` seconds."""
    argv = [
        str(os.path.dirname(sys.executable) + "/salt-call"),
        "--local",
        f"--config-dir={minion.config_dir}",
        "--retcode-passthrough",
        "--out=json",
        "state.apply",
        "ciphermail_split",
        "concurrent=True",
    ]
    env = {**os.environ, "CIPHERMAIL_SIM_PLAYBOOK_SECONDS": works}
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finished(process):
    stdout, stderr = process.communicate(timeout=120)
    return StateRun(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))


def test_two_runs_at_once_run_the_playbook_once(main):
    first = start_apply(main, works="12")
    wait_for("the first playbook started", lambda: playbook_runs(main.runs))
    second = start_apply(main)
    first, second = finished(first), finished(second)

    assert first.returncode == 0, first
    assert second.returncode == 0, second
    assert first.changes[PLAYBOOK_STATE] == {"playbook": {"old": "pending", "new": "applied"}}
    # The second run waited for the first, which applied what it would have.
    assert PLAYBOOK_STATE not in second.changes, second
    assert "another run" in second.states[PLAYBOOK_STATE]["comment"], second.states[PLAYBOOK_STATE]
    assert len(playbook_runs(main.runs)) == 1
    assert "which this one waited" in second.states[PLAYBOOK_STATE]["comment"]
    assert main.gateway.sim_state()["playbook"]["applied"] == {OVERRIDE_KEY: True}


def test_the_playbook_of_a_killed_run_is_waited_for_and_never_doubled(main):
    killed = start_apply(main, works="15")
    wait_for("the first playbook started", lambda: playbook_runs(main.runs))
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert playbook_runs(main.runs)[0][1] is None  # its playbook still works

    # A run that may wait less than the playbook still takes: it fails, saying why.
    main.set_pillar({**MAIN_PILLAR, "lookup": {**main_lookup(main), "playbook_timeout": 1}})
    impatient = main.apply()
    assert impatient.returncode != 0, impatient
    assert impatient.results[PLAYBOOK_STATE] is False
    assert "another cm-run-playbook run is in progress" in impatient.states[PLAYBOOK_STATE]["comment"]
    assert len(playbook_runs(main.runs)) == 1
    assert playbook_runs(main.runs)[0][1] is None, "the killed run's playbook ended too soon for this test"

    # A patient run waits for it, then runs the playbook the killed run could not see through.
    main.set_pillar({**MAIN_PILLAR, "lookup": main_lookup(main)})
    patient = finished(start_apply(main))
    assert patient.returncode == 0, patient
    assert patient.changes[PLAYBOOK_STATE] == {"playbook": {"old": "pending", "new": "applied"}}
    assert len(playbook_runs(main.runs)) == 2
    assert_one_at_a_time(main.runs)


def main_lookup(minion):
    return {"playbook_cmd": [str(minion.runs.parent / "cm-run-playbook-logged")]}
