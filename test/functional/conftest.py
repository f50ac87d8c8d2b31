"""
Functional tier: the formula's execution and state modules loaded in-process
by Salt's loader (``module_dirs`` = the repository root, so ``_modules`` and
``_states`` are found as Salt finds synced modules), pointed at a sandboxed
gateway through ``ciphermail_split:lookup`` in the minion options.

The loaders are built once per package (loading Salt takes seconds); each
test points them at its own gateway and state tree.
"""

import shutil

import pytest
from saltfactories.utils import random_string
from saltfactories.utils.functional import Loaders
from support.sandbox import REPO_ROOT, GatewaySandbox


@pytest.fixture(scope="package")
def gateway_root(worker_id):
    """
    Where this worker's sandboxed gateway lives, the same for every test of
    the package: the loaders are built once with its lookup in their opts,
    and Salt 3006's loader deep-copies those opts when it loads a module
    again, so the lookup must not depend on the test.
    """
    return REPO_ROOT / "build" / "functional" / worker_id / "gateway"


@pytest.fixture
def gateway(gateway_root):
    """An empty sandboxed gateway at this worker's fixed place."""
    shutil.rmtree(gateway_root, ignore_errors=True)
    return GatewaySandbox(gateway_root)


@pytest.fixture(scope="package")
def minion_opts(salt_factories, gateway_root):
    factory = salt_factories.salt_minion_daemon(
        random_string("functional-"),
        overrides={
            "module_dirs": [str(REPO_ROOT)],
            "file_client": "local",
            "file_roots": {"base": []},
            "ciphermail_split": {"lookup": GatewaySandbox(gateway_root).lookup()},
        },
    )
    return factory.config.copy()


@pytest.fixture(scope="package")
def package_loaders(minion_opts):
    loaders = Loaders(minion_opts, loaded_base_name=f"{random_string('loader-')}.loaded")
    # Salt 3006's loader deep-copies the opts it is given: hand it these two
    # objects again, so that the modules share them with loaders.opts.
    for key in ("ciphermail_split", "file_roots"):
        loaders.modules.opts[key] = loaders.opts[key]
    return loaders


@pytest.fixture
def state_tree(tmp_path):
    path = tmp_path / "state-tree"
    path.mkdir()
    return path


@pytest.fixture
def loaders(package_loaders, gateway, state_tree):
    """The loaders, pointed at this test's gateway and state tree."""
    # The loaded modules share these nested objects with loaders.opts.
    lookup = package_loaders.opts["ciphermail_split"]["lookup"]
    lookup.clear()
    lookup.update(gateway.lookup())
    package_loaders.opts["file_roots"]["base"][:] = [str(state_tree)]
    try:
        yield package_loaders
    finally:
        package_loaders.reset_state()


@pytest.fixture
def modules(loaders):
    return loaders.modules


@pytest.fixture
def states(loaders):
    return loaders.states


@pytest.fixture
def run_sls(modules, state_tree):
    """Run SLS text with ``state.sls`` (requisites, watch and mod_watch included)."""

    def run(text, test=False):
        (state_tree / "under_test.sls").write_text(text)
        return modules.state.sls("under_test", test=test)

    return run
