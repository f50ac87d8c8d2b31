"""
Execution module for the Ansible side of a CipherMail gateway: the
formula's override file in the Ansible vars directory
(``/etc/ciphermail/ansible/group_vars/all``), what Ansible reads from that
directory, and ``cm-run-playbook``, which applies it.

Paths, the playbook command and its timeout come from the host settings
(``ciphermail_split:lookup``, see ``ciphermail_split.settings``). The
override file is edited in place (other keys and comments are kept) and
written atomically; a change leaves a ``cm-run-playbook`` run pending in the
ledger until the playbook succeeds. Text handling is in
``_utils/ciphermail_ansible_vars.py``.
"""

import contextlib
import datetime
import errno
import fcntl
import logging
import os
import signal
import subprocess
import time

import ciphermail_ansible_vars as vars_files
import ciphermail_gateway_values as gateway_values
import ciphermail_split_commands as commands
import ciphermail_split_files as files
import ciphermail_split_ledger
import ciphermail_split_reads as reads
import ciphermail_split_settings as split_settings
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "ciphermail_ansible"

#: Lines of playbook output shown when it fails.
PLAYBOOK_TAIL_LINES = 20
PLAYBOOK_LOG = "playbook.log"
#: The lock one cm-run-playbook holds at a time (in state_dir).
PLAYBOOK_LOCK = "playbook.lock"
LOCK_POLL_SECONDS = 0.2
#: Mode of an override file the formula creates (Ansible runs as root); an
#: existing file keeps the admin's mode and owner.
OVERRIDE_MODE = 0o644


def __virtual__():
    return __virtualname__


def _settings():
    return split_settings.effective(__opts__, __pillar__)


def _ledger(conf):
    return ciphermail_split_ledger.Ledger(conf["state_dir"])


# -- the override file ----------------------------------------------------------------


def normalise_override(values):
    """
    Return override ``values`` as they are written to the file: keys checked
    to be Ansible variable names, scalar values, booleans in any spelling as
    YAML booleans.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_ansible.normalise_override '{ciphermail_backend__remote_portal_enabled: "TRUE"}'
    """
    return gateway_values.normalise_override(values)


def override_path():
    """
    Return the path of the formula's Ansible override file
    (``ansible_vars_dir``/``override_file`` of the host settings).

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_ansible.override_path
    """
    conf = _settings()
    return os.path.join(conf["ansible_vars_dir"], conf["override_file"])


def override_dir_missing():
    """
    Return the topmost directory that creating the override file would
    create (the Ansible vars directory or one above it), or None when the
    vars directory exists.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_ansible.override_dir_missing
    """
    vars_dir = _settings()["ansible_vars_dir"]
    if os.path.lexists(vars_dir):
        return None
    top = vars_dir
    while not os.path.lexists(os.path.dirname(top)) and os.path.dirname(top) != top:
        top = os.path.dirname(top)
    return top


def override_dir_remove(top):
    """
    Remove the Ansible vars directory and the directories above it up to
    ``top`` (the one the formula created first), each only while it is
    empty. Returns True when the vars directory is gone.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_ansible.override_dir_remove /etc/ciphermail/ansible
    """
    vars_dir = _settings()["ansible_vars_dir"]
    top = os.path.normpath(str(top))
    if os.path.commonpath([vars_dir, top]) != top:
        raise CommandExecutionError(f"top: got {top!r}; expected {vars_dir} or a directory above it")
    reads.forget(__context__)
    current = vars_dir
    try:
        while True:
            os.rmdir(current)
            if current == top:
                return True
            current = os.path.dirname(current)
    except OSError as exc:
        if current != vars_dir or exc.errno == errno.ENOENT:
            return not os.path.lexists(vars_dir)  # a parent that holds other files stays
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return False
        raise CommandExecutionError(f"Cannot remove {vars_dir}: {exc}") from exc


def override_read():
    """
    Return the variables of the formula's override file as parsed YAML
    (``{}`` when the file does not exist).

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_ansible.override_read
    """
    path = override_path()
    return vars_files.parse(files.read_text(path), path)


def _vars_files(vars_dir, prefix=""):
    """The files Ansible reads from a group_vars directory, in its order, as ``(name, path)``."""
    try:
        names = sorted(os.listdir(vars_dir))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if not vars_files.is_vars_file(name):
            continue
        path = os.path.join(vars_dir, name)
        if os.path.isdir(path):
            if not os.path.splitext(name)[1]:
                found.extend(_vars_files(path, f"{prefix}{name}/"))
        else:
            found.append((f"{prefix}{name}", path))
    return found


