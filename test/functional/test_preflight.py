"""
``ciphermail_split.preflight``: each check's ok case and its fail case (a
warn where the formula can go on), on a sandboxed gateway; preflight never
writes anything nor runs a write command, whatever it finds. Settings a
test changes go in the pillar's ``lookup``, as an admin gives them (under
Salt 3006, an execution module reached through ``__salt__`` keeps the
minion config it was loaded with, so a test cannot change that in-process).
"""

import pytest
from support.masterless import link_formula
from support.postfix_instance import PostfixInstance, free_port, instance_root, loopback_address, running
from support.values import DOMAIN, MAIN_PILLAR, OVERRIDE_KEY, PORTAL_PILLAR, TRIGGERS

PORTAL_CHECKS = {
    "pillar", "command:cli", "command:postconf", "command:postfix", "state_dir", "cli_answers",
    "cli_read:domain_list", "cli_read:domain_property_get", "cli_read:global_property_get", "mynetworks",
    "postfix_version", "formula_values",
}  # fmt: skip
MAIN_CHECKS = {
    "pillar", "command:postconf", "command:postmap", "command:postfix", "command:playbook_cmd", "state_dir",
    "override", "transport_maps", "portal_smtp", "postfix_version", "formula_values",
}  # fmt: skip


@pytest.fixture(scope="module")
def portal_smtp():
    """A running Postfix on loopback: the portal's SMTP service as the main gateway sees it."""
    with instance_root() as root:
        instance = PostfixInstance(root, "portal", loopback_address(16), mynetworks="127.0.0.1")
        with running(instance):
            yield instance


@pytest.fixture
def pillar(loaders):
    """
    Set this minion's pillar ``ciphermail_split`` (the loaded modules share
    the mapping; Salt 3008 hands it over as a copy-on-write proxy, which
    takes item assignment and deletion, not dict.update or dict.clear).
    """
    data = loaders.modules.pack["__pillar__"]

    def set_pillar(value):
        data["ciphermail_split"] = value

    yield set_pillar
    if "ciphermail_split" in data:
        del data["ciphermail_split"]


@pytest.fixture
def preflight(modules, gateway, state_tree, pillar):
    """``ciphermail_split.preflight``, checked to write nothing and run no write command."""
    link_formula(state_tree)  # validate_pillar reads the formula's defaults.yaml

    def run(role, pillar_data):
        pillar(pillar_data)
        calls, files = len(gateway.calls()), gateway.files()
        state_files = sorted(gateway.state_dir.rglob("*")) if gateway.state_dir.exists() else []
        report = modules.ciphermail_split.preflight(role)
        assert gateway.write_calls(since=calls) == []
        assert gateway.files() == files
        assert (sorted(gateway.state_dir.rglob("*")) if gateway.state_dir.exists() else []) == state_files
        assert set(report) == {"role", "cli_mode", "result", "summary", "checks"}
        for check in report["checks"].values():
            assert set(check) == {"result", "evidence", "fix"}
            assert (check["fix"] is None) == (check["result"] == "ok"), check
        return report

    return run


def with_lookup(pillar, **lookup):
    """``pillar`` with ``lookup`` settings, as an admin gives them (pillar wins over the minion config)."""
    return {**pillar, "lookup": lookup}


def results(report):
    return {name: check["result"] for name, check in report["checks"].items()}


def executable(path, text):
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


# -- the ok cases -----------------------------------------------------------------------


def test_a_ready_portal_gateway_passes_every_check(preflight, gateway):
    gateway.cli("domain", "add", "--domain", DOMAIN)
    report = preflight("portal", PORTAL_PILLAR)
    assert results(report) == dict.fromkeys(PORTAL_CHECKS, "ok")
    assert (report["role"], report["cli_mode"], report["result"]) == ("portal", "read-back", "ok")
    assert report["summary"] == "12 ok, 0 warn, 0 fail"
    checks = report["checks"]
    assert checks["cli_answers"]["evidence"].endswith("ciphermail-cli domain list: answered, authenticated, 1 domain")
    assert checks["cli_read:domain_list"]["evidence"].endswith(f"ciphermail-cli domain list: {DOMAIN}")
    assert checks["cli_read:domain_property_get"]["evidence"].endswith(
        f"property domain get --domain {DOMAIN} --name revert-rewrite-recipient: 'false'"
    )
    assert checks["cli_read:global_property_get"]["evidence"].endswith(
        "property global get --name trigger-webmail-header-enabled: 'false'"
    )
    assert checks["mynetworks"]["evidence"] == "main.cf: mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128"
    assert checks["postfix_version"]["evidence"].startswith(f"postconf -c {gateway.postfix_dir} -h mail_version: 3.")
    assert checks["command:postconf"]["evidence"] == "postconf: postconf (/usr/sbin/postconf)"


