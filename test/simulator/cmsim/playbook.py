"""cm-run-playbook: read the Ansible vars directory, "run" for a while, apply at the end.

Exit codes: 0 success; 2 usage error, unusable vars file, or a failed task
(injected fault ``run-playbook``). State is changed only after the last
task, in one atomic write: a run that fails or is killed applies nothing.
"""

import sys
import time

from . import ansible_vars, faults, runner, settings
from .errors import EXIT_OK, EXIT_USAGE

PROG = "cm-run-playbook"
HOST = "localhost"
ROLE = "ciphermail_backend"


def main(argv=None, environ=None):
    """Entry point of the ``cm-run-playbook`` executable; returns the exit code."""
    return runner.run(PROG, argv, _invoke, environ)


def _invoke(argv, environ, store):
    if argv:
        sys.stderr.write(
            "usage: %s\n%s: error: no arguments are accepted, got %s\n"
            % (PROG, PROG, " ".join(argv))
        )
        return EXIT_USAGE
    vars_dir = settings.ansible_vars_dir(environ, store.home)
    duration = settings.playbook_seconds(environ)
    fault = faults.matching_prefix([faults.PLAYBOOK_COMMAND], settings.fault_spec(environ))

    _banner("PLAY [CipherMail gateway]")
    try:
        merged, files = ansible_vars.load(vars_dir)
    except ansible_vars.VarsFileError as exc:
        sys.stdout.flush()
        sys.stderr.write("%s\n" % exc)
        return EXIT_USAGE
    _task("Gathering Facts", "ok")
    _task("%s : Load group_vars/all (%d file(s))" % (ROLE, len(files)), "ok")
    time.sleep(duration)

    if fault is not None:
        _banner("TASK [%s : Configure back-end]" % ROLE)
        _say('fatal: [%s]: FAILED! => {"changed": false, "msg": "injected fault: %s"}' % (HOST, fault))
        _recap(ok=2, changed=0, failed=1)
        return EXIT_USAGE

    with store.transaction() as state:
        book = state["playbook"]
        changed = book["applied"] != merged
        book["runs"] += 1
        book["applied"] = merged
        book["files"] = files
    _task("%s : Configure back-end" % ROLE, "changed" if changed else "ok")
    _recap(ok=3, changed=int(changed), failed=0)
    return EXIT_OK


def _say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _banner(title):
    title += " "
    _say("")
    _say(title + "*" * max(3, 79 - len(title)))


def _task(name, status):
    _banner("TASK [%s]" % name)
    _say("%s: [%s]" % (status, HOST))


def _recap(ok, changed, failed):
    _banner("PLAY RECAP")
    _say(
        "%-26s : ok=%d    changed=%d    unreachable=0    failed=%d    "
        "skipped=0    rescued=0    ignored=0" % (HOST, ok, changed, failed)
    )
