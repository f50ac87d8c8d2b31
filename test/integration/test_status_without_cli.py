"""
``salt-call ciphermail_split.status`` on a gateway where ``ciphermail-cli``
is not installed: the ``ciphermail`` module does not load, and the parts
that need it say why; the Postfix parts are still reported.
"""

import json

from support.values import BASE_MYNETWORKS, MAIN_PILLAR

MISSING_CLI = "/nonexistent/ciphermail-cli"


def test_status_reports_each_part_it_cannot_read(make_minion):
    minion = make_minion({**MAIN_PILLAR, "lookup": {"cli": MISSING_CLI}})
    proc = minion.salt_call("ciphermail_split.status")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)["local"]
    for part in (report["main"]["override"], report["portal"]["private_domain"], report["portal"]["triggers"]):
        assert "is not available" in part["error"]
        assert f"{MISSING_CLI} not found" in part["error"]
    assert report["main"]["transport"]["entry"] is None
    assert report["portal"]["mynetworks"]["value"] == BASE_MYNETWORKS
    assert (report["role"], report["role_in_pillar"]) == ("none", "main")
    assert "Traceback" not in proc.stderr
