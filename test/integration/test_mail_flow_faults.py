"""
Faults that only running Postfix shows (see ``test_mail_flow.py`` for the
site): what the formula reports must be what Postfix does with the mail.

- an address written as IPv4-mapped IPv6 (``::ffff:192.0.2.10``), for the
  main gateway or the portal: Postfix sees the client as plain IPv4, so the
  formula writes the IPv4 form;
- a table of ``transport_maps`` that Postfix asks before the formula's
  entry (a ``regexp:`` table, even one listed after it): the main role
  fails naming it, and Postfix indeed sends the mail there;
- ``postfix reload`` failing after a change: the next run reloads, so the
  change takes effect.
"""

import shutil
import subprocess

import pytest
from support.contract import applied
from support.mail_site import RECIPIENT, RELAY_DENIED, delivered_to_portal, mail_site, relay_reply, reloads, send
from support.postfix_instance import rcpt_reply, wait_for
from support.sandbox import age_config
from support.values import MAIN_PILLAR, PORTAL_PILLAR

pytestmark = [pytest.mark.integration, pytest.mark.default_salt_only]

MYNETWORKS_STATE = "ciphermail_split-portal-mynetworks-present"
TRANSPORT_STATE = "ciphermail_split-main-transport-present"


def test_ipv4_mapped_addresses_are_written_as_ipv4_and_the_main_gateway_relays(tmp_path):
    def pillars(instances):
        portal, main = instances["portal"], instances["main"]
        return {
            "portal": {**PORTAL_PILLAR, "main_gateway_addresses": [f"::ffff:{main.address}"]},
            "main": {**MAIN_PILLAR, "portal_server": f"::FFFF:{portal.address}", "portal_port": portal.port},
        }

    with mail_site(tmp_path, pillars) as (instances, minions):
        portal, main = instances["portal"], instances["main"]
        assert relay_reply(portal, main.address) == (554, RELAY_DENIED)

        run = applied(minions["portal"])
        assert relay_reply(portal, main.address)[0] == 250
        assert run.changes[MYNETWORKS_STATE]["mynetworks"] == {"old": ["127.0.0.1"], "new": ["127.0.0.1", main.address]}
        assert portal.mynetworks() == ["127.0.0.1", main.address]

        run = applied(minions["main"])
        nexthop = f"smtp:[{portal.address}]:{portal.port}"
        assert run.changes[TRANSPORT_STATE]["nexthop"] == {"old": None, "new": nexthop}
        delivered_to_portal(instances, send(main, "sender@main.mailflow.test", "mapped addresses"))
        assert len(portal.messages()) == 1


def split_mode_pillars(instances):
    portal, main = instances["portal"], instances["main"]
    return {
        "portal": {**PORTAL_PILLAR, "main_gateway_addresses": [main.address]},
        "main": {**MAIN_PILLAR, "portal_server": portal.address, "portal_port": portal.port},
    }


SHADOW_ANSWER = "error:5.7.1 routed elsewhere by the admin's regexp"


def shadowed_transport(instances):
    """The main instance's transport_maps: an (empty) hash table, then a regexp table that matches portal mail."""
    main = instances["main"]
    transport, shadow = main.config_dir / "transport", main.config_dir / "shadow.re"
    transport.write_text("")
    shadow.write_text(f"/@relay-to-webmail\\.private$/ {SHADOW_ANSWER}\n")
    subprocess.run(["postmap", "-c", str(main.config_dir), f"hash:{transport}"], check=True)
    main.postconf("-e", f"transport_maps = hash:{transport}, regexp:{shadow}")
    age_config(main.config_dir)


def test_a_table_that_postfix_asks_first_fails_the_main_role_and_postfix_agrees(tmp_path):
    with mail_site(tmp_path, split_mode_pillars, prepare=shadowed_transport) as (instances, minions):
        portal, main = instances["portal"], instances["main"]
        applied(minions["portal"])
        shadow = f"regexp:{main.config_dir / 'shadow.re'}"

        for test in (True, False):
            run = minions["main"].apply(test=test)
            assert run.returncode != 0, run
            ret = run.states[TRANSPORT_STATE]
            assert ret["result"] is False and ret["changes"] == {}, ret
            assert shadow in ret["comment"] and SHADOW_ANSWER in ret["comment"], ret["comment"]
        # Postfix uses the regexp table, as the formula said: its error transport refuses the recipient.
        code, text = rcpt_reply(main.address, main.port, RECIPIENT)
        assert (code, text.endswith("routed elsewhere by the admin's regexp")) == (550, True), (code, text)

        # The admin takes the regexp table out: the main role applies, and mail reaches the portal.
        main.postconf("-e", f"transport_maps = hash:{main.config_dir / 'transport'}")
        age_config(main.config_dir)
        applied(minions["main"])
        delivered_to_portal(instances, send(main, "sender@main.mailflow.test", "not shadowed"))
        assert len(portal.messages()) == 1


def failing_reload(directory):
    """``postfix`` whose ``reload`` fails (every other command is the real one)."""
    wrapper = directory / "postfix-reload-fails"
    wrapper.write_text(
        "#!/bin/sh\n"
        'for word in "$@"; do\n'
        '  [ "$word" = reload ] && { echo "postfix: fatal: simulated reload failure" >&2; exit 1; }\n'
        "done\n"
        f'exec {shutil.which("postfix")} "$@"\n'
    )
    wrapper.chmod(0o755)
    return str(wrapper)


def test_a_failed_reload_is_retried_by_the_next_run_and_the_main_gateway_then_relays(tmp_path):
    with mail_site(tmp_path, split_mode_pillars) as (instances, minions):
        portal, main, minion = instances["portal"], instances["main"], minions["portal"]
        pillar = split_mode_pillars(instances)["portal"]
        lookup = {"postfix_config_dir": str(portal.config_dir)}

        minion.set_pillar({**pillar, "lookup": {**lookup, "postfix": failing_reload(tmp_path)}})
        failed = minion.apply()
        assert failed.results[MYNETWORKS_STATE] is False, failed.states[MYNETWORKS_STATE]
        assert "simulated reload failure" in failed.states[MYNETWORKS_STATE]["comment"]
        assert main.address in portal.mynetworks()  # written, but not in force
        assert reloads(portal) == 0

        minion.set_pillar({**pillar, "lookup": lookup})
        retry = {"reload": {"old": "pending", "new": "done"}}
        predicted = minion.apply(test=True)
        assert predicted.results[MYNETWORKS_STATE] is None and predicted.changes[MYNETWORKS_STATE] == retry, predicted
        run = applied(minion)
        assert run.changes[MYNETWORKS_STATE] == retry
        assert "Postfix has been reloaded" in run.states[MYNETWORKS_STATE]["comment"]
        wait_for("the portal reloaded", lambda: reloads(portal) == 1)
        assert relay_reply(portal, main.address)[0] == 250
        assert applied(minion).changes == {}
