"""
The verdicts of ``ciphermail_split.preflight``, in pure Python (no Salt
loader, no I/O): each check is ``ok``, ``warn`` or ``fail`` with its
evidence (the command or file, and the line it gave) and, unless ok, the
fix. The execution module gathers the facts read-only and hands them here.
Imported as a plain module by ``_modules/ciphermail_split.py``.
"""

import re

import ciphermail_gateway_values as gateway_values
from salt.exceptions import SaltInvocationError

OK = "ok"
WARN = "warn"
FAIL = "fail"
_RANK = {OK: 0, WARN: 1, FAIL: 2}

#: What the formula needs of Postfix: (version, what needs it, whether the pillar asks for it).
POSTFIX_NEEDS = (
    ((2, 10), "postconf -x and -X, which every role runs", lambda config: True),
    ((2, 2), "IPv6 addresses in the pillar", lambda config: _has_ipv6(config)),
)
_VERSION = re.compile(r"^(\d+)\.(\d+)")
#: A ``mynetworks`` element that is not itself an address: a table, a file or a parameter.
_INDIRECT = re.compile(r"^([a-z0-9_]+:|/|\$)", re.IGNORECASE)


def verdict(result, evidence, fix=None):
    """One check: ``{"result": ok|warn|fail, "evidence": ..., "fix": ...}`` (no fix when ok)."""
    return {"result": result, "evidence": evidence, "fix": None if result == OK else fix}


def overall(checks):
    """``(worst result, "n ok, n warn, n fail")`` of ``checks`` (name -> verdict)."""
    results = [check["result"] for check in checks.values()]
    worst = max(results, key=_RANK.get, default=OK)
    return worst, ", ".join(f"{results.count(result)} {result}" for result in (OK, WARN, FAIL))


def _has_ipv6(config):
    values = [config.get("portal_server"), *(config.get("main_gateway_addresses") or [])]
    return any(isinstance(value, str) and ":" in value for value in values)


def postfix_version(command, version, config):
    """The Postfix version check: ``version`` (``mail_version``) against what ``config`` (the pillar) asks for."""
    found = _VERSION.match(version or "")
    evidence = f"{command}: {version or 'no answer'}"
    if not found:
        return verdict(WARN, evidence, "Check that postconf is Postfix's (lookup:postconf) and Postfix 2.10 or later")
    have = (int(found.group(1)), int(found.group(2)))
    short = [
        f"{need[0]}.{need[1]} for {what}" for need, what, asked in POSTFIX_NEEDS if asked(config) and have < need
    ]
    if short:
        return verdict(FAIL, f"{evidence}; needs {', '.join(short)}", "Upgrade Postfix")
    return verdict(OK, f"{evidence} (the formula needs 2.10 or later)")


def transport_table(command, table, maps_d_dir):
    """
    Where the transport entry will go: ``table`` (``ciphermail_mta.transport_table``)
    against ``maps_d_dir``, where CipherMail's web UI keeps its MTA maps.
    """
    where = f"; CipherMail's maps_d_dir = {maps_d_dir}" if maps_d_dir else ""
    inside = maps_d_dir and table["path"].startswith(maps_d_dir.rstrip("/") + "/")
    if table["configured"]:
        evidence = f"{command}: {table['table']} (file {table['path']}){where}"
        if maps_d_dir and not inside:
            return verdict(
                WARN,
                evidence,
                "The web UI's MTA maps are under maps_d_dir, this table is not: the UI will not show the "
                "formula's entry. Point transport_maps at the UI's transport map, or keep both in mind",
            )
        return verdict(OK, evidence)
    evidence = f"{command}: empty; the main role will create {table['table']} and set transport_maps{where}"
    if maps_d_dir:
        return verdict(
            WARN,
            evidence,
            "Create the transport map in the web UI first (MTA > Maps), so the UI and the formula edit one file; "
            "a later save in the UI could set transport_maps to its own file and drop the formula's entry",
        )
    return verdict(OK, evidence)


def mynetworks(parameter, in_main_cf, in_effect):
    """
    How ``parameter`` is set: ``in_main_cf`` (the elements main.cf itself
    gives, None when it does not set it) and ``in_effect`` (as Postfix shows it).
    """
    if in_main_cf is None:
        return verdict(
            WARN,
            f"main.cf does not set {parameter}; Postfix's default is {' '.join(in_effect) or '(empty)'}",
            f"Nothing to do if that is meant: the portal role writes the default out in main.cf and adds the "
            f"main gateway after it. The web UI's My Networks then edits the same {parameter} line",
        )
    evidence = f"main.cf: {parameter} = {' '.join(in_main_cf)}"
    if in_main_cf and all(_INDIRECT.match(element) for element in in_main_cf):
        return verdict(
            WARN,
            evidence,
            f"{parameter} comes only from tables or files: the formula adds the main gateway's address to "
            "main.cf beside them. If the web UI's My Networks writes that table, add the address there too",
        )
    return verdict(OK, evidence)


def formula_values(items, read_cli):
    """
    Whether each item the formula set still holds its value: ``items`` as
    ``{item: {"ours", "now", "holds"}}`` (``ciphermail_split_ledger.held``).
    """
    changed = sorted(item for item, value in items.items() if value["holds"] is False)
    unknown = sorted(item for item, value in items.items() if value["holds"] is None)
    if not items:
        return verdict(OK, "the ledger records nothing the formula set on this gateway")
    held = len(items) - len(changed) - len(unknown)
    parts = [f"{held} of {len(items)} items the formula set hold its values"]
    if unknown:
        why = "" if read_cli else " (the CLI is not read: documented-only mode, or it did not answer)"
        parts.append(f"cannot be read{why}: {', '.join(unknown)}")
    if changed:
        shown = ", ".join(f"{item} (ours: {items[item]['ours']}, now: {items[item]['now']})" for item in changed)
        parts.append(f"changed by someone else since: {shown}")
        return verdict(
            WARN,
            "; ".join(parts),
            "Someone changed these after the formula (the web UI's MTA pages edit My Networks and the maps): "
            "apply the role again to put split mode back, or leave them if the change is meant",
        )
    return verdict(OK, "; ".join(parts))


def not_domains(lines):
    """The lines of a domain list that are not domain names ([] when all are)."""
    bad = []
    for line in lines:
        try:
            gateway_values.normalise_domain(line)
        except SaltInvocationError:
            bad.append(line)
    return bad
