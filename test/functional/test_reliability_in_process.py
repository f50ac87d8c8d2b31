"""
Reliability, in-process (faults that need monkeypatch or host settings
changed between two calls).

A write interrupted part-way:

(a) the process dies between writing the temporary file and renaming it
    over the real one (a rename onto the target path fails): the transport
    table, main.cf (mynetworks) and the Ansible override file keep their
    previous bytes, the state says it failed, and the next run repairs it;
(b) ``postmap`` fails after the table's source file was written: the state
    fails, reporting the nexthop change it made, and the next run, with a
    working postmap, rebuilds the stale database (predicted by test=True);
(c) the run fails right after the override file was written (before the
    state could finish): the next run must still run cm-run-playbook,
    although the file no longer changes.

A ``ciphermail-cli`` that hangs: ``cli_timeout`` cuts it off.

A main gateway that moves (``main_gateway_addresses`` A -> B): A loses its
relay rights, entries the admin wrote stay.

The rename fault is injected at the rename itself, whatever does it
(``os.replace``, ``os.rename`` or Salt's ``atomicfile``), and only for one
target path, so every other write (the ledger, the temporary file) happens
as usual.

(This file is not called ``test_reliability.py``: pytest's default import
mode keys test modules by file name, and the integration tier has one.)
"""

import errno
import functools
import os
import subprocess
import textwrap

import psutil
import salt.utils.atomicfile
import yaml
from support.contract import converge_state
from support.samples import MAIN_ROLE_SLS
from support.values import (
    BASE_MYNETWORKS,
    DOMAIN,
    MAIN_GATEWAY_ADDRESS,
    OVERRIDE_FILE,
    OVERRIDE_KEY,
)

PORTAL = "portal.example.net"
NEXTHOP = f"smtp:[{PORTAL}]"
ADMIN_HOST = "198.51.100.7"
CRASH = "simulated crash before the rename"

ADMIN_TRANSPORT = """\
# Transport table, maintained by the mail team.
example.com      smtp:[mx1.example.com]
   # the partner needs port 2525
partner.example  smtp:[mx.partner.example]:2525
"""
ADMIN_OVERRIDE = "---\n# admin's note: keep the backup schedule\nsome_admin_key: 42\n"



# -- helpers --------------------------------------------------------------------------


def crash_on_rename(patch, crashes):
    """
    Make every rename whose destination satisfies ``crashes(path)`` fail, as
    if the process died right before it: the temporary file is written, the
    target is not replaced.
    """

    def guarded(real):
        def rename(src, dst, *args, **kwargs):
            if crashes(os.path.abspath(os.fspath(dst))):
                raise OSError(errno.EIO, CRASH, os.fspath(dst))
            return real(src, dst, *args, **kwargs)

        return rename

    patch.setattr(os, "replace", guarded(os.replace))
    patch.setattr(os, "rename", guarded(os.rename))
    patch.setattr(salt.utils.atomicfile, "atomic_rename", guarded(salt.utils.atomicfile.atomic_rename))


def crash_on_rename_to(patch, target):
    crash_on_rename(patch, lambda path: path == str(target))


def visible_files(directory):
    """The files a reader of ``directory`` sees (Postfix and Ansible skip dot files)."""
    return sorted(path.name for path in directory.iterdir() if not path.name.startswith("."))


def use_transport_table(gateway, text):
    """A configured ``hash:`` transport table with ``text`` as its source, built by postmap."""
    path = gateway.postfix_dir / "transport"
    path.write_text(text)
    table = f"hash:{path}"
    for argv in (["postmap", table], ["postconf", "-e", f"transport_maps={table}"]):
        subprocess.run([argv[0], "-c", str(gateway.postfix_dir), *argv[1:]], check=True, capture_output=True)
    gateway.age_config()
    return path, table


def transport_present(states, test=False):
    return states.ciphermail_mta.transport_present(name=DOMAIN, host=PORTAL, test=test)


def mynetworks_present(states, test=False):
    return states.ciphermail_mta.mynetworks_present(name="main gateway", addresses=[MAIN_GATEWAY_ADDRESS], test=test)


def mynetworks(gateway):
    return gateway.postconf("mynetworks").replace(",", " ").split()


