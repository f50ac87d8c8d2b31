"""
A credential the gateway commands need (``lookup:command_env``) reaches
them through the environment only: never argv, changes, comments, the
ledger, the call log or Salt's debug log.
"""

import pytest
import yaml
from support.cases import on_every_salt
from support.values import CREDENTIAL, MAIN_PILLAR, PORTAL_PILLAR, SECRET

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("pillar", [PORTAL_PILLAR, MAIN_PILLAR], ids=["portal", "main"])
def test_credential_only_travels_in_the_environment(make_minion, pillar):
    minion = make_minion({**pillar, **CREDENTIAL}, log_level="debug")
    # The simulated gateway refuses ciphermail-cli without the credential.
    requires_password = {"CIPHERMAIL_SIM_PASSWORD": SECRET}
    for args in (("test=True",), (), ()):
        proc = minion.salt_call("-l", "debug", "state.apply", "ciphermail_split", *args, extra_env=requires_password)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert SECRET not in proc.stdout
        assert SECRET not in proc.stderr
    for function in ("ciphermail_split.settings", "ciphermail_split.validate_pillar"):
        proc = minion.salt_call(function)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert SECRET not in proc.stdout
        assert "CIPHERMAIL_CLI_PASSWORD" in proc.stdout

    gateway = minion.gateway
    assert gateway.calls(), "the gateway was used"
    assert all(call["rc"] == 0 for call in gateway.calls())
    places = {
        "salt debug log": minion.log_file,
        "call log": gateway.home / "calls.jsonl",
        "ledger": gateway.state_dir / "ledger.json",
        "simulator state": gateway.home / "state.json",
    }
    for name, path in places.items():
        if path.exists():
            assert SECRET not in path.read_text(errors="replace"), name
    for path in gateway.root.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_wrong_credential_fails_with_the_servers_message(make_minion):
    minion = make_minion({**PORTAL_PILLAR, "lookup": {"command_env": {"CIPHERMAIL_CLI_PASSWORD": "wrong"}}})
    run = minion.apply(extra_env={"CIPHERMAIL_SIM_PASSWORD": SECRET})
    assert run.returncode != 0
    assert run.results["ciphermail_split-portal-private-domain-present"] is False
    assert "authentication failed" in run.states["ciphermail_split-portal-private-domain-present"]["comment"]
    assert SECRET not in run.proc.stdout


#: A credential given in every wrong shape ``lookup:command_env`` can take.
NUMBER_SECRET = 918273645546372819
BAD_SHAPES = {
    "string": f"CIPHERMAIL_CLI_PASSWORD={SECRET}",
    "list": [f"CIPHERMAIL_CLI_PASSWORD={SECRET}"],
    "number value": {"CIPHERMAIL_CLI_PASSWORD": NUMBER_SECRET},
    "nested": {"CIPHERMAIL_CLI": {"PASSWORD": SECRET}},
    "bad name": {f"PASSWORD {SECRET}": SECRET},
}


#: A string and a nested mapping on every Salt: the refusal and the log are Salt's to show.
EVERY_SALT = ("string", "nested")


@pytest.mark.parametrize("shape", on_every_salt(BAD_SHAPES, EVERY_SALT))
def test_a_credential_of_the_wrong_shape_is_refused_without_being_shown(make_minion, shape):
    minion = make_minion(PORTAL_PILLAR, log_level="debug")
    # Given as is (the simulator's own variable is not merged into it).
    pillar = {**PORTAL_PILLAR, "lookup": {**minion.gateway.lookup(), "command_env": BAD_SHAPES[shape]}}
    (minion.pillar_root / "ciphermail_split.sls").write_text(yaml.safe_dump({"ciphermail_split": pillar}))
    runs = (
        ("state.apply", "ciphermail_split", "test=True"),
        ("state.apply", "ciphermail_split"),
        ("ciphermail_split.validate_pillar",),
        ("ciphermail_split.settings",),
    )
    for args in runs:
        proc = minion.salt_call("-l", "debug", *args)
        output = proc.stdout + proc.stderr
        for secret in (SECRET, str(NUMBER_SECRET)):
            assert secret not in output, (args, output[-3000:])
        if args[0] == "state.apply":
            assert proc.returncode != 0, output[-3000:]
            assert "ciphermail_split:lookup:command_env" in proc.stdout, proc.stdout[-3000:]
    log = minion.log_file.read_text(errors="replace")
    assert "][DEBUG   ][" in log  # the log is at debug level
    for secret in (SECRET, str(NUMBER_SECRET)):
        assert secret not in log
    assert minion.gateway.write_calls() == []
