"""Tests of the CipherMail gateway simulator, run as the executables a caller runs.

Every test gets its own gateway (``CIPHERMAIL_SIM_HOME`` under ``tmp_path``)
and runs ``ciphermail-cli`` / ``cm-run-playbook`` as subprocesses of the
current interpreter, then checks exit code, output, state.json and the call
log.
"""

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.samples import VENDOR_PORTAL_COMMANDS

HERE = Path(__file__).resolve().parent
CLI = HERE / "ciphermail-cli"
PLAYBOOK = HERE / "cm-run-playbook"

PORTAL = "relay-to-webmail.private"


GLOBAL_DEFAULTS = {
    "trigger-webmail-header": "",
    "trigger-webmail-header-enabled": "false",
    "trigger-otp-encryption-header": "",
    "trigger-otp-encryption-header-enabled": "false",
    "trigger-encryption-header": "",
    "trigger-encryption-header-enabled": "false",
    "trigger-subject": "[encrypt]",
    "trigger-subject-enabled": "false",
    "trigger-subject-remove": "true",
}


class Gateway:
    """One simulated gateway: runs the executables against ``home``."""

    def __init__(self, home):
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CIPHERMAIL_")}
        self.env["CIPHERMAIL_SIM_HOME"] = str(home)

    def _run(self, script, args, env=None, **kwargs):
        full_env = dict(self.env, **(env or {}))
        return subprocess.run(
            [sys.executable, str(script), *args],
            env=full_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            **kwargs,
        )

    def cli(self, *args, env=None):
        return self._run(CLI, args, env)

    def ok(self, *args, env=None):
        result = self.cli(*args, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        return result.stdout

    def playbook(self, *args, env=None, **kwargs):
        return self._run(PLAYBOOK, args, env, **kwargs)

    @property
    def state_path(self):
        return self.home / "state.json"

    def state(self):
        return json.loads(self.state_path.read_text())

    def state_text(self):
        return self.state_path.read_text()

    def calls(self):
        path = self.home / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def vars_dir(self):
        path = self.home / "ansible" / "group_vars" / "all"
        path.mkdir(parents=True, exist_ok=True)
        return path


@pytest.fixture(scope="module")
def shared_portal(tmp_path_factory):
    """One gateway with the portal domain, shared by tests whose calls must change nothing."""
    gw = Gateway(tmp_path_factory.mktemp("shared") / "gateway")
    gw.ok("domain", "add", "--domain", PORTAL)
    return gw


def assert_logged(gw, prog, argv, rc):
    last = gw.calls()[-1]
    assert set(last) == {"prog", "argv", "rc", "ts"}
    assert (last["prog"], last["argv"], last["rc"]) == (prog, list(argv), rc)
    assert isinstance(last["ts"], float)


# --- the vendor page -------------------------------------------------------


def test_vendor_page_commands_run_verbatim_on_a_fresh_gateway(gw):
    for line in VENDOR_PORTAL_COMMANDS.splitlines():
        prog, *args = shlex.split(line)
        assert prog == "ciphermail-cli"
        result = gw.cli(*args)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), line
    state = gw.state()
    assert state["domains"] == {PORTAL: {"revert-rewrite-recipient": "true"}}
    assert state["global"] == dict(
        GLOBAL_DEFAULTS,
        **{
            "trigger-webmail-header": "X-Keep-CipherMail-To-Webmail: True",
            "trigger-webmail-header-enabled": "true",
            "trigger-otp-encryption-header": "X-Keep-CipherMail-To-PDF-OTP: True",
            "trigger-otp-encryption-header-enabled": "true",
        },
    )
    assert state["playbook"] == {"runs": 0, "applied": {}, "files": []}
    assert [c["rc"] for c in gw.calls()] == [0] * 6


# --- each grammar row --------------------------------------------------------


def test_first_use_creates_home_and_initial_state(tmp_path):
    gw = Gateway(tmp_path / "does" / "not" / "exist")
    assert gw.ok("domain", "list") == ""
    text = gw.state_text()
    state = json.loads(text)
    assert text == json.dumps(state, indent=2, sort_keys=True) + "\n"
    assert state == {"domains": {}, "global": GLOBAL_DEFAULTS, "playbook": {"runs": 0, "applied": {}, "files": []}}
    assert_logged(gw, "ciphermail-cli", ["domain", "list"], 0)


