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

The ledger also remembers a pending ``cm-run-playbook`` run: the override
file changed but the playbook has not yet succeeded.

The ledger is one JSON file, ``<state_dir>/ledger.json`` (``state_dir`` from
``ciphermail_split.settings``), written atomically.
"""

import json
import logging
import os

import ciphermail_split_files as files
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "ciphermail_ledger"

LEDGER_FILE = "ledger.json"


def __virtual__():
    return __virtualname__


def _ledger_path():
    return os.path.join(__salt__["ciphermail_split.host_settings"]()["state_dir"], LEDGER_FILE)


def _load():
    path = _ledger_path()
    text = files.read_text(path)
    if text is None:
        return {"records": {}, "playbook_pending": False}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CommandExecutionError(f"Cannot read the ciphermail_split ledger {path}: {exc}") from exc
    data.setdefault("records", {})
    data.setdefault("playbook_pending", False)
    return data


def _save(data):
    path = _ledger_path()
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    except OSError as exc:
        raise CommandExecutionError(f"Cannot create the ciphermail_split state directory: {exc}") from exc
    files.write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode=0o600)


def _record_id(kind, key):
    return f"{kind}:{key}"


def show():
    """
    Return the whole ledger: every record and whether a playbook run is pending.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_ledger.show
    """
    return _load()


def record(kind, key):
    """
    Return the record of one item (``{"before": ..., "ours": ...}``), or None
    when the formula never changed it.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_ledger.record global_property trigger-webmail-header
    """
    return _load()["records"].get(_record_id(kind, key))


def records(kind):
    """
    Return ``{key: record}`` for every item of one kind the formula changed.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_ledger.records mynetworks
    """
    prefix = _record_id(kind, "")
    return {
        record_id[len(prefix) :]: entry
        for record_id, entry in _load()["records"].items()
        if record_id.startswith(prefix)
    }


def remember(kind, key, before, ours):
    """
    Record that the formula is about to change an item from ``before`` to
    ``ours``. The first ``before`` is kept: it is what clean restores.

    Call it *before* making the change, so an interrupted run still knows
    the original value.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_ledger.remember global_property trigger-webmail-header-enabled false true
    """
    data = _load()
    record_id = _record_id(kind, key)
    entry = data["records"].get(record_id) or {"before": before}
    if entry["before"] == ours:
        # Back to the original value: nothing of ours is left to take back.
        data["records"].pop(record_id, None)
    else:
        entry["ours"] = ours
        data["records"][record_id] = entry
    _save(data)
    return data["records"].get(record_id)


def forget(kind, key):
    """
    Drop the record of one item (after clean restored it, or when an admin
    has taken it over). Returns True when there was a record.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_ledger.forget domain relay-to-webmail.private
    """
    data = _load()
    found = data["records"].pop(_record_id(kind, key), None) is not None
    if found:
        _save(data)
    return found


def restore_plan(kind, key, current):
    """
    Say what taking back one item means now, given its ``current`` value
    (normalised the way it was recorded):

    - ``{"action": "none"}``: the formula never changed it;
    - ``{"action": "restore", "value": <before>}``: it still holds our
      value, put back the old one (``None``: remove it);
    - ``{"action": "release", "value": <current>}``: someone changed it
      after us; leave it as it is and only forget the record.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_ledger.restore_plan global_property trigger-webmail-header-enabled true
    """
    entry = record(kind, key)
    if entry is None:
        return {"action": "none"}
    if entry.get("ours") == current:
        return {"action": "restore", "value": entry["before"]}
    return {"action": "release", "value": current}


def mynetworks_key(parameter, entry):
    """
    Return the ledger key of one ``mynetworks`` entry of the list parameter
    ``parameter`` (records of kind ``mynetworks``).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_ledger.mynetworks_key mynetworks 192.0.2.10
    """
    return f"{parameter}|{entry}"


def mynetworks_entries(parameter="mynetworks"):
    """
    Return the entries of the list parameter ``parameter`` that the formula
    added (the main gateway's addresses), as it wrote them.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_ledger.mynetworks_entries
    """
    prefix = mynetworks_key(parameter, "")
    return [key[len(prefix) :] for key in records("mynetworks") if key.startswith(prefix)]


def playbook_pending():
    """
    True when the Ansible override changed and ``cm-run-playbook`` has not
    yet succeeded since.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_ledger.playbook_pending
    """
    return bool(_load()["playbook_pending"])


def set_playbook_pending(pending=True):
    """
    Remember (or clear) a pending ``cm-run-playbook`` run.

    CLI Example:

    .. code-block:: bash

        salt main-gw ciphermail_ledger.set_playbook_pending true
    """
    data = _load()
    if bool(data["playbook_pending"]) != bool(pending):
        data["playbook_pending"] = bool(pending)
        _save(data)
    return bool(pending)
