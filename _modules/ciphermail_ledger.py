"""
The ciphermail_split ledger as an admin reads it: what this formula changed
on this gateway (each item's value before and the formula's value), and
whether a ``cm-run-playbook`` run is pending. The clean states take back
only what it records. It is kept by the formula's states through
``_utils/ciphermail_split_ledger.py``, in ``<state_dir>/ledger.json``.
"""

import ciphermail_split_ledger
import ciphermail_split_settings as split_settings

__virtualname__ = "ciphermail_ledger"


def __virtual__():
    return __virtualname__


def show():
    """
    Return the whole ledger: every record (``"<kind>:<key>": {"before": ...,
    "ours": ...}``), whether a playbook run is pending, and, in
    documented-only mode, what each ``ciphermail-cli`` write applied
    (``applied``: ``"<kind>:<key>": value``, all the formula knows of the
    gateway then).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail_ledger.show
    """
    state_dir = split_settings.effective(__opts__, __pillar__)["state_dir"]
    return ciphermail_split_ledger.Ledger(state_dir).load()