def test_domain_add_list_delete(gw):
    gw.ok("domain", "add", "--domain", "b.example")
    gw.ok("domain", "add", "--domain", "A.Example")
    assert gw.ok("domain", "list") == "a.example\nb.example\n"
    assert set(gw.state()["domains"]) == {"a.example", "b.example"}
    gw.ok("domain", "delete", "--domain", "A.EXAMPLE")
    assert gw.ok("domain", "list") == "b.example\n"


def test_domain_property_get_default_then_set_and_get(portal):
    assert portal.ok("property", "domain", "get", "--domain", PORTAL, "--name", "revert-rewrite-recipient") == "false\n"
    assert portal.state()["domains"][PORTAL] == {}
    portal.ok("property", "domain", "set", "--name", "revert-rewrite-recipient", "--value", "TRUE", "--domain", PORTAL.upper())
    assert portal.state()["domains"][PORTAL] == {"revert-rewrite-recipient": "TRUE"}
    assert portal.ok("property", "domain", "get", "--name", "revert-rewrite-recipient", "--domain", PORTAL) == "TRUE\n"


def test_global_property_get_default_then_set_and_get(gw):
    assert gw.ok("property", "global", "get", "--name", "trigger-subject") == "[encrypt]\n"
    gw.ok("property", "global", "set", "--value", "", "--name", "trigger-subject")
    assert gw.ok("property", "global", "get", "--name", "trigger-subject") == "\n"
    assert gw.state()["global"]["trigger-subject"] == ""


@pytest.mark.parametrize("value", ["--name", "--value", "-h", " padded  value ", "tab\there", "X-Keep: True"])
def test_value_is_the_next_word_whatever_it_is(gw, value):
    gw.ok("property", "global", "set", "--name", "trigger-encryption-header", "--value", value)
    assert gw.state()["global"]["trigger-encryption-header"] == value
    assert gw.ok("property", "global", "get", "--name", "trigger-encryption-header") == value + "\n"


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_alone_prints_usage_and_changes_nothing(gw, flag):
    result = gw.cli(flag)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: ciphermail-cli domain list\n")
    assert "property global set --name NAME --value VALUE" in result.stdout
    assert_logged(gw, "ciphermail-cli", [flag], 0)
    assert gw.state()["domains"] == {}


# --- usage errors --------------------------------------------------------------

USAGE_ERRORS = [
    ([], "missing command"),
    (["frobnicate"], 'unknown command "frobnicate"'),
    (["Domain", "list"], 'unknown command "Domain"'),
    (["domain"], '"domain": missing subcommand'),
    (["domain", "show"], 'unknown subcommand "show"'),
    (["property", "global"], '"property global": missing subcommand'),
    (["property", "user", "get", "--name", "x"], 'unknown subcommand "user"'),
    (["domain", "add"], "missing required option --domain"),
    (["property", "domain", "set", "--domain", PORTAL, "--name", "comment"], "missing required option --value"),
    (["domain", "add", "--domain", "a.example", "--domain", "b.example"], "option --domain given more than once"),
    (["domain", "list", "extra"], 'unexpected argument "extra"'),
    (["domain", "add", "--domain", "a.example", "extra"], 'unexpected argument "extra"'),
    (["domain", "add", "-h"], 'unexpected argument "-h"'),
    (["domain", "add", "--dom", "a.example"], 'unknown option "--dom"'),
    (["domain", "list", "--domain", "a.example"], 'unknown option "--domain"'),
    (["domain", "add", "--domain=a.example"], "--option=value form is not supported"),
    (["property", "global", "set", "--name", "trigger-subject", "--value"], "option --value requires a value"),
    (["property", "global", "get", "--name"], "option --name requires a value"),
    (["-h", "domain", "list"], 'unknown command "-h"'),
]


