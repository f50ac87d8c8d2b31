"""
The ciphermail_split ledger: what this formula changed on this gateway.

Every state of the formula that changes something the admin shares with us
(a CipherMail property or domain, a key of the Ansible override, a Postfix
transport line or ``mynetworks`` entry) first records here the value the
item had *before* (``None``: it did not exist) and the value the formula set
(*ours*). The clean states use the record to take back only what the formula
did: an item is restored to its old value only while it still holds ours, so
an admin's later edit is never overwritten and nothing the formula did not
add is ever removed.

The ledger also remembers what is still pending: a ``cm-run-playbook`` run
(the override file changed but the playbook has not yet succeeded since),
and a ``postfix reload`` (Postfix's configuration changed but the reload
failed), so the next run does it.

With ``cli_read_back: false`` (documented-only mode) the formula cannot
read the gateway, and it keeps what it *applied*: the value each
``ciphermail-cli`` write set successfully. That is all it knows of the
gateway then: an item whose applied value is the one wanted needs no
command, so a converged run makes no CLI call at all.

It is one JSON file, ``<state_dir>/ledger.json``, read afresh by every call
and written atomically. The state and execution modules keep it through
:class:`Ledger`; an admin reads it with ``salt <gw> ciphermail_ledger.show``.
"""

import contextlib
import json
import os

import ciphermail_split_files as files
import ciphermail_split_settings
from ciphermail_gateway_values import UNKNOWN
from salt.exceptions import CommandExecutionError

LEDGER_FILE = "ledger.json"


def mynetworks_key(parameter, entry):
    """The ledger key of one entry of the list parameter ``parameter`` (records of kind ``mynetworks``)."""
    return f"{parameter}|{entry}"


def domain_property_key(domain, name):
    """The ledger key of property ``name`` of ``domain`` (records of kind ``domain_property``)."""
    return f"{domain}|{name}"


def _record_id(kind, key):
    return f"{kind}:{key}"


