"""
``make bench``: what a state run costs on a gateway, the formula against
the SLS an admin writes by hand from the vendor's page (bench/by_hand).

For each role, in a fresh sandbox each (the gateway simulator with
``CIPHERMAIL_SIM_LATENCY_MS`` per call and a playbook that works
``CIPHERMAIL_SIM_PLAYBOOK_SECONDS``; real Postfix, running when we are
root): the first apply, then ``BENCH_RUNS`` converged applies, with
salt-call as an admin runs it. The counts come from the simulator's call
log, from a log that wrappers of postconf/postmap/postfix keep, and from
the files the run wrote. Prints a table per role and writes
build/bench/results.json.

The portal also gets a third subject, the formula in documented-only mode
(``cli_read_back: false``) against a CLI that knows only the documented
commands.

Exit code 1 if a run fails, if a converged formula run writes anything
(a CLI write, a playbook run, postmap, a reload, postconf -e, a file), if
it reads the gateway more often than the hand-written SLS does, or if a
converged documented-only run makes any CLI call.
"""

import json
import os
import pathlib
import shutil
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "test"))

from support.bench import COUNTS, bench_minion, measure_runs, summary  # noqa: E402
from support.values import MAIN_PILLAR, PORTAL_PILLAR  # noqa: E402

OUT_DIR = REPO_ROOT / "build" / "bench"
ROLES = {"main": MAIN_PILLAR, "portal": PORTAL_PILLAR}
#: What is measured: the formula, and the hand-written SLS of the role.
SUBJECTS = {"formula": "ciphermail_split", "by hand": "by_hand.{role}"}
#: The formula in documented-only mode (``cli_read_back: false``) against a
#: CLI that knows only the documented commands: the portal, the role that
#: runs ciphermail-cli. A converged run must make no CLI call at all.
DOCUMENTED_ONLY = "documented-only"
EXTRA_SUBJECTS = {"portal": {DOCUMENTED_ONLY: "ciphermail_split"}}
#: What a converged formula run must not do at all.
MUST_BE_ZERO = ("cli_writes", "playbook_runs", "postmap", "reload", "postconf_e", "files_written")
HEADINGS = {
    "cli_calls": "CLI calls",
    "cli_reads": "CLI reads",
    "cli_writes": "CLI writes",
    "playbook_runs": "playbook",
    "postmap": "postmap",
    "reload": "reload",
    "postconf_e": "postconf -e",
    "postfix_reads": "Postfix reads",
    "files_written": "files written",
    "wall_s": "wall s",
}


def settings():
    """The bench's knobs, from the environment (make passes its variables on)."""
    return {
        "latency_ms": int(os.environ.get("CIPHERMAIL_SIM_LATENCY_MS", "150")),
        "playbook_seconds": float(os.environ.get("CIPHERMAIL_SIM_PLAYBOOK_SECONDS", "3")),
        "converged_runs": int(os.environ.get("BENCH_RUNS", "5")),
        "postfix_running": os.geteuid() == 0,
    }


def subjects(role):
    """``{subject: SLS}`` measured on ``role``."""
    return {**SUBJECTS, **EXTRA_SUBJECTS.get(role, {})}


def measure(role, subject, conf):
    """The runs of one subject on one role, in a fresh sandbox."""
    root = OUT_DIR / "sandbox" / role / subject.replace(" ", "_")
    sim_env = {
        "CIPHERMAIL_SIM_LATENCY_MS": str(conf["latency_ms"]),
        "CIPHERMAIL_SIM_PLAYBOOK_SECONDS": str(conf["playbook_seconds"]),
    }
    pillar = ROLES[role]
    if subject == DOCUMENTED_ONLY:
        sim_env["CIPHERMAIL_SIM_DOCUMENTED_ONLY"] = "1"
        pillar = {**pillar, "lookup": {**pillar.get("lookup", {}), "cli_read_back": False}}
    minion = bench_minion(root, role, pillar, sim_env)
    if conf["postfix_running"]:
        minion.gateway.start_postfix(root / "postfix-run")
    try:
        return measure_runs(minion, subjects(role)[subject].format(role=role), conf["converged_runs"])
    finally:
        minion.gateway.stop_postfix()


def ratio(numerator, denominator):
    if denominator:
        return f"{numerator / denominator:.2f}"
    return "-" if not numerator else "inf"