@pytest.mark.parametrize("argv, problem", USAGE_ERRORS, ids=[" ".join(a) or "<none>" for a, _ in USAGE_ERRORS])
def test_usage_errors_exit_2_name_the_problem_and_are_logged(shared_portal, argv, problem):
    gw = shared_portal
    before = gw.state_text()
    result = gw.cli(*argv)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("usage: ciphermail-cli")
    last_line = result.stderr.splitlines()[-1]
    assert last_line.startswith("ciphermail-cli: error: ")
    assert problem in last_line
    assert gw.state_text() == before
    assert_logged(gw, "ciphermail-cli", argv, 2)


# --- server-side errors ---------------------------------------------------------

LONG_LABEL = "a" * 64
TOO_LONG_NAME = ".".join(["a" * 63] * 4)  # 255 characters
INVALID_DOMAINS = [
    "",
    "-lead.example",
    "trail-.example",
    "a..example",
    "relay-to-webmail.private.",
    ".example",
    "two words.example",
    "under_score.example",
    LONG_LABEL + ".example",
    TOO_LONG_NAME,
    "b\u00fccher.example",
    "line\nbreak.example",
    "a.example\n",
]


@pytest.mark.parametrize("domain", INVALID_DOMAINS, ids=repr)
def test_invalid_domain_names_are_refused(gw, domain):
    result = gw.cli("domain", "add", "--domain", domain)
    assert result.returncode == 1
    assert result.stderr == "Error: invalid domain name %s\n" % json.dumps(domain)
    assert gw.state()["domains"] == {}


def test_longest_valid_domain_names_are_accepted(gw):
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(longest) == 253
    gw.ok("domain", "add", "--domain", longest)
    gw.ok("domain", "add", "--domain", "localhost")
    gw.ok("domain", "add", "--domain", "0-9.x1")
    assert gw.ok("domain", "list") == "0-9.x1\n%s\nlocalhost\n" % longest


MISSING = "missing.example"
SERVER_ERRORS = [
    # (argv, stderr); the gateway has the portal domain and nothing else
    (["domain", "add", "--domain", PORTAL], 'Error: domain "%s" already exists\n' % PORTAL),
    (["domain", "add", "--domain", "Relay-To-Webmail.PRIVATE"], 'Error: domain "%s" already exists\n' % PORTAL),
    (["domain", "delete", "--domain", MISSING], 'Error: domain "%s" does not exist\n' % MISSING),
    (["domain", "delete", "--domain", "Missing.Example"], 'Error: domain "%s" does not exist\n' % MISSING),
    (
        ["property", "domain", "get", "--domain", MISSING, "--name", "revert-rewrite-recipient"],
        'Error: domain "%s" does not exist\n' % MISSING,
    ),
    (
        ["property", "domain", "set", "--domain", MISSING, "--name", "revert-rewrite-recipient", "--value", "true"],
        'Error: domain "%s" does not exist\n' % MISSING,
    ),
    (
        ["property", "domain", "set", "--domain", MISSING, "--name", "no-such-thing", "--value", "x"],
        'Error: domain "%s" does not exist\n' % MISSING,
    ),
    (
        ["property", "domain", "set", "--domain", "bad_name", "--name", "comment", "--value", "x"],
        'Error: invalid domain name "bad_name"\n',
    ),
    (["property", "global", "get", "--name", "no-such-thing"], 'Error: unknown global property "no-such-thing"\n'),
    (
        ["property", "global", "set", "--name", "revert-rewrite-recipient", "--value", "true"],
        'Error: unknown global property "revert-rewrite-recipient"\n',
    ),
    (
        ["property", "global", "set", "--name", "Trigger-Webmail-Header", "--value", "x"],
        'Error: unknown global property "Trigger-Webmail-Header"\n',
    ),
    (
        ["property", "domain", "get", "--domain", PORTAL, "--name", "trigger-webmail-header"],
        'Error: unknown domain property "trigger-webmail-header"\n',
    ),
    (
        ["property", "domain", "set", "--domain", PORTAL, "--name", "", "--value", "true"],
        'Error: unknown domain property ""\n',
    ),
]
for _bad in ["yes", "1", "on", "", " true", "true\t", "t"]:
    SERVER_ERRORS.append(
        (
            ["property", "domain", "set", "--domain", PORTAL, "--name", "revert-rewrite-recipient", "--value", _bad],
            'Error: invalid value for domain property "revert-rewrite-recipient": %s is not a boolean '
            "(expected true or false)\n" % json.dumps(_bad),
        )
    )
    SERVER_ERRORS.append(
        (
            ["property", "global", "set", "--name", "trigger-webmail-header-enabled", "--value", _bad],
            'Error: invalid value for global property "trigger-webmail-header-enabled": %s is not a boolean '
            "(expected true or false)\n" % json.dumps(_bad),
        )
    )
