"""
States for the Postfix side of CipherMail portal split-mode:

- ``transport_present``/``transport_absent`` (main gateway): the transport
  table entry ``relay-to-webmail.private smtp:[<portal>]``, or
  ``smtp:[<node a>]:25, [<node b>]:25`` for several portal nodes;
- ``tls_policy_present``/``tls_policy_absent`` (main gateway): the TLS
  policy of each portal node in ``smtp_tls_policy_maps``;
- ``mynetworks_present``/``mynetworks_absent`` (portal gateway): the main
  gateway's address in ``mynetworks``;
- ``starttls_offered`` (portal gateway): a read-only check that Postfix
  offers STARTTLS with a certificate it can load.

The states compare, predict and apply through the ``ciphermail_mta``
execution module and do no I/O of their own; they build their values with
``ciphermail_postfix_values`` and their return with ``ciphermail_split_state``
(both in ``_utils``). Under ``test=True`` they report
exactly the changes a live run then makes. Before a change they record in
the ledger (``ciphermail_ledger``) what the item was, so the ``*_absent``
states take back only what the formula did, and only while it still holds
the formula's value. Postfix is reloaded once per changing state, when it
is running.

The transport table and the TLS policy table are edited by one piece of
code (``_Table``): the same guarantees for both. Ledger kinds: ``transport``
(key: the domain), ``transport_maps`` (key: ``transport_maps``),
``transport_file`` (key: the table file the formula created),
``tls_policy`` (key: the nexthop, ``[host]:port``), ``tls_policy_maps``
(key: ``smtp_tls_policy_maps``), ``tls_policy_file``, ``mynetworks`` (key: ``<parameter>|<entry>``) and
``mynetworks_param`` (key: the parameter, when the formula wrote Postfix's
computed default into main.cf).
"""

import contextlib

import ciphermail_postfix_tls
import ciphermail_postfix_values
import ciphermail_split_ledger
import ciphermail_split_state as state
from salt.exceptions import CommandExecutionError

__virtualname__ = "ciphermail_mta"

TRANSPORT_MAPS = "transport_maps"
TLS_POLICY_MAPS = "smtp_tls_policy_maps"


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
        raise CommandExecutionError(f"{comment}, but reloading Postfix failed: {exc}. The next run reloads it") from exc
    ledger.set_reload_pending(False)
    if reloaded:
        return f"{comment}; Postfix has been reloaded{earlier}"
    return f"{comment}; Postfix is not running, so it has not been reloaded{earlier}"


# -- lookup tables: the transport table and the TLS policy table ----------------------


class _Table:
    """
    One lookup table the formula edits, as the states reach it: through the
    ``ciphermail_mta`` execution functions of its name (``transport_*``,
    ``tls_policy_*``), with its ledger kinds: ``<name>`` (an entry, by key),
    ``<name>_maps`` (the main.cf parameter the formula set to the table) and
    ``<name>_file`` (a table file the formula created).
    """

    def __init__(self, name, parameter):
        self.name, self.parameter = name, parameter
        self.entry_kind, self.maps_kind, self.file_kind = name, f"{name}_maps", f"{name}_file"
        self.file_item = self.file_kind

    def info(self):
        return _mta(f"{self.name}_table")

    def get(self, key):
        return _mta(f"{self.name}_get", key)

    def item(self, key):
        """The change item of the entry ``key``: ``nexthop`` for the transport entry, the key itself for a policy."""
        return "nexthop" if self.name == "transport" else key

    def update(self, wanted, test):
        """Set (or, for None, delete) the entries ``wanted`` in one edit; the execution function's answer."""
        if self.name == "tls_policy":
            return _mta("tls_policy_set", wanted, test=test)
        ((domain, value),) = wanted.items()
        if value is None:
            return _mta("transport_delete", domain, test=test)
        return {"entries_left": None, **_mta("transport_set", domain, value, test=test)}

    def entries_left(self, keys):
        """The entries in the table file (None: no file), none of ``keys`` being there."""
        if self.name == "tls_policy":
            return _mta("tls_policy_set", {}, test=True)["entries_left"]
        return _mta("transport_delete", keys[0], test=True)["entries_left"]

    def remove_file(self, table, configured_ok=False):
        return _mta(f"{self.name}_file_remove", table, configured_ok=configured_ok)