def table(role, results):
    """The printed table of one role."""
    keys = (*COUNTS, "wall_s")
    widths = [max(len(HEADINGS[key]), 6) for key in keys]
    runs = len(results["formula"]["runs"]) - 1
    lines = [
        f"== role {role}: formula (ciphermail_split) vs by hand (bench/by_hand/{role}.sls); "
        f"per run, converged = median of {runs} runs"
    ]
    lines.append(f"{'run':<26}" + "".join(f"{HEADINGS[key]:>{width + 2}}" for key, width in zip(keys, widths)))
    for kind in ("first", "converged"):
        for subject in results:
            row = results[subject]["summary"][kind]
            cells = "".join(f"{_cell(key, row[key]):>{width + 2}}" for key, width in zip(keys, widths))
            lines.append(f"{kind + ' ' + subject:<26}" + cells)
        formula, by_hand = (results[subject]["summary"][kind] for subject in SUBJECTS)
        cells = "".join(f"{ratio(formula[key], by_hand[key]):>{width + 2}}" for key, width in zip(keys, widths))
        lines.append(f"{'  formula/by hand':<26}" + cells)
    return "\n".join(lines)


def _cell(key, value):
    if key == "wall_s" or not float(value).is_integer():
        return f"{value:.2f}"
    return str(int(value))


def reads_report(role, runs):
    """The read commands of the first converged formula run, with how often each ran."""
    run = runs[1]
    lines = [f"-- reads of one converged formula run, role {role} (command: times)"]
    for command, times in {**run.cli_reads, **run.postfix_reads}.items():
        mark = "   <- read more than once" if times > 1 else ""
        lines.append(f"   {times}  {command}{mark}")
    if len(lines) == 1:
        lines.append("   (none)")
    return "\n".join(lines)


def failures(role, results):
    """What makes the bench fail for one role (a list of sentences)."""
    problems = []
    for subject, result in results.items():
        for number, run in enumerate(result["runs"]):
            if run.returncode or (number and run.changes):
                problems.append(f"{role}, {subject}, run {number + 1}: exit code {run.returncode}, changes {run.changes}")
    worst = results["formula"]["summary"]["converged_max"]
    for key in MUST_BE_ZERO:
        if worst[key]:
            problems.append(f"{role}: a converged formula run made {worst[key]} {HEADINGS[key]}")
    if DOCUMENTED_ONLY in results:
        worst_documented = results[DOCUMENTED_ONLY]["summary"]["converged_max"]
        for key in (*MUST_BE_ZERO, "cli_calls"):
            if worst_documented[key]:
                problems.append(f"{role}: a converged documented-only run made {worst_documented[key]} {HEADINGS[key]}")
    by_hand = min(run.counts["cli_reads"] for run in results["by hand"]["runs"][1:])
    if worst["cli_reads"] > by_hand:
        problems.append(f"{role}: a converged formula run made {worst['cli_reads']} CLI reads, by hand {by_hand}")
    return problems


def main():
    conf = settings()
    shutil.rmtree(OUT_DIR / "sandbox", ignore_errors=True)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    if conf["converged_runs"] < 1:
        sys.exit("BENCH_RUNS must be 1 or more")
    print(
        f"bench: {conf['latency_ms']} ms per gateway command, playbook {conf['playbook_seconds']} s, "
        f"first apply + {conf['converged_runs']} converged applies each, "
        f"Postfix {'running' if conf['postfix_running'] else 'not running (not root)'}",
        flush=True,
    )
    report, problems = {"settings": conf, "roles": {}}, []
    for role in ROLES:
        results = {}
        for subject in subjects(role):
            print(f"   measuring {role} / {subject} ...", flush=True)
            runs = measure(role, subject, conf)
            results[subject] = {"runs": runs, "summary": summary(runs)}
        print("\n" + table(role, results) + "\n\n" + reads_report(role, results["formula"]["runs"]) + "\n", flush=True)
        problems += failures(role, results)
        report["roles"][role] = {
            subject: {"summary": result["summary"], "runs": [vars(run) for run in result["runs"]]}
            for subject, result in results.items()
        }
    report["failures"] = problems
    (OUT_DIR / "results.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"results: {OUT_DIR / 'results.json'}")
    for problem in problems:
        print(f"FAIL: {problem}")
    print("bench: FAIL" if problems else "bench: OK (converged formula runs write nothing and read no more than by hand)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