for _control in ["\n", "\r", "\x01", "\x1b", "\x1f", "X-Keep: True\r\nBcc: evil@example.com"]:
    SERVER_ERRORS.append(
        (
            ["property", "global", "set", "--name", "trigger-webmail-header", "--value", _control],
            'Error: invalid value for global property "trigger-webmail-header": control characters are not allowed\n',
        )
    )
    SERVER_ERRORS.append(
        (
            ["property", "domain", "set", "--domain", PORTAL, "--name", "comment", "--value", "a%sb" % _control],
            'Error: invalid value for domain property "comment": control characters are not allowed\n',
        )
    )


@pytest.mark.parametrize("argv, stderr", SERVER_ERRORS, ids=[repr(" ".join(a)) for a, _ in SERVER_ERRORS])
def test_server_errors_exit_1_and_change_nothing(shared_portal, argv, stderr):
    gw = shared_portal
    before = gw.state_text()
    result = gw.cli(*argv)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", stderr)
    assert gw.state_text() == before
    assert_logged(gw, "ciphermail-cli", argv, 1)


@pytest.mark.parametrize("value", ["true", "false", "TRUE", "False", "tRuE"])
def test_booleans_accept_any_case_and_are_stored_verbatim(portal, value):
    portal.ok("property", "global", "set", "--name", "trigger-webmail-header-enabled", "--value", value)
    portal.ok("property", "domain", "set", "--domain", PORTAL, "--name", "revert-rewrite-recipient", "--value", value)
    state = portal.state()
    assert state["global"]["trigger-webmail-header-enabled"] == value
    assert state["domains"][PORTAL]["revert-rewrite-recipient"] == value


def test_delete_removes_the_domain_and_its_properties(portal):
    portal.ok("property", "domain", "set", "--domain", PORTAL, "--name", "comment", "--value", "x")
    portal.ok("domain", "delete", "--domain", PORTAL)
    portal.ok("domain", "add", "--domain", PORTAL)
    assert portal.state()["domains"] == {PORTAL: {}}
    assert portal.ok("property", "domain", "get", "--domain", PORTAL, "--name", "comment") == "\n"


# --- environment -----------------------------------------------------------------


def test_missing_home_is_a_usage_error(tmp_path):
    gw = Gateway(tmp_path / "unused")
    del gw.env["CIPHERMAIL_SIM_HOME"]
    for result in (gw.cli("domain", "list"), gw.playbook()):
        assert result.returncode == 2
        assert "CIPHERMAIL_SIM_HOME" in result.stderr
        assert result.stdout == ""
    assert not (tmp_path / "unused").exists()


@pytest.mark.parametrize("name", ["CIPHERMAIL_SIM_LATENCY_MS", "CIPHERMAIL_SIM_PLAYBOOK_SECONDS"])
def test_malformed_numbers_are_usage_errors(gw, name):
    result = gw.playbook(env={name: "soon"})
    assert result.returncode == 2
    assert name in result.stderr
    assert_logged(gw, "cm-run-playbook", [], 2)


def test_a_corrupt_state_file_is_reported_not_overwritten(gw):
    gw.home.mkdir(parents=True)
    gw.state_path.write_text("{not json")
    result = gw.cli("domain", "list")
    assert result.returncode == 2
    assert "state file" in result.stderr and "not valid JSON" in result.stderr
    assert gw.state_path.read_text() == "{not json"
    assert_logged(gw, "ciphermail-cli", ["domain", "list"], 2)


# --- fault injection -----------------------------------------------------------------