TRANSPORT = _Table("transport", TRANSPORT_MAPS)
TLS_POLICY = _Table("tls_policy", TLS_POLICY_MAPS)


def _records(table, plan, keys):
    """``(item, kind, key, before, ours)`` of what an update is about to change (``plan``: its test=True answer)."""
    changes = plan["changes"]
    records = []
    if table.file_item in changes:
        records.append((table.file_item, table.file_kind, changes[table.file_item]["new"], None, plan["table"]))
    if table.parameter in changes:
        before = _mta("main_cf_get", table.parameter)
        records.append((table.parameter, table.maps_kind, table.parameter, before, plan["table"]))
    for key in keys:
        change = changes.get(table.item(key))
        if change:
            records.append((table.item(key), table.entry_kind, key, change["old"], change["new"]))
    return records


def _set_entries(table, wanted, test, changes):
    """
    Predict the entries ``wanted``; live, record them in the ledger first,
    then make them. ``changes`` gets what was made, also when a later step
    (postmap) fails. Returns the table (``type:path``).
    """
    plan = table.update(wanted, test=True)
    if plan["changes"] and not test:
        ledger = ciphermail_split_ledger.of_host(__opts__, __pillar__)
        with contextlib.ExitStack() as records:
            for item, *record in _records(table, plan, wanted):
                # A failed update keeps the record only of what it changed before failing.
                records.enter_context(ledger.remembered(*record, kept=lambda item=item: item in changes))
            try:
                plan = table.update(wanted, test=False)
            except CommandExecutionError:
                changes.update(_made_before_failure(table, wanted, plan["changes"]))
                raise
    changes.update(plan["changes"])
    return plan["table"]


def _made_before_failure(table, wanted, planned):
    """The planned changes a failed update made anyway (a later step such as postmap failed)."""
    try:
        left = table.update(wanted, test=True)["changes"]
    except CommandExecutionError:
        return {}
    return {item: change for item, change in planned.items() if item not in left}


def _restore_maps(ledger, table, test):
    """Put back the table's main.cf parameter while it holds the value the formula set."""
    plan = ledger.restore_plan(table.maps_kind, table.parameter, _mta("main_cf_get", table.parameter))
    change = _mta("main_cf_set", table.parameter, plan["value"], test=test) if plan["action"] == "restore" else {}
    return {table.parameter: change} if change else {}


def _take_back(ledger, table, keys, force, test):
    """
    Take back the entries ``keys``: put back the value an admin had before
    the formula, or delete the entry, while it holds the formula's value
    (or ``force``). Once no entry of the formula is left in the table, also
    put back its main.cf parameter if the formula set it, and remove a table
    file the formula created when nothing else is in it (also one an admin's
    main.cf named before it existed). Returns the changes and the keys
    someone changed since the formula set them, which stay.
    """
    info = table.info()
    created = ledger.record(table.file_kind, info["path"])
    wanted, in_use, released = {}, False, []
    for key in keys:
        current = table.get(key)
        record = ledger.record(table.entry_kind, key)
        ours = force or ledger.restore_plan(table.entry_kind, key, current)["action"] == "restore"
        if ours and record and record["before"] is not None:
            wanted[key], in_use = record["before"], True
        elif ours and current is not None:
            wanted[key] = None
        elif current is not None:
            in_use = True
            if record:
                released.append(key)
    made, left = {}, None
    if wanted:
        result = table.update(wanted, test)
        made.update(result["changes"])
        left = result["entries_left"]
    elif not in_use:
        left = table.entries_left(keys)
    in_use = in_use or bool(left)
    ours_left = [key for key in ledger.records(table.entry_kind) if key not in keys]
    if not ours_left:
        maps_ours = ledger.record(table.maps_kind, table.parameter)
        if maps_ours and not (created and in_use):
            made.update(_restore_maps(ledger, table, test))
        # A file the formula created for an admin's main.cf setting goes back to missing, as it was.
        gone = table.parameter in made or not info["configured"] or not maps_ours
        if created and left == 0 and not in_use and gone:
            removed = {"old": info["path"], "new": None} if test else table.remove_file(created["ours"], not maps_ours)
            made.update({table.file_item: removed} if removed else {})
    if not test:
        for key in keys:
            ledger.forget(table.entry_kind, key)
        if not ours_left:
            ledger.forget(table.file_kind, info["path"])
            ledger.forget(table.maps_kind, table.parameter)
    return made, released


