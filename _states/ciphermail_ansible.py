"""
States for the Ansible side of a CipherMail gateway in portal split-mode:
keys of the formula's Ansible override file, and the ``cm-run-playbook``
run that applies them.

The states read, predict and apply through the ``ciphermail_ansible``
execution module. A change to the override file leaves a playbook run
pending in the ledger; ``playbook_applied`` runs it (now, or on the next
state run if it failed), so an interrupted run is never forgotten. Before a
key changes, the ledger records what it was, so ``override_keys_absent``
takes back only what the formula did.
"""

import contextlib
import functools
import os

import ciphermail_gateway_values as gateway_values
import ciphermail_split_ledger
import ciphermail_split_state as state
from salt.exceptions import CommandExecutionError, SaltInvocationError

__virtualname__ = "ciphermail_ansible"

PLAYBOOK_CHANGE = {"playbook": {"old": "pending", "new": "applied"}}
PLAYBOOK = "cm-run-playbook"


def __virtual__():
    return __virtualname__




def _keys_in(path, keys):
    subject, plural = state.things("Key", "Keys", keys)
    return f"{subject} in {path}", plural


# -- the override file ----------------------------------------------------------------


def _refuse_overridden(path, wanted):
    """Fail when a file Ansible reads later would override one of our keys."""
    for key, origin in __salt__["ciphermail_ansible.override_shadowed"](wanted).items():
        raise CommandExecutionError(
            f"{key} is also set in {origin}, which Ansible reads after {path} and which would win: "
            f"remove {key} from {origin}"
        )


def override_keys_present(name, values):
    """
    Set keys in the formula's Ansible override file (other keys and comments
    in it are kept). A change leaves a ``cm-run-playbook`` run pending, which
    ``ciphermail_ansible.playbook_applied`` then runs. Fails, before writing,
    when another vars file that Ansible reads later would override a key.

    name
        A label.
    values
        Mapping of Ansible variable to value.

    .. code-block:: yaml

        split-mode-override:
          ciphermail_ansible.override_keys_present:
            - values:
                ciphermail_backend__remote_portal_enabled: true
    """

    def work(test, changes):
        typed = gateway_values.normalise_override(values)
        wanted = {key: gateway_values.normalise_value(value) for key, value in typed.items()}
        if not wanted:
            raise SaltInvocationError("values: expected at least one Ansible variable")
        path = __salt__["ciphermail_ansible.override_path"]()
        _refuse_overridden(path, wanted)
        current = __salt__["ciphermail_ansible.override_read"]()
        planned = _diff_override(current, wanted)
        created = {}
        if planned and not __salt__["file.file_exists"](path):
            # Made by the first key's write (listed after the keys, so they show once it succeeded).
            created["file"] = {"old": None, "new": path}
            top = __salt__["ciphermail_ansible.override_dir_missing"]()
            if top:
                created["directory"] = {"old": None, "new": os.path.dirname(path)}
        ledger = ciphermail_split_ledger.of_host(__opts__, __pillar__)

        def holds(item, value):
            return gateway_values.normalise_value(__salt__["ciphermail_ansible.override_read"]().get(item)) == value

        def set_key(item, change):
            if item in created:
                return
            with ledger.remembered("override_key", item, change["old"], change["new"], lambda: holds(item, change["new"])):
                __salt__["ciphermail_ansible.override_set"]({item: typed[item]})

        with contextlib.ExitStack() as records:
            if not test and "directory" in created:
                exists = functools.partial(__salt__["file.directory_exists"], os.path.dirname(path))
                records.enter_context(ledger.remembered("override_dir", os.path.dirname(path), None, top, exists))
            if not test and "file" in created:
                exists = functools.partial(__salt__["file.file_exists"], path)
                records.enter_context(ledger.remembered("override_file", path, None, "present", exists))
            state.apply_each(test, changes, {**planned, **created}, set_key)
        subject, plural = _keys_in(path, list(planned) or wanted)
        return state.report(test, planned, subject, "set", "set", plural)

    return state.run(name, work, __opts__, __context__)


def _diff_override(current, wanted):
    normalised = {key: gateway_values.normalise_value(current.get(key)) for key in wanted}
    return {key: {"old": normalised[key], "new": value} for key, value in wanted.items() if normalised[key] != value}


def _set_override_key(key, value):
    """Put ``value`` back in the override file; None: remove the key."""
    if value is None:
        __salt__["ciphermail_ansible.override_remove"]([key])
    else:
        __salt__["ciphermail_ansible.override_set"]({key: value})