def converge_sls(gateway, run_sls, sls):
    """The same contract for an SLS run in-process (requisites, watch and mod_watch)."""
    calls = len(gateway.calls())
    predicted = run_sls(sls, test=True)
    assert gateway.write_calls(since=calls) == []
    calls = len(gateway.calls())
    live = run_sls(sls)
    assert all(ret.result is True for ret in live), [(ret.name, ret.comment) for ret in live]
    assert {ret.name: ret.changes for ret in live} == {ret.name: ret.changes for ret in predicted}
    live_writes = gateway.write_calls(since=calls)
    calls = len(gateway.calls())
    again = run_sls(sls)
    assert [ret.changes for ret in again] == [{} for _ in again]
    assert gateway.write_calls(since=calls) == []
    return {ret.name: ret.changes for ret in live}, live_writes


def playbook_record(gateway):
    """How often the simulated gateway applied the playbook, and what it applied last."""
    playbook = gateway.sim_state().get("playbook", {})
    return {"runs": playbook.get("runs", 0), "applied": playbook.get("applied", {})}


def playbook_calls(gateway, since=0):
    return [call for call in gateway.calls()[since:] if call["prog"] == "cm-run-playbook"]


# -- (a) the rename never happens -----------------------------------------------------


def test_interrupted_transport_write_keeps_the_table_and_the_next_run_repairs_it(states, gateway, monkeypatch):
    path, table = use_transport_table(gateway, ADMIN_TRANSPORT)
    database = gateway.postfix_dir / "transport.db"
    before = (path.read_bytes(), database.read_bytes())
    listing = visible_files(gateway.postfix_dir)

    with monkeypatch.context() as patch:
        crash_on_rename_to(patch, path)
        crashed = transport_present(states)

    assert crashed.result is False
    assert str(path) in crashed.comment and CRASH in crashed.comment
    assert "Traceback" not in crashed.comment
    assert (path.read_bytes(), database.read_bytes()) == before
    assert visible_files(gateway.postfix_dir) == listing
    assert gateway.postmap_query(DOMAIN, table) is None
    assert gateway.postmap_query("partner.example", table) == "smtp:[mx.partner.example]:2525"

    assert converge_state(gateway, functools.partial(transport_present, states)) == {"nexthop": {"old": None, "new": NEXTHOP}}
    assert path.read_text() == ADMIN_TRANSPORT + f"{DOMAIN} {NEXTHOP}\n"
    assert gateway.postmap_query(DOMAIN, table) == NEXTHOP
    assert gateway.postmap_query("example.com", table) == "smtp:[mx1.example.com]"


def test_interrupted_main_cf_write_keeps_mynetworks_and_the_next_run_repairs_it(states, gateway, monkeypatch):
    main_cf = gateway.postfix_dir / "main.cf"
    before = main_cf.read_bytes()
    listing = visible_files(gateway.postfix_dir)

    with monkeypatch.context() as patch:
        crash_on_rename_to(patch, main_cf)
        crashed = mynetworks_present(states)

    assert crashed.result is False
    assert str(main_cf) in crashed.comment and CRASH in crashed.comment
    assert "Traceback" not in crashed.comment
    assert main_cf.read_bytes() == before
    assert visible_files(gateway.postfix_dir) == listing
    assert mynetworks(gateway) == BASE_MYNETWORKS

    assert converge_state(gateway, functools.partial(mynetworks_present, states)) == {
        "mynetworks": {"old": BASE_MYNETWORKS, "new": [*BASE_MYNETWORKS, MAIN_GATEWAY_ADDRESS]}
    }
    assert mynetworks(gateway) == [*BASE_MYNETWORKS, MAIN_GATEWAY_ADDRESS]
    assert main_cf.read_bytes() == before.replace(b"[::1]/128\n", f"[::1]/128 {MAIN_GATEWAY_ADDRESS}\n".encode())