FAULT_CASES = [
    # (CIPHERMAIL_SIM_FAIL, argv, expected prefix or None)
    ("property global set", ["property", "global", "set", "--name", "trigger-subject", "--value", "x"], "property global set"),
    ("property global set", ["property", "global", "get", "--name", "trigger-subject"], None),
    ("domain", ["domain", "add", "--domain", "a.example"], "domain"),
    ("domain", ["domain", "list"], "domain"),
    ("domain", ["property", "domain", "get", "--domain", PORTAL, "--name", "comment"], None),
    ("dom", ["domain", "list"], None),
    ("property", ["property", "domain", "get", "--domain", PORTAL, "--name", "comment"], "property"),
    (" , domain add ,,  ", ["domain", "add", "--domain", "a.example"], "domain add"),
    (" , domain add ,,  ", ["domain", "delete", "--domain", PORTAL], None),
    ("domain list,property", ["property", "global", "get", "--name", "trigger-subject"], "property"),
    ("domain add --domain a.example", ["domain", "add", "--domain", "a.example"], "domain add --domain a.example"),
    ("domain add --domain a.example", ["domain", "add", "--domain", "a.example.org"], None),
    ("run-playbook", ["domain", "list"], None),
]


@pytest.mark.parametrize("spec, argv, prefix", FAULT_CASES)
def test_faults_match_command_prefixes(portal, spec, argv, prefix):
    before = portal.state_text()
    result = portal.cli(*argv, env={"CIPHERMAIL_SIM_FAIL": spec})
    assert_logged(portal, "ciphermail-cli", argv, result.returncode)
    if prefix is None:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "Error: the CipherMail back-end is not available (injected fault: %s)\n" % prefix
    assert portal.state_text() == before


def test_usage_errors_take_precedence_over_faults(gw):
    result = gw.cli("domain", "add", env={"CIPHERMAIL_SIM_FAIL": "domain"})
    assert result.returncode == 2
    assert_logged(gw, "ciphermail-cli", ["domain", "add"], 2)


def test_latency_applies_to_every_call_of_both_programs(gw):
    env = {"CIPHERMAIL_SIM_LATENCY_MS": "150"}
    for run in (lambda: gw.cli("domain", "list", env=env), lambda: gw.cli("bogus", env=env), lambda: gw.playbook(env=env)):
        started = time.monotonic()
        run()
        assert time.monotonic() - started >= 0.15
    assert [c["rc"] for c in gw.calls()] == [0, 2, 0]