def override_keys_absent(name, keys, force=False):
    """
    Take back keys the formula set in its Ansible override file: a key it
    added is removed, a key it changed gets its old value back, a key an
    admin changed since stays. The file goes too when the formula created it
    and nothing is left in it. A change leaves a playbook run pending.

    name
        A label.
    keys
        List of Ansible variable names.
    force
        Remove the keys whoever set them.

    .. code-block:: yaml

        split-mode-override-absent:
          ciphermail_ansible.override_keys_absent:
            - keys:
              - ciphermail_backend__remote_portal_enabled
    """

    def work(test, changes):
        names = gateway_values.names(keys, "keys")
        path = __salt__["ciphermail_ansible.override_path"]()
        current = __salt__["ciphermail_ansible.override_read"]()
        present = {key: key for key in names if key in current}
        ledger = ciphermail_split_ledger.of_host(__opts__, __pillar__)
        released = []
        if force:

            def remove(key, _change):
                _set_override_key(key, None)
                ledger.forget("override_key", key)

            planned = {key: {"old": gateway_values.normalise_value(current[key]), "new": None} for key in present}
            state.apply_each(test, changes, planned, remove)
        else:
            _, released = state.take_back(
                test,
                changes,
                ledger,
                "override_key",
                present,
                lambda key: gateway_values.normalise_value(current[key]),
                _set_override_key,
            )
        subject, plural = _keys_in(path, list(changes) or names)
        comment = state.report(test, changes, subject, "taken back", "taken back", plural)
        left = set(current) - {key for key, change in changes.items() if change["new"] is None}
        if changes and not left and ledger.restore_plan("override_file", path, "present")["action"] == "restore":

            def delete_file(_item, _change):
                __salt__["ciphermail_ansible.override_delete_if_empty"]()
                ledger.forget("override_file", path)

            state.apply_each(test, changes, {"file": {"old": path, "new": None}}, delete_file)
            comment += "; " + state.changed(test, path, "deleted")
            comment += _remove_created_directory(test, changes, ledger, path)
        return comment + state.released_note(released, ("Key", "Keys"))

    return state.run(name, work, __opts__, __context__)


def _remove_created_directory(test, changes, ledger, path):
    """Once its override file is gone, remove the vars directory the formula created, if nothing else is in it."""
    vars_dir = os.path.dirname(path)
    record = ledger.record("override_dir", vars_dir)
    if record is None:
        return ""
    others = [name for name in __salt__["file.readdir"](vars_dir) if name not in (".", "..", os.path.basename(path))]
    if others:
        if not test:
            ledger.forget("override_dir", vars_dir)
        return f"; {vars_dir} stays: it holds other files now"

    def remove(_item, _change):
        __salt__["ciphermail_ansible.override_dir_remove"](record["ours"])
        ledger.forget("override_dir", vars_dir)

    state.apply_each(test, changes, {"directory": {"old": vars_dir, "new": None}}, remove)
    return "; " + state.changed(test, vars_dir, "removed (the formula had created it)")


# -- cm-run-playbook ----------------------------------------------------------------------


def _run_playbook(test, changes, only_if_pending=True):
    """
    Run the playbook (one run at a time on the gateway). ``only_if_pending``:
    not when a run this one waited for has applied everything meanwhile.
    """
    if test:
        changes.update(PLAYBOOK_CHANGE)
        return state.changed(test, PLAYBOOK, "run")
    run = __salt__["ciphermail_ansible.playbook_run"](only_if_pending=only_if_pending)
    if not run["ran"]:
        return state.settled(PLAYBOOK, f"applied (by another run, which this one waited {run['waited']} s for)")
    changes.update(PLAYBOOK_CHANGE)
    waited = f", after waiting {run['waited']} s for another run" if run["waited"] else ""
    return state.changed(test, PLAYBOOK, f"run (in {run['seconds']} s{waited})")


def _playbook_ret(ret):
    """A failed run changed nothing; once it ran (or failed), watch must not start it again."""
    if ret["result"] is False:
        ret["changes"] = {}
    ret["skip_watch"] = bool(ret["changes"]) or ret["result"] is False
    return ret


def playbook_applied(name):
    """
    Run ``cm-run-playbook`` when a run is pending: the override file changed
    and the playbook has not succeeded since (also after a failed or
    interrupted run). With ``watch``, also runs when a watched state changed.
    Never runs twice in one state run, and never beside another run's
    playbook: it waits for that one (up to ``playbook_timeout``), and does
    not run when that one applied everything meanwhile.

    name
        A label.

    .. code-block:: yaml

        cm-run-playbook:
          ciphermail_ansible.playbook_applied:
            - watch:
              - ciphermail_ansible: split-mode-override
    """

    def work(test, changes):
        if not ciphermail_split_ledger.of_host(__opts__, __pillar__).playbook_pending:
            return state.settled(PLAYBOOK, "applied (no run is pending)")
        return _run_playbook(test, changes)

    return _playbook_ret(state.run(name, work, __opts__, __context__))


def mod_watch(name, sfun=None, **kwargs):  # pylint: disable=unused-argument
    """
    Run ``cm-run-playbook`` because a watched state changed (only reached
    when ``playbook_applied`` itself did not run it).
    """

    def work(test, changes):
        if sfun != "playbook_applied":
            raise SaltInvocationError(f"ciphermail_ansible.{sfun} does not support watch")
        # A watched state of any kind changed: run whether or not the ledger holds a run pending.
        return _run_playbook(test, changes, only_if_pending=False)

    return _playbook_ret(state.run(name, work, __opts__, __context__))
