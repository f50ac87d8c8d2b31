"""
The first steps of a new admin, and the messages they meet when a step is
missing or wrong: each message says what is wrong and what to do, in one
failing state per problem, with no template dump and no traceback, and
nothing on the gateway changes (under test=True as in the live run).
"""

import pathlib

import pytest
import salt.version
from support.masterless import MasterlessMinion
from support.sandbox import GatewaySandbox
from support.values import MAIN_PILLAR, PORTAL_PILLAR

pytestmark = pytest.mark.integration

#: Salt 3007 and later keep a failing state's comment under test=True.
COMMENT_UNDER_TEST = salt.version.__saltstack_version__.major >= 3007


def refused_alike(minion, sls="ciphermail_split"):
    """The refusals of a test=True and a live run, which must be the same; nothing is written."""
    files = minion.gateway.files()
    runs = [minion.apply(sls, test=test) for test in (True, False)]
    for run in runs:
        assert run.returncode != 0, run
        assert run.refusals, run
        output = run.proc.stdout + run.proc.stderr
        for noise in ("Traceback", "map.jinja", "Jinja", "Problem running salt function"):
            assert noise not in output, (noise, output)
        for ret in run.states.values():
            assert ret["result"] is False
            if COMMENT_UNDER_TEST or run is runs[1]:
                assert ret["comment"] == ret["name"], ret
    assert runs[0].refusals == runs[1].refusals
    assert minion.gateway.files() == files
    assert minion.gateway.write_calls() == []
    return runs[1].refusals


def test_modules_not_synced_say_to_sync(tmp_path):
    gateway = GatewaySandbox(tmp_path / "gateway")
    minion = MasterlessMinion(tmp_path / "salt", "fresh-gw", gateway, MAIN_PILLAR)  # no saltutil.sync_all
    [message] = refused_alike(minion)
    assert "not on fresh-gw" in message
    assert "salt 'fresh-gw' saltutil.sync_all" in message


@pytest.fixture
def minion(tmp_path):
    return MasterlessMinion.synced(tmp_path, "first", MAIN_PILLAR)


def test_no_pillar_at_all_points_to_pillar_example(minion):
    (pathlib.Path(minion.pillar_root) / "ciphermail_split.sls").write_text("{}\n")
    [message] = refused_alike(minion)
    assert message.startswith("This minion has no ciphermail_split pillar")
    assert "pillar.example" in message


def test_several_bad_keys_are_each_named_in_their_own_state(minion):
    minion.set_pillar({**MAIN_PILLAR, "portal_port": 0, "messengers": {"webmail": "yes"}})
    messages = refused_alike(minion)
    assert [message.split(":")[1] for message in messages] == ["messengers", "portal_port"]


def test_a_wrong_cli_path_is_named_by_its_lookup_key_only(minion, tmp_path):
    minion.gateway = GatewaySandbox(tmp_path / "portal-gateway")
    minion.set_pillar({**PORTAL_PILLAR, "lookup": {"cli": "/opt/nowhere/ciphermail-cli"}})
    files = minion.gateway.files()
    for test in (True, False):
        run = minion.apply(test=test)
        assert run.returncode != 0
        comment = run.states["ciphermail_split-portal-ready"]["comment"]
        assert comment == (
            "ciphermail_split:lookup:cli: /opt/nowhere/ciphermail-cli is not found or not executable "
            "(set ciphermail_split:lookup:cli)"
        )
        output = run.proc.stdout + run.proc.stderr
        assert "normalise" not in output and "is not available" not in output
    assert minion.gateway.files() == files


def _minion_config(minion, text):
    """Host settings in the minion config (``minion.d``), as README's host settings allow."""
    (minion.config_dir / "minion.d").mkdir(exist_ok=True)
    (minion.config_dir / "minion.d" / "ciphermail_split.conf").write_text(text)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("ciphermail_split:\n  lookup: cli-timeout-of-5\n", ["ciphermail_split:lookup (minion config): got a str"]),
        (
            "ciphermail_split:\n  lookup:\n    cli_timout: 5\n    private_domain: other.private\n",
            [
                "ciphermail_split:lookup:cli_timout (minion config): not a host setting",
                "ciphermail_split:lookup:private_domain (minion config): not a host setting",
            ],
        ),
    ],
    ids=["lookup not a mapping", "keys that are not host settings"],
)
def test_a_bad_minion_config_lookup_is_refused_like_a_bad_pillar(minion, config, expected):
    _minion_config(minion, config)
    messages = refused_alike(minion)
    assert len(messages) == len(expected), messages
    for message, start in zip(messages, expected):
        assert message.startswith(start), messages


def test_a_host_setting_in_the_minion_config_takes_effect(minion):
    _minion_config(minion, "ciphermail_split:\n  lookup:\n    cli_timeout: 77\n")
    proc = minion.salt_call("ciphermail_split.settings")
    assert proc.returncode == 0, proc.stderr
    assert '"cli_timeout": 77' in proc.stdout
    assert minion.apply(test=True).returncode == 0