# -- transport -----------------------------------------------------------------


def transport_present(name, host, port=None):
    """
    Route mail for the domain ``name`` (``relay-to-webmail.private``) to
    ``host`` by SMTP without MX lookup: the transport table entry
    ``name smtp:[host]`` (``smtp:[ipv6:...]`` for IPv6, ``:port`` when
    given). ``host`` may be a list of portal nodes, tried in order:
    ``name smtp:[portal-a]:25, [portal-b]:25`` (Postfix 3.5 and later; an
    older Postfix refuses it, under test=True too). Configures a transport
    table when ``transport_maps`` is empty, and rebuilds a stale table
    database.

    changes: ``nexthop`` ``{"old": None|"smtp:[old]", "new": "smtp:[new]"}``;
    when a table had to be set up, ``transport_maps`` ``{"old": "", "new":
    "hash:/etc/postfix/transport"}`` and ``transport_file`` ``{"old": None,
    "new": "/etc/postfix/transport"}``; ``postmap`` ``{"old": "stale", "new":
    "rebuilt"}`` when only the database disagreed with the file.

    .. code-block:: yaml

        relay-to-webmail.private:
          ciphermail_mta.transport_present:
            - host:
              - portal-a.dmz.example.net
              - portal-b.dmz.example.net
            - port: 25
    """

    def work(test, changes):
        nexthop = ciphermail_postfix_values.nexthop(host, port)
        _refuse_shadowed(name, nexthop)
        table = _set_entries(TRANSPORT, {name.lower(): nexthop}, test, changes)
        where = f"set to {nexthop} in {table}"
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
        ledger = ciphermail_split_ledger.of_host(__opts__, __pillar__)
        made, released = _take_back(ledger, TRANSPORT, [name.lower()], force, test)
        changes.update(made)
        if released and not made:
            comment = state.settled(f"Transport entry {name}", f"set to {TRANSPORT.get(name.lower())}") + "."
        else:
            comment = state.report(test, made, f"The formula's transport entry {name}", "taken back", "taken back")
        comment += state.released_note([name] if released else [], ("Transport entry", "Transport entries"))
        return _reloaded(test, changes, comment)

    return state.run(name, work, __opts__, __context__)


# -- TLS policy ----------------------------------------------------------------


def tls_policy_present(name, host, port=None, level="encrypt", match=None):
    """
    Give each portal node of ``host`` (one host, or a list as in
    ``transport_present``) the TLS policy ``level`` (``may``, ``encrypt``,
    ``verify``, ``secure``; ``match``: the ``match=`` names of verify and
    secure, e.g. ``portal.example.net:.dmz.example.net``): one entry per
    nexthop in the ``smtp_tls_policy_maps`` table, keyed as the transport
    entry writes the nexthop (``[portal-a.example.net]:25``), for Postfix
    looks each one up so. ``name`` is a label (the private domain). Uses the
    configured table; when ``smtp_tls_policy_maps`` is empty, creates one
    beside the transport table (same type) and configures it. Entries of
    nodes no longer given stay: ``tls_policy_absent`` with ``keep`` takes
    them back once the transport entry no longer names them.

    changes: one ``{"old": None|<policy>, "new": <policy>}`` per nexthop;
    ``smtp_tls_policy_maps`` and ``tls_policy_file`` when a table had to be
    set up; ``postmap`` for a stale database.

    .. code-block:: yaml

        relay-to-webmail.private:
          ciphermail_mta.tls_policy_present:
            - host: [portal-a.dmz.example.net, portal-b.dmz.example.net]
            - port: 25
            - level: secure
            - match: .dmz.example.net
    """

    def work(test, changes):
        policy = ciphermail_postfix_tls.policy(level, match)
        wanted = {key: policy for key in ciphermail_postfix_values.nexthop_elements(host, port)}
        table = _set_entries(TLS_POLICY, wanted, test, changes)
        where = f"set to {policy} in {table}"
        comment = state.report(test, changes, f"TLS policy of {', '.join(wanted)}", where, where)
        return _reloaded(test, changes, comment)

    return state.run(name, work, __opts__, __context__)