def test_a_ready_main_gateway_passes_every_check(preflight, gateway, portal_smtp):
    pillar = {**MAIN_PILLAR, "portal_server": portal_smtp.address, "portal_port": portal_smtp.port}
    report = preflight("main", pillar)
    assert results(report) == dict.fromkeys(MAIN_CHECKS, "ok")
    checks = report["checks"]
    assert checks["portal_smtp"]["evidence"].startswith(
        f"smtp_check {portal_smtp.address}:{portal_smtp.port}: 220 portal.mailflow.test ESMTP"
    )
    assert checks["transport_maps"]["evidence"] == (
        f"postconf -c {gateway.postfix_dir} -hx transport_maps: empty; the main role will create "
        f"hash:{gateway.postfix_dir}/transport and set transport_maps"
    )
    assert checks["override"]["evidence"].startswith(f"{gateway.ansible_vars_dir} exists; no vars file read after ")


def test_documented_only_the_cli_answers_its_help_and_no_read_row_runs(preflight, gateway, monkeypatch):
    monkeypatch.setenv("CIPHERMAIL_SIM_DOCUMENTED_ONLY", "1")
    report = preflight("portal", with_lookup(PORTAL_PILLAR, cli_read_back=False))
    assert report["cli_mode"] == "documented-only"
    assert not any(name.startswith("cli_read:") for name in report["checks"])
    assert report["checks"]["cli_answers"]["result"] == "ok"
    assert "ciphermail-cli --help: usage: ciphermail-cli domain add --domain DOMAIN" in (
        report["checks"]["cli_answers"]["evidence"]
    )
    assert [call["argv"] for call in gateway.calls()] == [["--help"]]


def test_items_the_formula_set_hold_and_a_change_by_someone_else_shows(preflight, gateway, states):
    assert states.ciphermail.global_properties_managed(name="t", properties=TRIGGERS).result is True
    addresses = PORTAL_PILLAR["main_gateway_addresses"]
    assert states.ciphermail_mta.mynetworks_present(name="m", addresses=addresses).result is True
    gateway.age_config()
    check = preflight("portal", PORTAL_PILLAR)["checks"]["formula_values"]
    assert check == {"result": "ok", "evidence": "5 of 5 items the formula set hold its values", "fix": None}

    # A save in the web UI that rewrites My Networks without the main gateway, and a trigger switched off.
    main_cf = gateway.postfix_dir / "main.cf"
    main_cf.write_text(main_cf.read_text().replace(" 192.0.2.10", ""))
    gateway.age_config()
    gateway.cli("property", "global", "set", "--name", "trigger-webmail-header-enabled", "--value", "false")
    check = preflight("portal", PORTAL_PILLAR)["checks"]["formula_values"]
    assert check["result"] == "warn"
    assert "3 of 5 items the formula set hold its values" in check["evidence"]
    assert "global_property:trigger-webmail-header-enabled (ours: true, now: false)" in check["evidence"]
    assert "mynetworks:mynetworks|192.0.2.10 (ours: present, now: None)" in check["evidence"]
    assert "apply the role again" in check["fix"]


# -- the fail cases ----------------------------------------------------------------------


def test_a_bad_pillar_fails_naming_the_key(preflight):
    report = preflight("portal", {**PORTAL_PILLAR, "main_gateway_addresses": ["0.0.0.0/0"]})
    assert report["result"] == "fail"
    check = report["checks"]["pillar"]
    assert check["result"] == "fail"
    assert check["evidence"].startswith("ciphermail_split:main_gateway_addresses[0]: address: got '0.0.0.0/0'")
    assert "pillar.example" in check["fix"]


def test_the_pillar_of_the_other_role_fails(preflight):
    check = preflight("portal", MAIN_PILLAR)["checks"]["pillar"]
    assert check["result"] == "fail"
    assert "ciphermail_split:role: got 'main'; expected portal" in check["evidence"]


