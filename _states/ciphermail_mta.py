"""
States for the Postfix side of CipherMail portal split-mode:

- ``transport_present``/``transport_absent`` (main gateway): the transport
  table entry ``relay-to-webmail.private smtp:[<portal>]``;
- ``mynetworks_present``/``mynetworks_absent`` (portal gateway): the main
  gateway's address in ``mynetworks``.

The states compare, predict and apply through the ``ciphermail_mta``
execution module and do no I/O of their own; they build their values with
``ciphermail_postfix_values`` and their return with ``ciphermail_split_state``
(both in ``_utils``). Under ``test=True`` they report
exactly the changes a live run then makes. Before a change they record in
the ledger (``ciphermail_ledger``) what the item was, so the ``*_absent``
states take back only what the formula did, and only while it still holds
the formula's value. Postfix is reloaded once per changing state, when it
is running.

Ledger kinds: ``transport`` (key: the domain), ``transport_maps`` (key:
``transport_maps``), ``transport_file`` (key: the table file the formula
created), ``mynetworks`` (key: ``<parameter>|<entry>``) and
``mynetworks_param`` (key: the parameter, when the formula wrote Postfix's
computed default into main.cf).
"""

import contextlib

import ciphermail_postfix_values
import ciphermail_split_ledger
import ciphermail_split_state as state
from salt.exceptions import CommandExecutionError

__virtualname__ = "ciphermail_mta"

TRANSPORT_MAPS = "transport_maps"


def __virtual__():
    return __virtualname__


# -- shared mechanics ----------------------------------------------------------


def _mta(function, *args, **kwargs):
    return __salt__[f"ciphermail_mta.{function}"](*args, **kwargs)




RELOAD_RETRIED = {"old": "pending", "new": "done"}


def _reloaded(test, changes, comment):
    """
    ``comment``, and after a live change, Postfix reloaded once (when it is
    running). A reload that failed in an earlier run is pending in the
    ledger, and is done now although nothing changed: ``changes`` get
    ``reload`` ``{"old": "pending", "new": "done"}`` (predicted under
    test=True). A failed reload fails the state and stays pending; the
    changes are still reported.
    """
    ledger = ciphermail_split_ledger.of_host(__opts__, __pillar__)
    retry = not changes and ledger.reload_pending
    if not retry and (test or not changes):
        return comment
    earlier = " (its reload failed in an earlier run)" if retry else ""
    if retry:
        changes["reload"] = dict(RELOAD_RETRIED)
        if test:
            return f"{comment}; Postfix would be reloaded, if it is running{earlier}"
    ledger.set_reload_pending(True)
    try:
        reloaded = _mta("reload_if_running")["reloaded"]
    except CommandExecutionError as exc:
        if retry:
            changes.clear()
        raise CommandExecutionError(
            f"{comment}, but reloading Postfix failed: {exc}. The next run reloads it"
        ) from exc
    ledger.set_reload_pending(False)
    if reloaded:
        return f"{comment}; Postfix has been reloaded{earlier}"
    return f"{comment}; Postfix is not running, so it has not been reloaded{earlier}"


# -- transport -----------------------------------------------------------------


def _transport_records(domain, plan):
    """
    ``(item, kind, key, before, ours)`` of what ``transport_set`` is about to
    change (``plan``: its test=True answer), as the ledger records it.
    """
    changes = plan["changes"]
    records = []
    if "transport_file" in changes:
        records.append(("transport_file", "transport_file", changes["transport_file"]["new"], None, plan["table"]))
    if TRANSPORT_MAPS in changes:
        before = _mta("main_cf_get", TRANSPORT_MAPS)
        records.append((TRANSPORT_MAPS, "transport_maps", TRANSPORT_MAPS, before, plan["table"]))
    if "nexthop" in changes:
        records.append(("nexthop", "transport", domain, changes["nexthop"]["old"], changes["nexthop"]["new"]))
    return records


