"""
Functional tier: the formula's execution and state modules loaded in-process
by Salt's loader (``module_dirs`` = the repository root, so ``_modules`` and
``_states`` are found as Salt finds synced modules), pointed at a sandboxed
gateway through ``ciphermail_split:lookup`` in the minion options.
"""

import copy

import pytest
from saltfactories.utils import random_string
from saltfactories.utils.functional import Loaders
from support.sandbox import REPO_ROOT


@pytest.fixture(scope="package")
def minion_opts(salt_factories):
    factory = salt_factories.salt_minion_daemon(
        random_string("functional-"),
        overrides={"module_dirs": [str(REPO_ROOT)], "file_client": "local"},
    )
    return factory.config.copy()


@pytest.fixture
def loaders(minion_opts, gateway):
    opts = copy.deepcopy(minion_opts)
    opts["ciphermail_split"] = {"lookup": gateway.lookup()}
    loaders = Loaders(opts, loaded_base_name=f"{random_string('loader-')}.loaded")
    try:
        yield loaders
    finally:
        loaders.reset_state()


@pytest.fixture
def modules(loaders):
    return loaders.modules


@pytest.fixture
def states(loaders):
    return loaders.states