def ansible_vars():
    """
    Return what Ansible reads from the vars directory: every ``.yml``,
    ``.yaml``, ``.json`` or extension-less file (subdirectories too, hidden
    files not) in name order, a later file overriding an earlier one.
    Returns ``{"values": {...}, "origin": {key: file name}}``.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_ansible.ansible_vars
    """
    values, origin = {}, {}
    for name, path in _vars_files(_settings()["ansible_vars_dir"]):
        for key, value in vars_files.parse(files.read_text(path), path).items():
            values[key] = value
            origin[key] = name
    return {"values": values, "origin": origin}


def override_shadowed(values):
    """
    Return ``{key: file}`` for the keys of ``values`` that a file Ansible
    reads *after* the override file sets to another value (that file would
    win).

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_ansible.override_shadowed '{ciphermail_backend__remote_portal_enabled: true}'
    """
    conf = _settings()
    shadowed = {}
    later = False
    for name, path in _vars_files(conf["ansible_vars_dir"]):
        if name == conf["override_file"]:
            later = True
            continue
        if not later and name > conf["override_file"]:
            later = True
        if later:
            for key, value in vars_files.parse(files.read_text(path), path).items():
                if key in values and gateway_values.normalise_value(value) != gateway_values.normalise_value(
                    values[key]
                ):
                    shadowed[key] = name
    return shadowed


def _write_override(conf, path, text, expected):
    # The edit is textual (comments survive); prove it parses to what we mean.
    if vars_files.parse(text, path) != expected:
        raise CommandExecutionError(
            f"{path}: cannot edit this file in place (it is not a plain block mapping); "
            "move its content to another *.yml file of the directory"
        )
    # Pending first: a run that dies after the write must still lead to a playbook run.
    _ledger(conf).set_playbook_pending(True)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError as exc:
        raise CommandExecutionError(f"Cannot create {os.path.dirname(path)}: {exc}") from exc
    reads.forget(__context__)
    files.write_text(path, text, new_file_mode=OVERRIDE_MODE)


def override_set(values):
    """
    Set top-level keys of the override file (created when missing, mode
    0644, written atomically). Other keys and comments are kept. When the
    file changes, a ``cm-run-playbook`` run is remembered as pending.
    Returns ``{"changed": bool, "created": bool}``.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_ansible.override_set '{ciphermail_backend__remote_portal_enabled: true}'
    """
    values = gateway_values.normalise_override(values)
    conf = _settings()
    path = override_path()
    text = files.read_text(path)
    current = vars_files.parse(text, path)
    wanted = {**current, **values}
    if text is not None and gateway_values.same_values(current, wanted):
        return {"changed": False, "created": False}
    _write_override(conf, path, vars_files.edit(text, values, ()), wanted)
    return {"changed": True, "created": text is None}


def override_remove(keys):
    """
    Remove top-level ``keys`` from the override file, keeping everything
    else. A change remembers a pending ``cm-run-playbook`` run. Returns
    ``{"changed": bool}``.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_ansible.override_remove '[ciphermail_backend__remote_portal_enabled]'
    """
    conf = _settings()
    path = override_path()
    text = files.read_text(path)
    current = vars_files.parse(text, path)
    present = [key for key in keys if key in current]
    if not present:
        return {"changed": False}
    wanted = {key: value for key, value in current.items() if key not in present}
    _write_override(conf, path, vars_files.edit(text, {}, present), wanted)
    return {"changed": True}


def override_delete_if_empty():
    """
    Delete the override file when it holds no variable any more (only
    comments, or nothing). Returns True when it was deleted.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_ansible.override_delete_if_empty
    """
    conf = _settings()
    path = override_path()
    text = files.read_text(path)
    if text is None or vars_files.parse(text, path):
        return False
    _ledger(conf).set_playbook_pending(True)
    reads.forget(__context__)
    try:
        os.remove(path)
    except OSError as exc:
        raise CommandExecutionError(f"Cannot delete {path}: {exc}") from exc
    return True


# -- cm-run-playbook -------------------------------------------------------------


def playbook_pending():
    """
    Return True when the override changed and ``cm-run-playbook`` has not
    yet succeeded since (the ledger remembers it across runs).

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_ansible.playbook_pending
    """
    return _ledger(_settings()).playbook_pending