def transport_present(name, host, port=None):
    """
    Route mail for the domain ``name`` (``relay-to-webmail.private``) to
    ``host`` by SMTP without MX lookup: the transport table entry
    ``name smtp:[host]`` (``smtp:[ipv6:...]`` for IPv6, ``:port`` when
    given). Configures a transport table when ``transport_maps`` is empty,
    and rebuilds a stale table database.

    changes: ``nexthop`` ``{"old": None|"smtp:[old]", "new": "smtp:[new]"}``;
    when a table had to be set up, ``transport_maps`` ``{"old": "", "new":
    "hash:/etc/postfix/transport"}`` and ``transport_file`` ``{"old": None,
    "new": "/etc/postfix/transport"}``; ``postmap`` ``{"old": "stale", "new":
    "rebuilt"}`` when only the database disagreed with the file.

    .. code-block:: yaml

        relay-to-webmail.private:
          ciphermail_mta.transport_present:
            - host: portal.example.net
    """

    def work(test, changes):
        nexthop = ciphermail_postfix_values.nexthop(host, port)
        _refuse_shadowed(name, nexthop)
        plan = _mta("transport_set", name, nexthop, test=True)
        if plan["changes"] and not test:
            ledger = ciphermail_split_ledger.of_host(__opts__, __pillar__)
            with contextlib.ExitStack() as records:
                for item, *record in _transport_records(name.lower(), plan):
                    # A failed write keeps the record only of what it changed before failing.
                    records.enter_context(ledger.remembered(*record, kept=lambda item=item: item in changes))
                try:
                    plan = _mta("transport_set", name, nexthop)
                except CommandExecutionError:
                    changes.update(_made_before_failure(name, nexthop, plan["changes"]))
                    raise
        changes.update(plan["changes"])
        where = f"set to {nexthop} in {plan['table']}"
        return _reloaded(test, changes, state.report(test, changes, f"Transport entry {name}", where, where))

    return state.run(name, work, __opts__, __context__)


def _refuse_shadowed(name, nexthop):
    """Fail when Postfix would find another answer for the domain before the formula's entry."""
    shadow = _mta("transport_shadowed", name)
    if shadow and shadow["value"] != nexthop:
        raise CommandExecutionError(
            f"Postfix would not use the transport entry {name} {nexthop}: {shadow['table']} answers "
            f"{shadow['value']} for {shadow['key']} first (Postfix asks every table of transport_maps "
            f"for the full address, then the fixed-string tables for the domain). Remove that entry, "
            f"or route it to {nexthop}"
        )


def _made_before_failure(name, nexthop, planned):
    """The planned changes a failed ``transport_set`` made anyway (a later step such as postmap failed)."""
    try:
        left = _mta("transport_set", name, nexthop, test=True)["changes"]
    except CommandExecutionError:
        return {}
    return {item: change for item, change in planned.items() if item not in left}


def _take_back_nexthop(ledger, name, force, test):
    """
    Put back the nexthop an admin had before the formula, or delete the
    entry, while it holds the formula's value (or ``force``). Returns the
    changes, what is left of the table file ("in use", "empty" or
    "missing"), and the entry someone changed since the formula set it,
    which stays (else None).
    """
    domain = name.lower()
    current = _mta("transport_get", name)
    record = ledger.record("transport", domain)
    action = ledger.restore_plan("transport", domain, current)["action"]
    if record and record["before"] is not None and (action == "restore" or force):
        return _mta("transport_set", name, record["before"], test=test)["changes"], "in use", None
    if current is None or action == "restore" or force:
        result = _mta("transport_delete", name, test=test)
        left = result["entries_left"]
        return result["changes"], "missing" if left is None else ("in use" if left else "empty"), None
    return {}, "in use", current if action == "release" else None


def _restore_transport_maps(ledger, test):
    """Put back ``transport_maps`` while it holds the value the formula set."""
    plan = ledger.restore_plan("transport_maps", TRANSPORT_MAPS, _mta("main_cf_get", TRANSPORT_MAPS))
    change = _mta("main_cf_set", TRANSPORT_MAPS, plan["value"], test=test) if plan["action"] == "restore" else {}
    return {TRANSPORT_MAPS: change} if change else {}