class Ledger:
    """The ledger of one gateway, kept in ``state_dir``."""

    def __init__(self, state_dir):
        self.path = os.path.join(state_dir, LEDGER_FILE)

    def load(self):
        """Every record and whether a playbook run is pending."""
        text = files.read_text(self.path)
        if text is None:
            return {"records": {}, "playbook_pending": False, "reload_pending": False, "applied": {}}
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise CommandExecutionError(
                f"Cannot read the ciphermail_split ledger {self.path}: {exc}. It records what the formula "
                "changed, which clean takes back. Put back a copy from your backup; or move it aside: the "
                "formula then starts a new one, and clean names what it cannot prove is the formula's, for "
                "you to take back with pillar ciphermail_split:clean_force"
            ) from exc
        data.setdefault("records", {})
        data.setdefault("playbook_pending", False)
        data.setdefault("reload_pending", False)
        data.setdefault("applied", {})
        return data

    def _save(self, data):
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        except OSError as exc:
            raise CommandExecutionError(f"Cannot create the ciphermail_split state directory: {exc}") from exc
        files.write_text(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n", new_file_mode=0o600)

    def record(self, kind, key):
        """The record of one item (``{"before": ..., "ours": ...}``), or None when the formula never changed it."""
        return self.load()["records"].get(_record_id(kind, key))

    def records(self, kind):
        """``{key: record}`` of every item of one kind the formula changed."""
        prefix = _record_id(kind, "")
        return {
            record_id[len(prefix) :]: entry
            for record_id, entry in self.load()["records"].items()
            if record_id.startswith(prefix)
        }

    def keys_under(self, kind, prefix):
        """The rest of each key of ``kind`` that starts with ``prefix`` (``mynetworks|`` -> the entries)."""
        return [key[len(prefix) :] for key in self.records(kind) if key.startswith(prefix)]

    def remember(self, kind, key, before, ours):
        """
        Record that the formula is about to change an item from ``before``
        to ``ours``; the first ``before`` is kept, it is what clean
        restores. Called *before* the change, so an interrupted run still
        knows the original value.
        """
        data = self.load()
        record_id = _record_id(kind, key)
        entry = data["records"].get(record_id) or {"before": before}
        if entry["before"] == ours:
            # Back to the original value: nothing of ours is left to take back.
            data["records"].pop(record_id, None)
        else:
            entry["ours"] = ours
            data["records"][record_id] = entry
        self._save(data)
        return data["records"].get(record_id)

    @contextlib.contextmanager
    def remembered(self, kind, key, before, ours, kept=None):
        """
        :meth:`remember` the change around the write it guards (the
        ``with`` block). When the write fails, the record is taken back to
        what it was, unless ``kept()`` says the item holds ``ours`` anyway
        (the write went through before the failure): else an admin who then
        sets the same value by hand would lose it to the next clean.
        """
        prior = self.record(kind, key)
        self.remember(kind, key, before, ours)
        try:
            yield
        except BaseException:
            if not _holds(kept):
                self._put_back(kind, key, prior)
            raise

    def _put_back(self, kind, key, prior):
        data = self.load()
        record_id = _record_id(kind, key)
        if prior is None:
            data["records"].pop(record_id, None)
        else:
            data["records"][record_id] = prior
        self._save(data)

    def forget(self, kind, key):
        """Drop the record of one item (clean restored it, or an admin took it over); True when there was one."""
        data = self.load()
        found = data["records"].pop(_record_id(kind, key), None) is not None
        if found:
            self._save(data)
        return found

    def restore_plan(self, kind, key, current):
        """
        What taking back one item means now, given its ``current`` value
        (normalised the way it was recorded): ``{"action": "none"}`` (the
        formula never changed it), ``{"action": "restore", "value": before}``
        (it still holds our value: put back the old one; None: remove it) or
        ``{"action": "release", "value": current}`` (someone changed it
        since: leave it and only forget the record).
        """
        entry = self.record(kind, key)
        if entry is None:
            return {"action": "none"}
        if entry.get("ours") == current:
            return {"action": "restore", "value": entry["before"]}
        return {"action": "release", "value": current}

    def applied(self, kind, key):
        """The value a CLI write of the formula last set on one item successfully, or None."""
        return self.load()["applied"].get(_record_id(kind, key))

    def remember_applied(self, kind, key, value):
        """Record that a write has just set one item to ``value`` (called *after* the write succeeded)."""
        data = self.load()
        if data["applied"].get(_record_id(kind, key)) != value:
            data["applied"][_record_id(kind, key)] = value
            self._save(data)

    def forget_applied(self, kind, key):
        """Drop what the formula applied to one item (clean took it back)."""
        data = self.load()
        if data["applied"].pop(_record_id(kind, key), None) is not None:
            self._save(data)

    def applied_keys_under(self, kind, prefix):
        """As :meth:`keys_under`, for what CLI writes applied."""
        start = _record_id(kind, prefix)
        return [record_id[len(start) :] for record_id in self.load()["applied"] if record_id.startswith(start)]

    def formula_items(self):
        """
        Every item the formula set and has not taken back, as ``[(kind, key,
        ours)]``: the value of each record, or what a write applied.
        """
        data = self.load()
        values = {**{record_id: entry.get("ours") for record_id, entry in data["records"].items()}, **data["applied"]}
        return [(*record_id.split(":", 1), ours) for record_id, ours in sorted(values.items())]

    def mynetworks_entries(self, parameter):
        """The entries of ``parameter`` that the formula added, as it wrote them."""
        return self.keys_under("mynetworks", mynetworks_key(parameter, ""))

    @property
    def playbook_pending(self):
        """True when the override changed and ``cm-run-playbook`` has not succeeded since."""
        return bool(self.load()["playbook_pending"])

    def set_playbook_pending(self, pending):
        """Remember (or clear) a pending ``cm-run-playbook`` run."""
        return self._set_flag("playbook_pending", pending)

    @property
    def reload_pending(self):
        """True when Postfix's configuration changed and ``postfix reload`` has not succeeded since."""
        return bool(self.load()["reload_pending"])

    def set_reload_pending(self, pending):
        """Remember (or clear) a pending ``postfix reload``."""
        return self._set_flag("reload_pending", pending)

    def _set_flag(self, flag, value):
        data = self.load()
        if bool(data[flag]) != bool(value):
            data[flag] = bool(value)
            self._save(data)
        return bool(value)


def _holds(kept):
    """``kept()``, False when there is none or it cannot tell."""
    if kept is None:
        return False
    try:
        return bool(kept())
    except Exception:  # pylint: disable=broad-except
        return False


def held(items):
    """
    Whether each item the formula set still holds its value, from
    ``[(kind, key, ours, now)]``: ``{"<kind>:<key>": {"ours", "now",
    "holds"}}``, ``holds`` True (it does), False (someone changed it since)
    or None (``now`` is ``unknown``: it cannot be read).
    """
    return {
        _record_id(kind, key): {"ours": ours, "now": now, "holds": None if now == UNKNOWN else now == ours}
        for kind, key, ours, now in items
    }


def of_host(opts, pillar):
    """The ledger of this host: in ``state_dir`` of the host settings in effect."""
    return Ledger(ciphermail_split_settings.effective(opts, pillar)["state_dir"])
