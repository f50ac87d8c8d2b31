"""
The cases of a parametrized test that every supported Salt runs, and those
only the default Salt runs (marker ``default_salt_only``, docs/tests.rst):
where each case checks the same pure logic through the same Salt
mechanism, a few of them show the mechanism on every Salt.
"""

import pytest


def on_every_salt(cases, every_salt, ids=None):
    """
    ``cases`` as pytest params: a case whose ID is in ``every_salt`` runs on
    every Salt, the others are marked ``default_salt_only``. A case is one
    value, or a tuple of values for several argument names; its ID is
    ``ids[i]``, or the case itself.
    """
    ids = list(cases) if ids is None else list(ids)
    unknown = set(every_salt) - set(ids)
    if unknown:
        raise ValueError(f"not among the cases: {sorted(unknown)}")
    return [
        pytest.param(
            *(case if isinstance(case, tuple) else (case,)),
            id=case_id,
            marks=() if case_id in every_salt else pytest.mark.default_salt_only,
        )
        for case, case_id in zip(cases, ids)
    ]
