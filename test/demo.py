"""
``make demo``: portal split-mode on two sandboxed gateways with salt-call.

Builds ``sandbox/`` (two simulated gateways, a throwaway Postfix config
directory for each, pillar for a main and a portal gateway), then runs
``salt-call --local state.apply ciphermail_split`` on the portal and then on
the main gateway: test=True, live, and live again (zero changes). Nothing
outside ``sandbox/`` is touched.
"""

import os
import pathlib
import shutil
import sys

from support.masterless import MasterlessMinion
from support.sandbox import REPO_ROOT, GatewaySandbox

SANDBOX = pathlib.Path(os.environ.get("CIPHERMAIL_DEMO_SANDBOX", REPO_ROOT / "sandbox"))
GATEWAYS = {
    "portal": {"role": "portal", "main_gateway_addresses": ["192.0.2.10", "2001:db8::10"]},
    "main": {"role": "main", "portal_server": "portal.dmz.example.net", "portal_port": 25},
}
RUNS = (("test=True (what would change)", True), ("live", False), ("live again (nothing left to do)", False))


def banner(text):
    print(f"\n{'=' * 78}\n== {text}\n{'=' * 78}", flush=True)


def build(name, pillar):
    gateway = GatewaySandbox(SANDBOX / name / "gateway")
    minion = MasterlessMinion(SANDBOX / name / "salt", f"{name}-gw", gateway, pillar)
    minion.sync()
    return minion


def main():
    shutil.rmtree(SANDBOX, ignore_errors=True)
    minions = {name: build(name, pillar) for name, pillar in GATEWAYS.items()}
    failed = False
    for name, minion in minions.items():
        for title, test in RUNS:
            banner(f"{name} gateway: salt-call --local state.apply ciphermail_split, {title}")
            calls_before = len(minion.gateway.calls())
            args = ["state.apply", "ciphermail_split"] + (["test=True"] if test else [])
            proc = minion.salt_call(*args, output="highstate")
            print(proc.stdout, proc.stderr, sep="", flush=True)
            writes = minion.gateway.write_calls(since=calls_before)
            print(f"-- gateway write commands in this run: {len(writes)}")
            for call in writes:
                print("   ", call["prog"], " ".join(call["argv"]))
            failed = failed or proc.returncode != 0
    banner("sandbox")
    for name, minion in minions.items():
        print(f"{name}: simulator state {minion.gateway.home / 'state.json'}")
        print(f"{name}: Postfix config  {minion.gateway.postfix_dir}")
        print(f"{name}: Salt config     {minion.config_dir}")
    print("Apply the clean SLS with: .venv/bin/salt-call --local -c sandbox/<name>/salt/etc-salt state.apply ciphermail_split.clean")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT / "test"))
    sys.exit(main())