def transport_absent(name, force=False):
    """
    Take back the transport entry of the domain ``name``: put back the
    nexthop an admin had before the formula, or remove the entry; put back
    ``transport_maps`` if the formula set it, and remove a table file the
    formula created once nothing else is in it (an admin's entries in it
    keep both). Only while the entry still holds the formula's value: an
    admin's later edit is left alone. ``force``: remove the entry even when
    the ledger does not say it is ours.

    changes: ``nexthop`` ``{"old": "smtp:[...]", "new": None|<admin's>}``,
    ``transport_maps`` ``{"old": "hash:/...", "new": ""}``,
    ``transport_file`` ``{"old": "/etc/postfix/transport", "new": None}``.

    .. code-block:: yaml

        relay-to-webmail.private:
          ciphermail_mta.transport_absent
    """

    def work(test, changes):
        table = _mta("transport_table")
        ledger = ciphermail_split_ledger.of_host(__opts__, __pillar__)
        created = ledger.record("transport_file", table["path"])
        made, table_file, released = _take_back_nexthop(ledger, name, force, test)
        maps_ours = ledger.record("transport_maps", TRANSPORT_MAPS)
        if maps_ours and not (created and table_file == "in use"):
            made.update(_restore_transport_maps(ledger, test))
        # A table file the formula created goes once empty; if the formula set transport_maps too,
        # only with it (an admin's transport_maps named the file before it existed: it goes back to that).
        if created and table_file == "empty" and (TRANSPORT_MAPS in made or not maps_ours or not table["configured"]):
            if test:
                removed = {"old": table["path"], "new": None}
            else:
                removed = _mta("transport_file_remove", created["ours"], configured_ok=not maps_ours)
            made.update({"transport_file": removed} if removed else {})
        if not test:
            ledger.forget("transport", name.lower())
            ledger.forget("transport_file", table["path"])
            ledger.forget("transport_maps", TRANSPORT_MAPS)
        changes.update(made)
        if released and not made:
            comment = state.settled(f"Transport entry {name}", f"set to {released}") + "."
            comment += state.released_note([name], ("Transport entry", "Transport entries"))
        else:
            comment = state.report(test, made, f"The formula's transport entry {name}", "taken back", "taken back")
            comment += state.released_note([name] if released else [], ("Transport entry", "Transport entries"))
        return _reloaded(test, changes, comment)

    return state.run(name, work, __opts__, __context__)


# -- mynetworks ----------------------------------------------------------------


def _materialised(ledger, parameter):
    record = ledger.record("mynetworks_param", parameter)
    return record["ours"] if record else None


def _list_changes(result):
    """The state changes of a ``mynetworks_update`` answer."""
    parameter = result["parameter"]
    changes = {}
    if result["old"] != result["new"]:
        changes[parameter] = {"old": result["old"], "new": result["new"]}
    if result["materialised"] is not None or result["unset"]:
        changes[f"{parameter}_in_main_cf"] = {"old": result["unset"], "new": not result["unset"]}
    return changes


def _update_mynetworks(ledger, parameter, test, remember, **update):
    """Predict a ``mynetworks_update``; live, record what it adds (``remember``) and apply it."""
    update.update(parameter=parameter, unset_if_left=_materialised(ledger, parameter))
    result = _mta("mynetworks_update", test=True, **update)
    changes = _list_changes(result)
    if changes and not test:
        with contextlib.ExitStack() as records:
            if remember:
                # The update either is made or leaves main.cf as it was: a failure keeps no record.
                for entry in result["added"]:
                    key = ciphermail_split_ledger.mynetworks_key(parameter, entry)
                    records.enter_context(ledger.remembered("mynetworks", key, None, "present"))
                if result["materialised"] is not None:
                    records.enter_context(ledger.remembered("mynetworks_param", parameter, None, result["materialised"]))
            changes = _list_changes(_mta("mynetworks_update", **update))
    return changes


def _forget_entries(ledger, parameter, entries):
    for entry in entries:
        ledger.forget("mynetworks", ciphermail_split_ledger.mynetworks_key(parameter, entry))
    if not ledger.mynetworks_entries(parameter):
        ledger.forget("mynetworks_param", parameter)


def _taken_back(ledger, parameter, entries, current, force=False):
    """Those of ``entries`` to remove now: still present as the formula wrote them, and ours (or ``force``)."""
    return [
        entry
        for entry in entries
        if entry in current
        and (
            force
            or ledger.restore_plan("mynetworks", ciphermail_split_ledger.mynetworks_key(parameter, entry), "present")[
                "action"
            ]
            == "restore"
        )
    ]


