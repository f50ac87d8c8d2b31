"""
The return-dict mechanics shared by the ciphermail_split state modules
(``_states/ciphermail.py``, ``_states/ciphermail_mta.py``), imported by
them as a plain module (Salt puts synced ``_utils`` on the import path of
execution and state modules).

A state hands :func:`run` its ``work(test, changes)``: work reads, compares,
fills ``changes`` with ``{"<item>": {"old": ..., "new": ...}}`` as it
predicts (``test``) or makes them, and returns the comment. :func:`run`
turns that into Salt's ``{name, result, changes, comment}``.
"""

import ciphermail_split_reads
from salt.exceptions import CommandExecutionError, SaltInvocationError


def run(name, work, test, context):
    """
    Run ``work(test, changes)`` and build the state return: ``result`` True
    (done, or nothing to do), None (test=True with changes pending), or
    False with the command's or the argument's message, never a traceback;
    changes made before a failure are still reported. While ``work`` runs,
    the execution modules remember their reads in ``context`` (the loader's
    ``__context__``, see ``ciphermail_split_reads``).
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    try:
        with ciphermail_split_reads.remembered(context):
            ret["comment"] = work(test, ret["changes"])
    except (CommandExecutionError, SaltInvocationError) as exc:
        ret.update(result=False, comment=str(exc))
        return ret
    if test and ret["changes"]:
        ret["result"] = None
    return ret


def apply_each(test, changes, planned, apply_change, unchanged, action):
    """
    Report ``planned`` changes under test, or make them one by one with
    ``apply_change(item, change)``, recording each in ``changes`` once made.
    Returns the comment: ``unchanged``, ``Would <action>`` or ``<Action>``.
    """
    if not planned:
        return unchanged
    if test:
        changes.update(planned)
        return f"Would {action}"
    for item, change in planned.items():
        apply_change(item, change)
        changes[item] = change
    return action[0].upper() + action[1:]
