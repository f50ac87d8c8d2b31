"""
Reads remembered for the length of one state function, so that a state
which plans a change (test=True) and then makes it, or asks several
questions of the same table, runs each read command once: ``postconf -h``,
``postmap -q``, ``ciphermail-cli ... get``/``list``.

The memo lives in the loader's ``__context__`` only while
:func:`remembered` is active (``ciphermail_split_state.run`` opens it
around a state's work), and any write through the same module forgets
everything read so far, so a read after a write sees the write. Outside a
state (``salt gw ciphermail.domain_list``) nothing is remembered.

It is not kept across the states of a run on purpose: another state of
the admin's highstate (a ``file.managed`` of main.cf, a ``cmd.run``) may
change what was read in between.
"""

import contextlib
import copy

CONTEXT_KEY = "ciphermail_split.reads"


@contextlib.contextmanager
def remembered(context):
    """Remember reads in ``context`` until the block ends."""
    context[CONTEXT_KEY] = {}
    try:
        yield
    finally:
        context.pop(CONTEXT_KEY, None)


def read(context, key, fetch):
    """
    ``fetch()``, or what it returned for ``key`` earlier in this block.
    A failed fetch is not remembered.
    """
    memo = context.get(CONTEXT_KEY)
    if memo is None:
        return fetch()
    if key not in memo:
        memo[key] = fetch()
    return copy.deepcopy(memo[key])


def forget(context):
    """Forget every read: something was just written."""
    memo = context.get(CONTEXT_KEY)
    if memo is not None:
        memo.clear()