def _list_update(parameter, made):
    """What a change of the list ``parameter`` did, in words: the entries added and removed."""
    change = made.get(parameter) or {"old": [], "new": []}
    added = [entry for entry in change["new"] if entry not in change["old"]]
    removed = [entry for entry in change["old"] if entry not in change["new"]]
    parts = [f"{', '.join(entries)} {verb}" for entries, verb in ((added, "added"), (removed, "removed")) if entries]
    return f"updated ({'; '.join(parts) or 'written out in main.cf'})"


def mynetworks_present(name, addresses, parameter="mynetworks", allow_networks=False):
    """
    Make exactly ``addresses`` (the main gateway) the formula's entries of
    ``mynetworks``: add those missing, remove those the formula added
    earlier that are no longer configured (a changed address must not keep
    relay rights), never touch anyone else's. IPv6 is written
    ``[2001:db8::10]/128``. Networks only with ``allow_networks``.

    changes: ``mynetworks`` ``{"old": [...], "new": [...]}``, the whole list
    as ``postconf -h mynetworks`` shows it; ``mynetworks_in_main_cf``
    ``{"old": False, "new": True}`` when main.cf did not set it and the
    formula wrote Postfix's computed default out first.

    .. code-block:: yaml

        main gateway in mynetworks:
          ciphermail_mta.mynetworks_present:
            - addresses:
              - 192.0.2.10
              - 2001:db8::10
    """

    def work(test, changes):
        wanted = ciphermail_postfix_values.mynetworks_entries(addresses, allow_networks)
        ledger = ciphermail_split_ledger.of_host(__opts__, __pillar__)
        current = _mta("mynetworks_get", parameter)
        stale = [entry for entry in ledger.mynetworks_entries(parameter) if entry not in wanted]
        made = _update_mynetworks(
            ledger,
            parameter,
            test,
            remember=True,
            add=wanted,
            remove=_taken_back(ledger, parameter, stale, current),
            allow_networks=allow_networks,
        )
        if not test:
            _forget_entries(ledger, parameter, stale)
        changes.update(made)
        if made:
            comment = state.changed(test, parameter, _list_update(parameter, made))
        elif wanted:
            subject, plural = state.things(f"{parameter} entry", f"{parameter} entries", wanted)
            comment = state.settled(subject, "present", plural)
        else:
            comment = state.settled(parameter, "as it should be")
        return _reloaded(test, changes, comment)

    return state.run(name, work, __opts__, __context__)


def mynetworks_absent(name, addresses=None, parameter="mynetworks", force=False):
    """
    Remove the formula's entries from ``mynetworks``: those of ``addresses``,
    or all of them when ``addresses`` is None. An entry that was there before
    the formula, or that an admin wrote since, stays. ``force``: remove the
    given addresses even when the ledger does not say they are ours, and
    the formula's own entries too. Once
    only the default the formula wrote out is left, main.cf stops setting
    the parameter (``postconf -X``).

    changes: ``mynetworks`` ``{"old": [...], "new": [...]}``;
    ``mynetworks_in_main_cf`` ``{"old": True, "new": False}`` when unset.

    .. code-block:: yaml

        main gateway out of mynetworks:
          ciphermail_mta.mynetworks_absent
    """

    def work(test, changes):
        ledger = ciphermail_split_ledger.of_host(__opts__, __pillar__)
        current = _mta("mynetworks_get", parameter)
        ours = ledger.mynetworks_entries(parameter)
        given = [] if addresses is None else ciphermail_postfix_values.mynetworks_entries(addresses, True)
        # With force, the given addresses go as well as the formula's own.
        targets = list(dict.fromkeys([*ours, *given])) if force or addresses is None else given
        made = _update_mynetworks(
            ledger, parameter, test, remember=False, remove=_taken_back(ledger, parameter, targets, current, force)
        )
        if not test:
            _forget_entries(ledger, parameter, [entry for entry in targets if entry in ours])
        changes.update(made)
        if made:
            comment = state.changed(test, parameter, _list_update(parameter, made))
        else:
            comment = state.settled(parameter, "without the formula's entries")
        return _reloaded(test, changes, comment)

    return state.run(name, work, __opts__, __context__)
