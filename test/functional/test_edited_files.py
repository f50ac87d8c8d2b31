"""
Every file the formula edits keeps what the admin gave it: an existing
file its mode and owner (a secret in the override file stays private), a
file reached through a symlink its link (the admin's real file is edited).
Only a file the formula creates gets the formula's mode; the ledger is
private to root.
"""

import os
import pwd
import stat
import subprocess

import pytest
import yaml
from support.values import DOMAIN, MAIN_GATEWAY_ADDRESS, OVERRIDE_FILE, OVERRIDE_KEY

PORTAL = "portal.example.net"
NEXTHOP = f"smtp:[{PORTAL}]"
NOBODY = pwd.getpwnam("nobody")


def mode_and_owner(path):
    info = os.stat(path)
    return stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid


def admins_file(path, text, mode=0o600, uid=NOBODY.pw_uid):
    """
    A file as an admin keeps it: ``mode``, group nogroup, owner ``uid``
    (root for Postfix tables: postmap runs as a table's owner).
    """
    path.write_text(text)
    os.chown(path, uid, NOBODY.pw_gid)
    path.chmod(mode)
    return (mode, uid, NOBODY.pw_gid)


def linked(path, target, text):
    """``path`` made a symlink to ``target``, which holds ``text``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    if path.exists():
        path.unlink()
    path.symlink_to(target)
    return target


def configure_transport(gateway, path):
    table = f"hash:{path}"
    for argv in (["postmap", table], ["postconf", "-e", f"transport_maps={table}"]):
        subprocess.run([argv[0], "-c", str(gateway.postfix_dir), *argv[1:]], check=True, capture_output=True)
    gateway.age_config()
    return table


def override_apply_and_clean(states):
    applied = states.ciphermail_ansible.override_keys_present(name="override", values={OVERRIDE_KEY: True})
    assert (applied.result, applied.changes) == (True, {OVERRIDE_KEY: {"old": "false", "new": "true"}}), applied.comment
    cleaned = states.ciphermail_ansible.override_keys_absent(name="override", keys=[OVERRIDE_KEY])
    assert (cleaned.result, cleaned.changes) == (True, {OVERRIDE_KEY: {"old": "true", "new": "false"}}), cleaned.comment


def transport_apply_and_clean(states, gateway, table):
    applied = states.ciphermail_mta.transport_present(name=DOMAIN, host=PORTAL)
    assert applied.result is True, applied.comment
    assert gateway.postmap_query(DOMAIN, table) == NEXTHOP
    cleaned = states.ciphermail_mta.transport_absent(name=DOMAIN)
    assert cleaned.result is True, cleaned.comment
    assert gateway.postmap_query(DOMAIN, table) is None


def mynetworks_apply_and_clean(states, gateway):
    applied = states.ciphermail_mta.mynetworks_present(name="main", addresses=[MAIN_GATEWAY_ADDRESS])
    assert applied.result is True, applied.comment
    assert MAIN_GATEWAY_ADDRESS in gateway.postconf("mynetworks")
    gateway.age_config()
    cleaned = states.ciphermail_mta.mynetworks_absent(name="main")
    assert cleaned.result is True, cleaned.comment
    assert MAIN_GATEWAY_ADDRESS not in gateway.postconf("mynetworks")


# -- mode and owner ---------------------------------------------------------------------


def test_the_override_file_keeps_its_mode_and_owner(states, gateway):
    override = gateway.ansible_vars_dir / OVERRIDE_FILE
    kept = admins_file(override, f"---\nadmin_secret: hunter2\n{OVERRIDE_KEY}: false\n")
    override_apply_and_clean(states)
    assert mode_and_owner(override) == kept
    assert yaml.safe_load(override.read_text()) == {"admin_secret": "hunter2", OVERRIDE_KEY: False}


def test_the_transport_table_keeps_its_mode_and_owner(states, gateway):
    path = gateway.postfix_dir / "transport"
    kept = admins_file(path, "example.org smtp:[mail.example.org]\n", mode=0o640, uid=0)
    table = configure_transport(gateway, path)
    transport_apply_and_clean(states, gateway, table)
    assert mode_and_owner(path) == kept


def test_main_cf_keeps_its_mode_and_owner(states, gateway):
    main_cf = gateway.postfix_dir / "main.cf"
    kept = admins_file(main_cf, main_cf.read_text(), mode=0o640, uid=0)
    gateway.age_config()
    mynetworks_apply_and_clean(states, gateway)
    assert mode_and_owner(main_cf) == kept


def test_files_the_formula_creates_get_its_modes(states, gateway):
    override = states.ciphermail_ansible.override_keys_present(name="override", values={OVERRIDE_KEY: True})
    transport = states.ciphermail_mta.transport_present(name=DOMAIN, host=PORTAL)
    assert override.result is transport.result is True
    assert mode_and_owner(gateway.ansible_vars_dir / OVERRIDE_FILE) == (0o644, 0, 0)
    assert mode_and_owner(gateway.postfix_dir / "transport") == (0o644, 0, 0)
    assert stat.S_IMODE(os.stat(gateway.state_dir).st_mode) == 0o700
    assert mode_and_owner(gateway.state_dir / "ledger.json") == (0o600, 0, 0)


# -- symlinks ------------------------------------------------------------------------------------


def test_a_linked_override_file_is_edited_through_its_link(states, gateway):
    override = gateway.ansible_vars_dir / OVERRIDE_FILE
    target = linked(override, gateway.root / "admin" / "split.yml", f"---\n{OVERRIDE_KEY}: false\n")
    override_apply_and_clean(states)
    assert override.is_symlink() and override.resolve() == target
    assert yaml.safe_load(target.read_text()) == {OVERRIDE_KEY: False}


def test_a_linked_transport_table_is_edited_through_its_link(states, gateway):
    path = gateway.postfix_dir / "transport"
    target = linked(path, gateway.root / "admin" / "transport.real", "example.org smtp:[mail.example.org]\n")
    table = configure_transport(gateway, path)
    applied = states.ciphermail_mta.transport_present(name=DOMAIN, host=PORTAL)
    assert applied.result is True, applied.comment
    assert path.is_symlink() and path.resolve() == target
    assert target.read_text() == f"example.org smtp:[mail.example.org]\n{DOMAIN} {NEXTHOP}\n"
    transport_apply_and_clean(states, gateway, table)
    assert path.is_symlink() and target.read_text() == "example.org smtp:[mail.example.org]\n"


@pytest.mark.parametrize("role", ["portal", "main"])
def test_a_linked_main_cf_is_edited_through_its_link(states, gateway, role):
    main_cf = gateway.postfix_dir / "main.cf"
    target = linked(main_cf, gateway.root / "admin" / "main.cf.real", main_cf.read_text())
    gateway.age_config()
    os.utime(target, (os.stat(target).st_atime - 60, os.stat(target).st_mtime - 60))
    if role == "portal":
        mynetworks_apply_and_clean(states, gateway)
    else:
        # transport_maps is empty: the formula sets it in main.cf, and takes it back.
        transport_apply_and_clean(states, gateway, f"hash:{gateway.postfix_dir / 'transport'}")
        assert "transport_maps" not in target.read_text()
    assert main_cf.is_symlink() and main_cf.resolve() == target