def test_interrupted_override_write_keeps_the_file_runs_no_playbook_and_the_next_run_repairs_it(
    run_sls, modules, gateway, monkeypatch
):
    override = gateway.ansible_vars_dir / OVERRIDE_FILE
    override.write_text(ADMIN_OVERRIDE)

    with monkeypatch.context() as patch:
        crash_on_rename_to(patch, override)
        crashed = {ret.name: ret for ret in run_sls(MAIN_ROLE_SLS)}

    assert crashed["override"].result is False
    assert str(override) in crashed["override"].comment and CRASH in crashed["override"].comment
    assert "Traceback" not in crashed["override"].comment
    assert crashed["playbook"].result is False  # its watched state failed: it did not run
    assert override.read_text() == ADMIN_OVERRIDE
    # What Ansible reads is as before (a leftover temporary file is a dot file).
    assert modules.ciphermail_ansible.ansible_vars()["values"] == {"some_admin_key": 42}
    assert playbook_calls(gateway) == []
    assert playbook_record(gateway) == {"runs": 0, "applied": {}}

    changes, writes = converge_sls(gateway, run_sls, MAIN_ROLE_SLS)
    assert changes == {
        "override": {OVERRIDE_KEY: {"old": None, "new": "true"}},
        "playbook": {"playbook": {"old": "pending", "new": "applied"}},
    }
    assert [call["prog"] for call in writes] == ["cm-run-playbook"]
    text = override.read_text()
    assert text.startswith(ADMIN_OVERRIDE)
    assert yaml.safe_load(text) == {"some_admin_key": 42, OVERRIDE_KEY: True}
    assert playbook_record(gateway) == {"runs": 1, "applied": {"some_admin_key": 42, OVERRIDE_KEY: True}}


# -- (b) postmap fails after the source file changed -----------------------------------


def failing_postmap(tmp_path):
    """A postmap that answers queries (``-q``) but fails to build a database."""
    wrapper = tmp_path / "postmap-that-fails"
    wrapper.write_text(
        textwrap.dedent(
            """\
            #!/bin/sh
            for word in "$@"; do
                [ "$word" = "-q" ] && exec /usr/sbin/postmap "$@"
            done
            echo "postmap: fatal: simulated failure: No space left on device" >&2
            exit 1
            """
        )
    )
    wrapper.chmod(0o755)
    return wrapper


def test_failed_postmap_fails_the_state_and_the_next_run_rebuilds_the_stale_database(
    states, gateway, loaders, tmp_path
):
    # The table still routes the domain to the old portal.
    path, table = use_transport_table(gateway, ADMIN_TRANSPORT + f"{DOMAIN} smtp:[old-portal.example.net]\n")
    lookup = loaders.opts["ciphermail_split"]["lookup"]

    lookup["postmap"] = [str(failing_postmap(tmp_path))]
    failed = transport_present(states)
    del lookup["postmap"]

    assert failed.result is False
    assert "simulated failure" in failed.comment
    assert "Traceback" not in failed.comment
    # The source file has the new nexthop, the database still the old one.
    assert path.read_text() == ADMIN_TRANSPORT + f"{DOMAIN} {NEXTHOP}\n"
    assert gateway.postmap_query(DOMAIN, table) == "smtp:[old-portal.example.net]"

    repair = {"postmap": {"old": "stale", "new": "rebuilt"}}
    predicted = transport_present(states, test=True)
    assert (predicted.result, predicted.changes) == (None, repair)
    assert gateway.postmap_query(DOMAIN, table) == "smtp:[old-portal.example.net]"
    assert converge_state(gateway, functools.partial(transport_present, states)) == repair
    assert gateway.postmap_query(DOMAIN, table) == NEXTHOP
    assert gateway.postmap_query("partner.example", table) == "smtp:[mx.partner.example]:2525"
    assert path.read_text() == ADMIN_TRANSPORT + f"{DOMAIN} {NEXTHOP}\n"


def test_failed_postmap_run_reports_the_nexthop_change_it_made(states, gateway, loaders, tmp_path):
    path, _ = use_transport_table(gateway, ADMIN_TRANSPORT + f"{DOMAIN} smtp:[old-portal.example.net]\n")
    loaders.opts["ciphermail_split"]["lookup"]["postmap"] = [str(failing_postmap(tmp_path))]

    failed = transport_present(states)

    assert failed.result is False
    assert path.read_text() == ADMIN_TRANSPORT + f"{DOMAIN} {NEXTHOP}\n"  # the change was made
    assert failed.changes.get("nexthop") == {"old": "smtp:[old-portal.example.net]", "new": NEXTHOP}


# -- (c) the override written, the pending playbook not yet remembered -------------------


