"""
What every state of the formula shares (``_states/*.py`` import it as a
plain module): the one way to read test mode, the state return, the words of
its comment, making planned changes one by one, and taking back what the
ledger says the formula did.

A state hands :func:`run` its ``work(test, changes)``: work reads, compares,
fills ``changes`` with ``{"<item>": {"old": ..., "new": ...}}`` as it
predicts (``test``) or makes them, and returns the comment, worded by
:func:`report` in Salt's usual way:

- ``<subject> would be <verb>`` under test=True,
- ``<subject> has been <verb>`` (``have been``) when made,
- ``<subject> is already <state>`` (``are already``) when there is nothing to do.
"""

import ciphermail_gateway_values as gateway_values
import ciphermail_split_reads
from ciphermail_gateway_values import UNKNOWN
from salt.exceptions import CommandExecutionError, SaltInvocationError

PENDING = "pending"
DONE = "done"
SETTLED = "settled"
_BE = {
    PENDING: ("would be", "would be"),
    DONE: ("has been", "have been"),
    SETTLED: ("is already", "are already"),
}


def is_test(opts):
    """True when the state run is a test run (``test=True``)."""
    return bool(opts.get("test"))


def run(name, work, opts, context):
    """
    Run ``work(test, changes)`` and build the state return: ``result`` True
    (done, or nothing to do), None (test=True with changes pending), or
    False with the command's or the argument's message, never a traceback;
    changes made before a failure are still reported. While ``work`` runs,
    the execution modules remember their reads in ``context`` (the loader's
    ``__context__``, see ``ciphermail_split_reads``).
    """
    test = is_test(opts)
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


def phrase(subject, verb, outcome, plural=False):
    """``<subject> would be|has been|is already <verb>`` for ``outcome`` PENDING, DONE or SETTLED."""
    return f"{subject} {_BE[outcome][1 if plural else 0]} {verb}"


def things(singular, plural, names):
    """``(subject, plural)``: ``Global property a`` or ``Global properties a, b``."""
    names = list(names)
    return (f"{plural if len(names) > 1 else singular} {', '.join(names)}", len(names) > 1)


def changed(test, subject, verb, plural=False):
    """``<subject> would be <verb>`` under test, else ``<subject> has been <verb>``."""
    return phrase(subject, verb, PENDING if test else DONE, plural)


def settled(subject, state, plural=False):
    """``<subject> is already <state>``: there is nothing to do."""
    return phrase(subject, state, SETTLED, plural)


def report(test, made, subject, verb, state, plural=False):
    """The comment of a state: ``made`` changes pending or done as ``verb``, or nothing to do (``state``)."""
    return changed(test, subject, verb, plural) if made else settled(subject, state, plural)


def apply_each(test, changes, planned, apply_change):
    """
    Report ``planned`` changes under test, or make them one by one with
    ``apply_change(item, change)``, recording each in ``changes`` once made
    (so a failure part-way still reports what was done).
    """
    if test:
        changes.update(planned)
        return
    for item, change in planned.items():
        apply_change(item, change)
        changes[item] = change


def _take_back_plan(ledger, kind, key, current):
    """
    What taking back one item means (see ``Ledger.restore_plan``), also
    when its ``current`` value is :data:`UNKNOWN` (documented-only mode) or
    only a CLI write's applied value is known of it: then a boolean the
    formula switched on is switched off, and anything else is ``keep``: left
    as it is, its earlier value not being known.
    """
    record = ledger.record(kind, key)
    if record is not None:
        if current == UNKNOWN:
            return {"action": "restore", "value": record["before"]}
        return ledger.restore_plan(kind, key, current)
    applied = ledger.applied(kind, key)
    if applied is None:
        return {"action": "none"}
    if current not in (UNKNOWN, applied):
        return {"action": "release", "value": current}
    off = gateway_values.switched_off(applied)
    return {"action": "keep"} if off is None else {"action": "restore", "value": off}


def take_back(test, changes, ledger, kind, items, current_of, restore, kept=None):
    """
    Take back recorded items (``{item: ledger key}``) of ``kind``: restore
    those that still hold the formula's value (``restore(item, value)``,
    then forget them) and release (forget, leave as they are) those someone
    changed since. ``current_of(item)`` may say :data:`UNKNOWN` (the value
    cannot be read); it is asked only of items the ledger knows. Items whose
    earlier value is not known and that cannot be switched off are added to
    ``kept`` (a list) and forgotten. Returns ``(restored, released)``: the
    item names.
    """
    planned, released, left = {}, [], []
    for item, key in items.items():
        if ledger.record(kind, key) is None and ledger.applied(kind, key) is None:
            continue
        current = current_of(item)
        plan = _take_back_plan(ledger, kind, key, current)
        if plan["action"] == "restore":
            planned[item] = {"old": current, "new": plan["value"]}
        elif plan["action"] == "release":
            released.append(item)
        elif plan["action"] == "keep":
            left.append(item)

    def forget(item):
        ledger.forget(kind, items[item])
        ledger.forget_applied(kind, items[item])

    def restore_and_forget(item, change):
        restore(item, change["new"])
        forget(item)

    apply_each(test, changes, planned, restore_and_forget)
    if not test:
        for item in released + left:
            forget(item)
    if kept is not None:
        kept.extend(left)
    return list(planned), released


def kept_note(kept, what):
    """The sentence for items left as they are because their value before the formula is not known."""
    if not kept:
        return ""
    subject, plural = things(what[0], what[1], kept)
    if plural:
        return f" {subject} stay as they are: their values before the formula are not known."
    return f" {subject} stays as it is: its value before the formula is not known."


def released_note(released, what):
    """The sentence for items someone changed after the formula: they stay as they are."""
    if not released:
        return ""
    subject, plural = things(what[0], what[1], released)
    return f" {subject} {'were' if plural else 'was'} changed by someone else since; left as {'they are' if plural else 'it is'}."
