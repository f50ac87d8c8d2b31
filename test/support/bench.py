"""
Measuring ``state.apply`` runs on a sandboxed gateway, for ``make bench``
(bench/run.py) and its guard in the test suite: how many gateway and
Postfix commands one run makes, counted from the simulator's call log and
from the log of the sandbox's Postfix wrappers (``GatewaySandbox(...,
log_postfix=True)``), which files it writes, and how long it takes.
"""

import collections
import dataclasses
import pathlib
import statistics
import time

from support.masterless import MasterlessMinion, link_formula
from support.sandbox import POSTFIX_TOOLS, REPO_ROOT, GatewaySandbox, is_postfix_write, is_write_call

#: The hand-written alternative (bench/by_hand), installed beside the formula.
BY_HAND_DIR = REPO_ROOT / "bench" / "by_hand"

#: The columns of a run, in the order the bench prints them.
COUNTS = (
    "cli_calls",
    "cli_reads",
    "cli_writes",
    "playbook_runs",
    "postmap",
    "reload",
    "postconf_e",
    "postfix_reads",
    "files_written",
)


def postfix_calls(gateway):
    """
    The Postfix commands the sandbox's logging wrappers saw, as
    ``{"prog": tool, "argv": [its arguments without -c <dir>]}``.
    """
    calls = []
    for call in gateway.postfix_calls():
        tool, args = call["argv"][0], call["argv"][1:]
        if "-c" in args[:-1]:
            at = args.index("-c")
            args = args[:at] + args[at + 2 :]
        calls.append({"prog": tool, "argv": args})
    return calls


def _postfix_write(call):
    return is_postfix_write([call["prog"], *call["argv"]])


def file_stamps(gateway):
    """
    {path: (mtime, bytes)} of what a run may write: the Postfix configuration
    directory (without a spool), the Ansible vars directory and the formula's
    state directory.
    """
    stamps = {}
    for base in (gateway.postfix_dir, gateway.ansible_vars_dir, gateway.state_dir):
        for path in sorted(base.rglob("*")) if base.exists() else ():
            if path.is_file() and not {"spool", "data"} & set(path.relative_to(base).parts):
                stamps[str(path)] = (path.stat().st_mtime_ns, path.read_bytes())
    return stamps


def files_written(before, after):
    """The paths that a run created, removed, or wrote (even with the same bytes)."""
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))


def run_counts(sim_calls, pf_calls, written=()):
    """
    The counts of one run (keys: :data:`COUNTS`) from its simulator and
    Postfix calls and the files it wrote.
    """
    cli = [call for call in sim_calls if call["prog"] == "ciphermail-cli"]
    cli_writes = sum(1 for call in cli if is_write_call(call))
    return {
        "cli_calls": len(cli),
        "cli_reads": len(cli) - cli_writes,
        "cli_writes": cli_writes,
        "playbook_runs": sum(1 for call in sim_calls if call["prog"] == "cm-run-playbook"),
        "postmap": sum(1 for call in pf_calls if call["prog"] == "postmap" and _postfix_write(call)),
        "reload": sum(1 for call in pf_calls if call["prog"] == "postfix" and call["argv"] == ["reload"]),
        "postconf_e": sum(1 for call in pf_calls if call["prog"] == "postconf" and _postfix_write(call)),
        "postfix_reads": sum(1 for call in pf_calls if not _postfix_write(call)),
        "files_written": len(written),
    }


def is_read(call):
    """A read command: a ciphermail-cli get/list, or a Postfix command that changes nothing."""
    if call["prog"] in POSTFIX_TOOLS:
        return not _postfix_write(call)
    return call["prog"] == "ciphermail-cli" and not is_write_call(call)


def read_counts(calls):
    """{command line: times it ran} of the read commands among ``calls``."""
    counter = collections.Counter(" ".join([call["prog"], *call["argv"]]) for call in calls if is_read(call))
    return dict(sorted(counter.items()))


@dataclasses.dataclass
class Run:
    """One measured ``state.apply``."""

    kind: str
    wall_s: float
    returncode: int
    changes: dict
    counts: dict
    cli_reads: dict
    postfix_reads: dict
    written: list

    @property
    def ok(self):
        return self.returncode == 0


def measure_apply(minion, sls, kind):
    """Run ``state.apply sls`` once and measure it."""
    gateway = minion.gateway
    sim_before, pf_before, stamps = len(gateway.calls()), len(postfix_calls(gateway)), file_stamps(gateway)
    start = time.monotonic()
    state_run = minion.apply(sls)
    wall = time.monotonic() - start
    sim, pf = gateway.calls()[sim_before:], postfix_calls(gateway)[pf_before:]
    written = files_written(stamps, file_stamps(gateway))
    # The next highstate comes minutes later: Postfix would wait on a just-written main.cf.
    gateway.age_config()
    return Run(
        kind=kind,
        wall_s=round(wall, 3),
        returncode=state_run.returncode,
        changes=state_run.changes if state_run.data is not None else {"error": repr(state_run)},
        counts=run_counts(sim, pf, written),
        cli_reads=read_counts(sim),
        postfix_reads=read_counts(pf),
        written=[str(pathlib.Path(path).relative_to(gateway.root)) for path in written],
    )


def measure_runs(minion, sls, converged_runs):
    """The first apply on a fresh gateway, then ``converged_runs`` applies more."""
    runs = [measure_apply(minion, sls, "first")]
    runs.extend(measure_apply(minion, sls, "converged") for _ in range(converged_runs))
    return runs


def bench_minion(root, name, pillar, sim_env):
    """
    A synced masterless minion for a fresh sandboxed gateway under ``root``,
    its Postfix commands logged and the simulator's ``sim_env`` (latency,
    playbook delay) in ``lookup:command_env``, which the formula and the
    hand-written alternative both pass to the gateway commands. The
    alternative's SLS tree is installed as ``by_hand``.
    """
    root = pathlib.Path(root).resolve()
    gateway = GatewaySandbox(root / "gateway", log_postfix=True)
    given = pillar.get("lookup", {})
    lookup = {**given, "command_env": {**given.get("command_env", {}), **sim_env}}
    file_root = link_formula(root / "salt" / "file-root")
    (file_root / "by_hand").symlink_to(BY_HAND_DIR)
    fileserver = {"file_roots": {"base": [str(file_root)]}}
    minion = MasterlessMinion(root / "salt", f"{name}-minion", gateway, {**pillar, "lookup": lookup}, fileserver)
    minion.sync()
    return minion


def summary(runs):
    """{"first": counts and wall of the first run, "converged": medians of the others}."""
    first, converged = runs[0], runs[1:]
    result = {"first": {**first.counts, "wall_s": first.wall_s}}
    if converged:
        result["converged"] = {
            key: statistics.median(run.counts[key] for run in converged) for key in COUNTS
        } | {"wall_s": round(statistics.median(run.wall_s for run in converged), 3)}
        result["converged_max"] = {key: max(run.counts[key] for run in converged) for key in COUNTS}
    return result