@pytest.mark.parametrize(
    "role, key",
    [("portal", "cli"), ("portal", "postconf"), ("portal", "postfix"), ("main", "postmap"), ("main", "playbook_cmd")],
)
def test_a_missing_command_fails_naming_its_lookup_key(preflight, role, key):
    pillar = PORTAL_PILLAR if role == "portal" else MAIN_PILLAR
    report = preflight(role, with_lookup(pillar, **{key: f"/nonexistent/bin/{key}"}))
    check = report["checks"][f"command:{key}"]
    assert check["result"] == "fail"
    assert check["evidence"] == (
        f"ciphermail_split:lookup:{key}: /nonexistent/bin/{key} is not found or not executable "
        f"(set ciphermail_split:lookup:{key})"
    )
    if key == "cli":
        assert "cli_answers" not in report["checks"]


def test_a_state_dir_that_cannot_be_made_fails(preflight, gateway):
    blocker = gateway.root / "a-file"
    blocker.write_text("")
    check = preflight("portal", with_lookup(PORTAL_PILLAR, state_dir=str(blocker / "state")))["checks"]["state_dir"]
    assert check["result"] == "fail"
    assert check["evidence"] == f"ciphermail_split:lookup:state_dir: {blocker / 'state'} cannot be used: {blocker} is not a directory"


def test_a_cli_without_its_credentials_fails_pointing_at_command_env(preflight, monkeypatch):
    monkeypatch.setenv("CIPHERMAIL_SIM_PASSWORD", "s3cret")
    check = preflight("portal", PORTAL_PILLAR)["checks"]["cli_answers"]
    assert check["result"] == "fail"
    assert "ciphermail-cli domain list failed (exit 1): Error: authentication failed" in check["evidence"]
    assert "command_env" in check["fix"]
    assert "s3cret" not in str(check)


def test_read_rows_a_cli_does_not_know_fail_naming_both_fixes(preflight, monkeypatch):
    monkeypatch.setenv("CIPHERMAIL_SIM_DOCUMENTED_ONLY", "1")
    report = preflight("portal", PORTAL_PILLAR)
    for name in ("cli_answers", "cli_read:domain_list"):
        check = report["checks"][name]
        assert check["result"] == "fail"
        assert 'unknown subcommand "list"' in check["evidence"]
        assert check["fix"] == (
            "Set ciphermail_split:lookup:cli_commands:domain_list to this gateway's words for it, "
            "or set ciphermail_split:lookup:cli_read_back: false"
        )


@pytest.mark.parametrize("row", ["domain_property_get", "global_property_get"])
def test_a_read_row_that_fails_on_the_gateway_fails(preflight, gateway, monkeypatch, row):
    gateway.cli("domain", "add", "--domain", DOMAIN)
    words = {"domain_property_get": "property domain get", "global_property_get": "property global get"}[row]
    monkeypatch.setenv("CIPHERMAIL_SIM_FAIL", words)
    report = preflight("portal", PORTAL_PILLAR)
    assert report["checks"]["cli_answers"]["result"] == "ok"
    check = report["checks"][f"cli_read:{row}"]
    assert check["result"] == "fail"
    assert f"ciphermail-cli {words} failed (exit 1): Error: the CipherMail back-end is not available" in check["evidence"]


def test_a_cli_whose_output_is_not_the_value_alone_fails_and_its_list_warns(preflight, gateway):
    # Another CLI: it answers every command with "value: false".
    cli = executable(gateway.root / "other-cli", "#!/bin/sh\necho 'value: false'\n")
    report = preflight("portal", with_lookup(PORTAL_PILLAR, cli=cli))
    checks = report["checks"]
    assert checks["cli_read:domain_list"]["result"] == "warn"
    assert "not domain names: value: false" in checks["cli_read:domain_list"]["evidence"]
    assert checks["cli_read:global_property_get"]["result"] == "fail"
    assert checks["cli_read:global_property_get"]["evidence"].endswith(
        "property global get --name trigger-webmail-header-enabled: 'value: false'"
    )
    assert "must print the value alone, on one line" in checks["cli_read:global_property_get"]["fix"]


def test_documented_only_a_cli_without_help_warns(preflight, gateway):
    cli = executable(gateway.root / "no-help-cli", "#!/bin/sh\necho 'no such option' >&2\nexit 64\n")
    check = preflight("portal", with_lookup(PORTAL_PILLAR, cli_read_back=False, cli=cli))["checks"]["cli_answers"]
    assert check["result"] == "warn"
    assert "no such option" in check["evidence"]
    assert "the first write shows" in check["fix"]