def playbook_run(only_if_pending=False):
    """
    Run ``cm-run-playbook`` (it applies the Ansible configuration, minutes on
    a real gateway) with the configured ``playbook_timeout``. Its output goes
    to ``<state_dir>/playbook.log``. Success clears the pending mark; failure
    or timeout keeps it so the next state run tries again, and raises with
    the last lines of the output.

    One run at a time: the run holds ``<state_dir>/playbook.lock``, and so
    does the playbook itself until it ends, even when the Salt process that
    started it is killed. Another run waits for it, up to
    ``playbook_timeout``, else raises saying that another run is in
    progress. ``only_if_pending``: once the lock is taken, run only if a run
    is still pending (the one waited for may have applied everything).

    Returns ``ran``, ``waited`` (seconds spent waiting for another run),
    ``seconds`` and ``log``.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_ansible.playbook_run
    """
    conf = _settings()
    commands.require(conf, ["playbook_cmd"])
    log_path = os.path.join(conf["state_dir"], PLAYBOOK_LOG)
    try:
        os.makedirs(conf["state_dir"], mode=0o700, exist_ok=True)
    except OSError as exc:
        raise CommandExecutionError(f"Cannot create the ciphermail_split state directory: {exc}") from exc
    ledger = _ledger(conf)
    with _playbook_lock(conf) as (lock, waited):
        if only_if_pending and not ledger.playbook_pending:
            return {"ran": False, "waited": waited, "seconds": 0, "log": log_path}
        reads.forget(__context__)  # the playbook may change what the CLI reports
        started = time.monotonic()
        outcome = _run_logged(conf["playbook_cmd"], conf["command_env"], conf["playbook_timeout"], log_path, lock)
        elapsed = round(time.monotonic() - started, 1)
    if outcome == 0:
        ledger.set_playbook_pending(False)
        return {"ran": True, "waited": waited, "seconds": elapsed, "log": log_path}
    ledger.set_playbook_pending(True)
    reason = f"timed out (playbook_timeout: {conf['playbook_timeout']} s)" if outcome is None else f"failed (exit {outcome})"
    tail = "\n".join(_tail(log_path, PLAYBOOK_TAIL_LINES))
    raise CommandExecutionError(
        f"cm-run-playbook {reason} after {elapsed} s; "
        f"it will run again on the next state run. Last lines of its output ({log_path}):\n{tail}"
    )


@contextlib.contextmanager
def _playbook_lock(conf):
    """
    Hold the playbook lock (``flock``: the lock belongs to the open file, so
    the playbook, which inherits it, keeps it after this process dies);
    wait for another holder up to ``playbook_timeout``. Yields the open lock
    file and the seconds waited.
    """
    path = os.path.join(conf["state_dir"], PLAYBOOK_LOCK)
    started = time.monotonic()
    try:
        handle = open(path, "a+", encoding="utf-8")  # pylint: disable=consider-using-with
        os.chmod(path, 0o600)
    except OSError as exc:
        raise CommandExecutionError(f"Cannot open the playbook lock {path}: {exc}") from exc
    with handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - started >= conf["playbook_timeout"]:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    raise CommandExecutionError(
                        f"another cm-run-playbook run is in progress ({holder}; lock {path}): "
                        f"waited {conf['playbook_timeout']} s ({split_settings.LOOKUP_KEY}:playbook_timeout) "
                        "for it to end. The next state run tries again"
                    ) from None
                time.sleep(LOCK_POLL_SECONDS)
        yield handle, round(time.monotonic() - started, 1)


def _note_holder(lock, pid):
    """Write who holds the lock into it, for the message of a run that waits in vain."""
    when = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    lock.seek(0)
    lock.truncate()
    lock.write(f"process {pid}, started {when}")
    lock.flush()


def _run_logged(argv, extra_env, timeout, log_path, lock):
    """
    Run argv with output to log_path, handing it the playbook ``lock`` to
    hold; return its exit code, or None on timeout.
    """
    log.info("Running %s (timeout %s s, output in %s)", argv[-1], timeout, log_path)
    try:
        with open(log_path, "wb") as output:
            os.chmod(log_path, 0o600)
            process = subprocess.Popen(  # pylint: disable=consider-using-with
                argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, **extra_env},
                start_new_session=True,
                pass_fds=(lock.fileno(),),
            )
            _note_holder(lock, process.pid)
            try:
                return process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return None
    except OSError as exc:
        raise CommandExecutionError(
            f"{split_settings.LOOKUP_KEY}:playbook_cmd: cannot run {argv[0]}: {exc.strerror or exc}"
        ) from exc


def _tail(path, count):
    text = files.read_text(path) or ""
    return text.splitlines()[-count:]
