"""
The three ways README.rst installs the formula, followed as a new admin
follows them: a copy in a file root, gitfs from a git repository, and an SPM
package (``make spm``, then ``spm local install``). Each ends the same way:
``saltutil.sync_all`` brings the formula's modules to a masterless minion,
and ``state.apply ciphermail_split test=True`` against a fresh sandboxed
gateway predicts every change and writes nothing.

The gitfs remote is a bare repository made from this repository's HEAD, so
that case tests the committed files.
"""

import json
import pathlib
import subprocess
import sys
import tarfile

import pytest
import yaml
from support.contract import predict_apply
from support.make import make
from support.masterless import FORMULA_PARTS, MasterlessMinion
from support.sandbox import REPO_ROOT, GatewaySandbox
from support.values import MAIN_PILLAR

pytestmark = pytest.mark.integration

#: What ``saltutil.sync_all`` must bring to the minion, by kind.
SYNCED = {kind: {path.stem for path in (REPO_ROOT / f"_{kind}").glob("*.py")} for kind in ("modules", "states", "utils")}
READY_STATE = "ciphermail_split-main-ready"
MAIN_STATES = {
    "ciphermail_split-main-transport-present",
    "ciphermail_split-main-override-present",
    "ciphermail_split-main-playbook-applied",
}
#: Without portal_tls it has no TLS policy of the formula's to take back.
SETTLED_MAIN_STATES = {"ciphermail_split-main-tls-policy-absent"}


def run(*argv):
    proc = subprocess.run([str(arg) for arg in argv], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def salt_script(name):
    return pathlib.Path(sys.executable).parent / name


def site_file_root(root):
    """The site's own file root (``/srv/salt``), empty here."""
    path = root / "srv-salt"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def sync_and_predict(root, fileserver):
    """A masterless minion served by ``fileserver``: sync_all, then the main role with test=True."""
    gateway = GatewaySandbox(root / "gateway")
    minion = MasterlessMinion(root / "salt", "install-minion", gateway, MAIN_PILLAR, fileserver)
    synced = json.loads(minion.sync().stdout)["local"]
    for kind, names in SYNCED.items():
        assert {f"{kind}.{name}" for name in names} <= set(synced[kind]), synced
    predicted = predict_apply(minion)
    assert set(predicted.results) == {READY_STATE, *MAIN_STATES, *SETTLED_MAIN_STATES}, predicted
    assert predicted.results[READY_STATE] is True, predicted
    assert {state: predicted.results[state] for state in MAIN_STATES} == dict.fromkeys(MAIN_STATES), predicted
    assert set(predicted.changes) == MAIN_STATES, predicted
    return predicted


def test_copy_into_a_file_root(tmp_path):
    formula_dir = tmp_path / "formulas" / "ciphermail-split-formula"
    formula_dir.mkdir(parents=True)
    run("cp", "-r", *(REPO_ROOT / part for part in FORMULA_PARTS), formula_dir)

    sync_and_predict(tmp_path, {"file_roots": {"base": [site_file_root(tmp_path), str(formula_dir)]}})


def test_gitfs_from_a_git_repository(tmp_path):
    remote = tmp_path / "ciphermail-split-formula.git"
    run("git", "init", "--quiet", "--bare", remote)
    run("git", "-C", REPO_ROOT, "push", "--quiet", remote, "HEAD:refs/heads/main")

    sync_and_predict(
        tmp_path,
        {
            "fileserver_backend": ["roots", "gitfs"],
            "file_roots": {"base": [site_file_root(tmp_path)]},
            "gitfs_provider": "gitpython",
            "gitfs_remotes": [remote.as_uri()],
            "gitfs_base": "main",
        },
    )


@pytest.fixture(scope="module")
def spm_package(tmp_path_factory):
    spm_dir = tmp_path_factory.mktemp("spm-build")
    proc = make("spm", SPM_DIR=spm_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    packages = list(spm_dir.glob("ciphermail_split-*.spm"))
    assert len(packages) == 1
    return packages[0]


def test_spm_package_holds_the_formula_and_nothing_else(spm_package):
    with tarfile.open(spm_package) as package:
        names = set(package.getnames())
    for sls in ("init", "clean", "main/init", "main/clean", "portal/init", "portal/clean", "orch/init", "orch/clean"):
        assert f"ciphermail_split/ciphermail_split/{sls}.sls" in names
    for kind, modules in SYNCED.items():
        assert {f"ciphermail_split/_{kind}/{module}.py" for module in modules} <= names
    assert {"ciphermail_split/FORMULA", "ciphermail_split/pillar.example"} <= names
    assert not any("/test/" in name or ".venv" in name or "__pycache__" in name for name in names)


def test_spm_local_install(tmp_path, spm_package):
    spm_root = tmp_path / "spm"
    paths = {
        "formula_path": spm_root / "salt",
        "pillar_path": spm_root / "pillar",
        "reactor_path": spm_root / "reactor",
        "spm_db": spm_root / "cache" / "packages.db",
        "spm_cache_dir": spm_root / "cache",
        "spm_build_dir": spm_root / "build",
        "spm_share_dir": spm_root / "share",
        "spm_logfile": spm_root / "spm.log",
        "spm_repos_config": spm_root / "spm.repos",
        "cachedir": spm_root / "master-cache",  # else spm writes a pillar cache under /var/cache/salt
    }
    conf_dir = spm_root / "conf"
    conf_dir.mkdir(parents=True)
    (conf_dir / "spm").write_text(yaml.safe_dump({key: str(path) for key, path in paths.items()}))
    run(salt_script("spm"), f"--config-dir={conf_dir}", "--assume-yes", "local", "install", spm_package)

    formula_path = paths["formula_path"]
    assert sorted(path.name for path in formula_path.iterdir()) == sorted(FORMULA_PARTS)
    # SPM puts the example pillar beside the site's pillar, for the admin to copy.
    assert (paths["pillar_path"] / "ciphermail_split.sls.orig").read_text() == (
        REPO_ROOT / "pillar.example"
    ).read_text()
    sync_and_predict(tmp_path, {"file_roots": {"base": [site_file_root(tmp_path), str(formula_path)]}})