def test_failure_right_after_the_override_write_still_runs_the_playbook_next_time(run_sls, gateway, monkeypatch):
    override = gateway.ansible_vars_dir / OVERRIDE_FILE
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        # The override file is renamed into place, then the run dies.
        real_replace(src, dst, *args, **kwargs)
        if os.fspath(dst) == str(override):
            raise OSError(errno.EIO, CRASH, os.fspath(dst))

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", replace)
        crashed = {ret.name: ret for ret in run_sls(MAIN_ROLE_SLS)}

    assert crashed["override"].result is False
    assert yaml.safe_load(override.read_text()) == {OVERRIDE_KEY: True}  # the failure came after it
    assert playbook_calls(gateway) == []

    recovered = {ret.name: ret for ret in run_sls(MAIN_ROLE_SLS)}
    assert recovered["override"].changes == {}  # the file is already as wanted
    assert recovered["playbook"].changes == {"playbook": {"old": "pending", "new": "applied"}}
    assert playbook_record(gateway) == {"runs": 1, "applied": {OVERRIDE_KEY: True}}


# -- a ciphermail-cli that hangs ----------------------------------------------------------


def cli_processes(gateway):
    """Live ciphermail-cli processes working for this simulated gateway."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "environ"]):
        cmdline, environ = process.info["cmdline"] or [], process.info["environ"] or {}
        if any("ciphermail-cli" in word for word in cmdline) and environ.get("CIPHERMAIL_SIM_HOME") == str(
            gateway.home
        ):
            found.append(process.info["pid"])
    return found


def test_hung_cli_is_cut_off_by_cli_timeout_and_the_next_run_converges(states, gateway, loaders, monkeypatch):
    def domain_present(test=False):
        return states.ciphermail.domain_present(name=DOMAIN, properties={"revert-rewrite-recipient": True}, test=test)

    lookup = loaders.opts["ciphermail_split"]["lookup"]
    lookup["cli_timeout"] = 1
    monkeypatch.setenv("CIPHERMAIL_SIM_LATENCY_MS", "5000")
    hung = domain_present()

    assert hung.result is False
    assert "timed out after 1 s (ciphermail_split:lookup:cli_timeout)" in hung.comment
    assert "Traceback" not in hung.comment
    assert cli_processes(gateway) == []
    assert gateway.write_calls() == []
    assert gateway.sim_state().get("domains", {}) == {}

    monkeypatch.delenv("CIPHERMAIL_SIM_LATENCY_MS")
    del lookup["cli_timeout"]
    assert converge_state(gateway, domain_present) == {
        "domain": {"old": None, "new": DOMAIN},
        "revert-rewrite-recipient": {"old": None, "new": "true"},
    }
    assert gateway.sim_state()["domains"] == {DOMAIN: {"revert-rewrite-recipient": "true"}}


# -- the main gateway moves -------------------------------------------------------------------


def test_a_moved_main_gateway_loses_its_relay_rights_and_the_admins_entries_stay(states, gateway):
    old, admins_too, new, ipv6 = MAIN_GATEWAY_ADDRESS, "192.0.2.12", "192.0.2.11", "[2001:db8::10]/128"
    main_cf = gateway.postfix_dir / "main.cf"
    text = main_cf.read_text().replace("[::1]/128\n", f"[::1]/128 {ADMIN_HOST} {admins_too}\n")
    main_cf.write_text(text)
    gateway.age_config()
    before = mynetworks(gateway)

    def present(addresses):
        return lambda test=False: states.ciphermail_mta.mynetworks_present(
            name="main gateway", addresses=addresses, test=test
        )

    # Exactly the configured addresses that were missing; the admin's is not added twice.
    assert converge_state(gateway, present([old, admins_too, "2001:DB8::10"])) == {
        "mynetworks": {"old": before, "new": [*before, old, ipv6]}
    }
    assert converge_state(gateway, present([new])) == {"mynetworks": {"old": [*before, old, ipv6], "new": [*before, new]}}
    assert mynetworks(gateway) == [*BASE_MYNETWORKS, ADMIN_HOST, admins_too, new]
    assert main_cf.read_text() == text.replace(f"{admins_too}\n", f"{admins_too} {new}\n")


# -- a failed write leaves nothing "ours" in the ledger -----------------------------------
#
# The ledger records an item before the write. When the write fails, the record
# must go too: else an admin who then makes the same setting by hand loses it to
# the next clean.


def test_a_failed_mynetworks_write_leaves_the_admins_later_entry_to_them(states, modules, gateway, monkeypatch):
    main_cf = gateway.postfix_dir / "main.cf"
    with monkeypatch.context() as patch:
        crash_on_rename_to(patch, main_cf)
        assert mynetworks_present(states).result is False
    assert modules.ciphermail_ledger.show()["records"] == {}

    main_cf.write_text(main_cf.read_text().replace("[::1]/128\n", f"[::1]/128 {MAIN_GATEWAY_ADDRESS}\n"))
    gateway.age_config()
    cleaned = states.ciphermail_mta.mynetworks_absent(name="main gateway")
    assert (cleaned.result, cleaned.changes) == (True, {}), cleaned.comment
    assert MAIN_GATEWAY_ADDRESS in mynetworks(gateway)


def test_a_failed_transport_write_leaves_the_admins_later_entry_to_them(states, modules, gateway, monkeypatch):
    path, table = use_transport_table(gateway, ADMIN_TRANSPORT)
    with monkeypatch.context() as patch:
        crash_on_rename_to(patch, path)
        assert transport_present(states).result is False
    assert modules.ciphermail_ledger.show()["records"] == {}

    use_transport_table(gateway, ADMIN_TRANSPORT + f"{DOMAIN} {NEXTHOP}\n")
    cleaned = states.ciphermail_mta.transport_absent(name=DOMAIN)
    assert (cleaned.result, cleaned.changes) == (True, {}), cleaned.comment
    assert gateway.postmap_query(DOMAIN, table) == NEXTHOP


def test_a_failed_override_write_leaves_the_admins_later_key_to_them(states, modules, gateway, monkeypatch):
    override = gateway.ansible_vars_dir / OVERRIDE_FILE
    override.write_text(ADMIN_OVERRIDE)
    with monkeypatch.context() as patch:
        crash_on_rename_to(patch, override)
        failed = states.ciphermail_ansible.override_keys_present(name="override", values={OVERRIDE_KEY: True})
        assert failed.result is False
    assert modules.ciphermail_ledger.show()["records"] == {}

    override.write_text(ADMIN_OVERRIDE + f"{OVERRIDE_KEY}: true\n")
    cleaned = states.ciphermail_ansible.override_keys_absent(name="override", keys=[OVERRIDE_KEY])
    assert (cleaned.result, cleaned.changes) == (True, {}), cleaned.comment
    assert yaml.safe_load(override.read_text())[OVERRIDE_KEY] is True


def test_a_failed_property_write_leaves_the_admins_later_value_to_them(states, modules, gateway, monkeypatch):
    name, value = "trigger-webmail-header-enabled", "true"
    monkeypatch.setenv("CIPHERMAIL_SIM_FAIL", "property global set")
    failed = states.ciphermail.global_properties_managed(name="triggers", properties={name: True})
    assert failed.result is False
    monkeypatch.delenv("CIPHERMAIL_SIM_FAIL")
    assert modules.ciphermail_ledger.show()["records"] == {}

    gateway.cli("property", "global", "set", "--name", name, "--value", value)
    cleaned = states.ciphermail.global_properties_restored(name="triggers", properties=[name])
    assert (cleaned.result, cleaned.changes) == (True, {}), cleaned.comment
    assert gateway.sim_state()["global"][name] == value


def test_a_failed_domain_add_leaves_the_admins_later_domain_to_them(states, modules, gateway, monkeypatch):
    monkeypatch.setenv("CIPHERMAIL_SIM_FAIL", "domain add")
    failed = states.ciphermail.domain_present(name=DOMAIN, properties={"revert-rewrite-recipient": True})
    assert failed.result is False
    monkeypatch.delenv("CIPHERMAIL_SIM_FAIL")
    assert modules.ciphermail_ledger.show()["records"] == {}

    gateway.cli("domain", "add", "--domain", DOMAIN)
    cleaned = states.ciphermail.domain_absent(name=DOMAIN)
    assert (cleaned.result, cleaned.changes) == (True, {}), cleaned.comment
    assert DOMAIN in gateway.sim_state()["domains"]