def tls_policy_absent(name, host=None, port=None, keep=None, force=False):
    """
    Take back the formula's TLS policy entries: those of the nodes of
    ``host`` (with ``port``), or every entry the formula set when ``host``
    is None; but not those of the nodes of ``keep`` (with ``port``). Each
    gets back the policy an admin had before the formula, or goes, while it
    holds the formula's value (``force``: whoever set it). Once no entry of
    the formula is left, ``smtp_tls_policy_maps`` gets back its earlier
    value if the formula set it, and a table file the formula created goes
    once nothing else is in it. ``name`` is a label (the private domain).

    Placed after ``transport_present`` with ``keep`` set to the portal
    nodes, it takes back the policies of nodes the transport entry no longer
    names, so no node the transport entry names is ever without its policy.

    changes: one ``{"old": <policy>, "new": None|<admin's>}`` per nexthop,
    ``smtp_tls_policy_maps`` ``{"old": "hash:/...", "new": ""}``,
    ``tls_policy_file`` ``{"old": "/etc/postfix/tls_policy", "new": None}``.

    .. code-block:: yaml

        relay-to-webmail.private:
          ciphermail_mta.tls_policy_absent:
            - keep: [portal-a.dmz.example.net]
            - port: 25
    """

    def work(test, changes):
        ledger = ciphermail_split_ledger.of_host(__opts__, __pillar__)
        given = ciphermail_postfix_values.nexthop_elements(host, port) if host is not None else None
        kept = set(ciphermail_postfix_values.nexthop_elements(keep, port)) if keep else set()
        targets = [key for key in (given or ledger.records(TLS_POLICY.entry_kind)) if key not in kept]
        subject = "The formula's TLS policy entries" + (f" but those of {', '.join(sorted(kept))}" if kept else "")
        pending = targets or (
            not kept and (ledger.records(TLS_POLICY.maps_kind) or ledger.records(TLS_POLICY.file_kind))
        )
        if not pending:  # nothing of the formula's to take back: no need to ask Postfix
            return state.settled(subject, "taken back", plural=True)
        made, released = _take_back(ledger, TLS_POLICY, targets, force, test)
        changes.update(made)
        comment = state.report(test, made, subject, "taken back", "taken back", plural=True)
        comment += state.released_note(released, ("TLS policy entry", "TLS policy entries"))
        return _reloaded(test, changes, comment)

    return state.run(name, work, __opts__, __context__)


# -- STARTTLS on the portal ------------------------------------------------------


def starttls_offered(name, port=25):
    """
    Check, read-only, that this (portal) gateway's Postfix offers STARTTLS
    with a certificate it can load on the smtpd service(s) of master.cf that
    listen on ``port`` (``smtp`` is 25): ``smtpd_tls_security_level`` may or
    encrypt as it takes effect (master.cf ``-o`` over main.cf), and the
    certificate and key of ``smtpd_tls_chain_files``, else
    ``smtpd_tls_cert_file``/``smtpd_tls_key_file``, load. It fails, under
    test=True too, with the reason otherwise, and changes nothing: CipherMail
    manages the portal's certificate, not the formula. ``name``: a label.

    .. code-block:: yaml

        portal offers STARTTLS:
          ciphermail_mta.starttls_offered:
            - port: 25
    """

    def work(test, changes):
        services = _mta("smtpd_tls", port)
        if not services:
            raise CommandExecutionError(
                f"No smtpd service of master.cf listens on port {port}, so the main gateway's Postfix "
                "finds no STARTTLS there; check portal_port"
            )
        failing = [service for service in services if not service["offered"]]
        if failing:
            reasons = "; ".join(f"{service['service']}: {service['problem']}" for service in failing)
            raise CommandExecutionError(
                f"Postfix does not offer STARTTLS with a certificate on port {port} ({reasons}). "
                "The formula does not manage certificates: set up the portal's TLS certificate in "
                "CipherMail (or Postfix), then apply again"
            )
        names = ", ".join(service["service"] for service in services)
        files_used = sorted({path for service in services for path in service["files"]})
        return state.settled(f"STARTTLS on {names}", f"offered with {', '.join(files_used)}")

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
    the formula's own entries too. Once only the default the formula wrote
    out is left, main.cf stops setting the parameter (as ``postconf -X``
    would).

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