def test_mynetworks_only_through_a_table_warns_and_unreadable_fails(preflight, gateway):
    main_cf = gateway.postfix_dir / "main.cf"
    main_cf.write_text(main_cf.read_text().replace(
        "mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128", f"mynetworks = hash:{gateway.postfix_dir}/networks"
    ))  # fmt: skip
    gateway.age_config()
    check = preflight("portal", PORTAL_PILLAR)["checks"]["mynetworks"]
    assert check["result"] == "warn"
    assert check["evidence"] == f"main.cf: mynetworks = hash:{gateway.postfix_dir}/networks"
    assert "comes only from tables or files" in check["fix"]

    main_cf.write_text(main_cf.read_text().replace(f"mynetworks = hash:{gateway.postfix_dir}/networks\n", ""))
    gateway.age_config()
    check = preflight("portal", PORTAL_PILLAR)["checks"]["mynetworks"]
    assert check["result"] == "warn"
    assert check["evidence"].startswith("main.cf does not set mynetworks; Postfix's default is ")

    elsewhere = with_lookup(PORTAL_PILLAR, postfix_config_dir=str(gateway.root / "no-such-postfix"))
    check = preflight("portal", elsewhere)["checks"]["mynetworks"]
    assert check["result"] == "fail"


def test_a_postfix_older_than_the_formula_needs_fails(preflight, gateway):
    postconf = executable(gateway.root / "old-postconf", "#!/bin/sh\necho 2.9.6\n")
    check = preflight("portal", with_lookup(PORTAL_PILLAR, postconf=postconf))["checks"]["postfix_version"]
    assert check["result"] == "fail"
    assert check["evidence"].endswith("mail_version: 2.9.6; needs 2.10 for postconf -x and -X, which every role runs")
    assert check["fix"] == "Upgrade Postfix"


def test_a_vars_file_that_shadows_the_key_fails(preflight, gateway):
    (gateway.ansible_vars_dir / "zz-local.yml").write_text(f"{OVERRIDE_KEY}: false\n")
    check = preflight("main", MAIN_PILLAR)["checks"]["override"]
    assert check["result"] == "fail"
    assert check["evidence"].startswith(f"{gateway.ansible_vars_dir / 'zz-local.yml'} sets {OVERRIDE_KEY} otherwise")
    assert check["fix"] == f"Remove {OVERRIDE_KEY} from zz-local.yml"


def test_a_missing_ansible_vars_dir_fails(preflight, gateway):
    pillar = with_lookup(MAIN_PILLAR, ansible_vars_dir=str(gateway.root / "no-such-dir"))
    check = preflight("main", pillar)["checks"]["override"]
    assert check["result"] == "fail"
    assert "ansible_vars_dir" in check["fix"]


def test_transport_maps_the_formula_cannot_edit_fails_and_outside_the_ui_maps_warns(preflight, gateway):
    main_cf = gateway.postfix_dir / "main.cf"
    base = main_cf.read_text()
    main_cf.write_text(base + f"transport_maps = pcre:{gateway.postfix_dir}/transport.pcre\n")
    gateway.age_config()
    check = preflight("main", MAIN_PILLAR)["checks"]["transport_maps"]
    assert check["result"] == "fail"
    assert "has no table this formula can edit" in check["evidence"]

    main_cf.write_text(base + f"maps_d_dir = {gateway.postfix_dir}/maps.d\n")
    gateway.age_config()
    check = preflight("main", MAIN_PILLAR)["checks"]["transport_maps"]
    assert check["result"] == "warn"
    assert check["evidence"].endswith(f"CipherMail's maps_d_dir = {gateway.postfix_dir}/maps.d")
    assert "Create the transport map in the web UI first" in check["fix"]

    main_cf.write_text(base + "maps_d_dir = $config_directory/maps.d\ntransport_maps = hash:${maps_d_dir}/transport\n")
    gateway.age_config()
    check = preflight("main", MAIN_PILLAR)["checks"]["transport_maps"]
    assert check["result"] == "ok"
    assert check["evidence"].startswith(f"postconf -c {gateway.postfix_dir} -hx transport_maps: hash:{gateway.postfix_dir}/maps.d/transport")


def test_a_portal_smtp_service_that_does_not_answer_fails(preflight):
    address = loopback_address(17)
    port = free_port(address)
    report = preflight("main", {**MAIN_PILLAR, "portal_server": address, "portal_port": port})
    check = report["checks"]["portal_smtp"]
    assert check["result"] == "fail"
    assert check["evidence"].startswith(f"smtp_check {address}:{port}: cannot connect to {address}:{port}: ")
    assert "Connection refused" in check["evidence"]
    assert f"port {port}" in check["fix"]
    assert report["result"] == "fail"