def test_concurrent_writers_lose_nothing(gw):
    gw.ok("domain", "list")
    procs = [
        subprocess.Popen(
            [sys.executable, str(CLI), "domain", "add", "--domain", "d%02d.example" % i],
            env=gw.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(12)
    ]
    assert [p.wait(timeout=30) for p in procs] == [0] * 12
    assert sorted(gw.state()["domains"]) == ["d%02d.example" % i for i in range(12)]
    assert len(gw.calls()) == 13


# --- password ---------------------------------------------------------------------

SECRET = "s3cret-Pa55word"


@pytest.mark.parametrize("given", [None, "", "wrong", SECRET + " "])
def test_wrong_or_missing_password_fails_authentication(gw, given):
    env = {"CIPHERMAIL_SIM_PASSWORD": SECRET}
    if given is not None:
        env["CIPHERMAIL_CLI_PASSWORD"] = given
    result = gw.cli("domain", "add", "--domain", PORTAL, env=env)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", "Error: authentication failed\n")
    assert gw.state()["domains"] == {}
    assert SECRET not in (gw.home / "calls.jsonl").read_text()


def test_right_password_is_accepted_and_never_shown(gw):
    env = {"CIPHERMAIL_SIM_PASSWORD": SECRET, "CIPHERMAIL_CLI_PASSWORD": SECRET}
    outputs = []
    for argv in (["domain", "add", "--domain", PORTAL], ["domain", "list"], ["bogus"], ["--help"]):
        result = gw.cli(*argv, env=env)
        outputs += [result.stdout, result.stderr]
    outputs.append(gw.playbook(env=env).stdout)
    assert gw.state()["domains"] == {PORTAL: {}}
    for path in gw.home.iterdir():
        outputs.append(path.read_text())
    assert not any(SECRET in text for text in outputs)


# --- cm-run-playbook ----------------------------------------------------------------


def test_playbook_merges_vars_files_in_ansible_order(gw):
    vars_dir = gw.vars_dir()
    (vars_dir / "10-base.yml").write_text("---\nshared: base\nonly_base: 1\n")
    (vars_dir / "20-override.yaml").write_text("shared: override\nnested: {a: [1, 2]}\n")
    (vars_dir / "05-early.json").write_text('{"shared": "json", "from_json": true}')
    (vars_dir / "spit-mode").write_text("ciphermail_backend__remote_portal_enabled: true\n")
    (vars_dir / "30-sub").mkdir()
    (vars_dir / "30-sub" / "inner.yml").write_text("shared: inner\n")
    (vars_dir / "40-empty.yml").write_text("")
    (vars_dir / "50-comment.yml").write_text("# nothing here\n---\n")
    for ignored in (".hidden.yml", "backup.yml~", "notes.txt", "old.yml.bak", ".split-mode.yml.tmp"):
        (vars_dir / ignored).write_text("shared: ignored\nignored: true\n")
    (vars_dir / "dir.d").mkdir()
    (vars_dir / "dir.d" / "x.yml").write_text("ignored: true\n")

    result = gw.playbook()
    assert result.returncode == 0, result.stderr
    playbook = gw.state()["playbook"]
    assert playbook["files"] == [
        "05-early.json",
        "10-base.yml",
        "20-override.yaml",
        "30-sub/inner.yml",
        "40-empty.yml",
        "50-comment.yml",
        "spit-mode",
    ]
    assert playbook["applied"] == {
        "shared": "inner",
        "only_base": 1,
        "from_json": True,
        "nested": {"a": [1, 2]},
        "ciphermail_backend__remote_portal_enabled": True,
    }
    assert playbook["runs"] == 1
    assert_logged(gw, "cm-run-playbook", [], 0)


def test_playbook_output_reports_changes_then_none(gw):
    (gw.vars_dir() / "split-mode.yml").write_text("ciphermail_backend__remote_portal_enabled: true\n")
    first, second = gw.playbook(), gw.playbook()
    for result in (first, second):
        assert result.returncode == 0
        assert "TASK [" in result.stdout
        assert "PLAY RECAP" in result.stdout
        assert "failed=0" in result.stdout
    assert "changed=1" in first.stdout
    assert "changed=0" in second.stdout
    assert gw.state()["playbook"]["runs"] == 2


def test_playbook_without_vars_directory_applies_nothing_but_counts(gw):
    result = gw.playbook()
    assert result.returncode == 0
    assert gw.state()["playbook"] == {"runs": 1, "applied": {}, "files": []}


def test_playbook_reads_the_configured_vars_directory(gw, tmp_path):
    elsewhere = tmp_path / "etc-ciphermail" / "group_vars" / "all"
    elsewhere.mkdir(parents=True)
    (elsewhere / "a.yml").write_text("where: elsewhere\n")
    (gw.vars_dir() / "a.yml").write_text("where: default\n")
    assert gw.playbook(env={"CIPHERMAIL_SIM_ANSIBLE_VARS_DIR": str(elsewhere)}).returncode == 0
    assert gw.state()["playbook"]["applied"] == {"where": "elsewhere"}


@pytest.mark.parametrize(
    "content, message",
    [
        ("key: [unclosed\n", "Syntax Error while loading YAML"),
        ("a: b: c\n", "Syntax Error while loading YAML"),
        ("- a\n- b\n", "expected dicts but got a 'dict' and a 'list'"),
        ("just a string\n", "expected dicts but got a 'dict' and a 'str'"),
        ("a: 1\n---\nb: 2\n", "Syntax Error while loading YAML"),
    ],
)
def test_playbook_refuses_bad_vars_files_and_applies_nothing(gw, content, message):
    vars_dir = gw.vars_dir()
    (vars_dir / "10-good.yml").write_text("good: true\n")
    (vars_dir / "20-bad.yml").write_text(content)
    gw.ok("domain", "list")
    before = gw.state_text()
    result = gw.playbook()
    assert result.returncode == 2
    assert result.stderr.startswith("ERROR! ")
    assert message in result.stderr
    assert str(vars_dir / "20-bad.yml") in result.stderr
    assert gw.state_text() == before
    assert_logged(gw, "cm-run-playbook", [], 2)


def test_playbook_takes_no_arguments(gw):
    result = gw.playbook("--check")
    assert result.returncode == 2
    assert "usage: cm-run-playbook" in result.stderr
    assert_logged(gw, "cm-run-playbook", ["--check"], 2)
    assert gw.state()["playbook"]["runs"] == 0


def test_playbook_fault_fails_a_task_and_applies_nothing(gw):
    (gw.vars_dir() / "split-mode.yml").write_text("ciphermail_backend__remote_portal_enabled: true\n")
    result = gw.playbook(env={"CIPHERMAIL_SIM_FAIL": "domain add, run-playbook"})
    assert result.returncode == 2
    assert "TASK [" in result.stdout
    assert "fatal: [localhost]: FAILED! =>" in result.stdout
    assert "failed=1" in result.stdout
    assert gw.state()["playbook"] == {"runs": 0, "applied": {}, "files": []}
    assert_logged(gw, "cm-run-playbook", [], 2)
    assert gw.playbook(env={"CIPHERMAIL_SIM_FAIL": "run"}).returncode == 0


def test_playbook_duration_and_a_callers_timeout(gw):
    (gw.vars_dir() / "split-mode.yml").write_text("ciphermail_backend__remote_portal_enabled: true\n")
    started = time.monotonic()
    assert gw.playbook(env={"CIPHERMAIL_SIM_PLAYBOOK_SECONDS": "0.3"}).returncode == 0
    assert time.monotonic() - started >= 0.3
    with pytest.raises(subprocess.TimeoutExpired):  # subprocess.run kills with SIGKILL
        gw.playbook(env={"CIPHERMAIL_SIM_PLAYBOOK_SECONDS": "30"}, timeout=0.8)
    assert gw.state()["playbook"]["runs"] == 1
    assert len(gw.calls()) == 1  # a SIGKILLed call leaves no log line


def test_playbook_terminated_mid_run_applies_nothing_and_dies_by_the_signal(gw):
    (gw.vars_dir() / "split-mode.yml").write_text("ciphermail_backend__remote_portal_enabled: true\n")
    proc = subprocess.Popen(
        [sys.executable, str(PLAYBOOK)],
        env=dict(gw.env, CIPHERMAIL_SIM_PLAYBOOK_SECONDS="30"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    reader = threading.Thread(target=lambda: seen.extend(iter(proc.stdout.readline, "")))
    reader.start()
    deadline = time.monotonic() + 10
    while not any("Gathering Facts" in line for line in seen) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == -signal.SIGTERM
    reader.join(timeout=10)
    proc.stderr.close()
    assert gw.state()["playbook"] == {"runs": 0, "applied": {}, "files": []}
    assert_logged(gw, "cm-run-playbook", [], -signal.SIGTERM)


# --- the executables themselves ---------------------------------------------------


def test_executables_run_directly_through_their_shebang(gw):
    assert os.access(CLI, os.X_OK) and os.access(PLAYBOOK, os.X_OK)
    env = dict(gw.env, PATH=os.path.dirname(sys.executable) + os.pathsep + gw.env.get("PATH", ""))
    result = subprocess.run([str(CLI), "domain", "list"], env=env, capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (0, "")
    result = subprocess.run([str(PLAYBOOK)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert [c["prog"] for c in gw.calls()] == ["ciphermail-cli", "cm-run-playbook"]


def test_executables_import_without_side_effects(tmp_path):
    code = (
        "import importlib.machinery, importlib.util, sys\n"
        "before = list(sys.path)\n"
        "for path in sys.argv[1:]:\n"
        "    loader = importlib.machinery.SourceFileLoader('sim_' + str(len(path)), path)\n"
        "    spec = importlib.util.spec_from_loader(loader.name, loader)\n"
        "    module = importlib.util.module_from_spec(spec)\n"
        "    loader.exec_module(module)\n"
        "    assert callable(module.main)\n"
        "assert sys.path == before\n"
        "assert 'cmsim' not in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIPHERMAIL_")}
    result = subprocess.run(
        [sys.executable, "-c", code, str(CLI), str(PLAYBOOK)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert list(tmp_path.iterdir()) == []
