"""
What ``ciphermail_split.orch`` renders on the master for a given fleet:
which pillar override each role gets from the Salt Mine, and when it stops
before running anything. Rendered by Salt's Jinja renderer (the formula's
own imports included) with a stand-in for the master's runners; the real
runners are used in test/integration/test_master_cluster.py.
"""

import pytest
import salt.utils.templates
import yaml
from support.masterless import link_formula

ORCH = "ciphermail_split/orch/init.sls"
CLEAN = "ciphermail_split/orch/clean.sls"
CLEAN_MAIN_STEP, CLEAN_PORTAL_STEP = "ciphermail_split-orch-clean-main-cleaned", "ciphermail_split-orch-clean-portal-cleaned"
MAIN_MINE, PORTAL_MINE = "ciphermail_split_main_addresses", "ciphermail_split_portal_server"
PORTAL_STEP, MAIN_STEP = "ciphermail_split-orch-portal-applied", "ciphermail_split-orch-main-applied-"
STOPPED = "ciphermail_split-orch-stopped"


class Master:
    """The runners the orchestration calls, answering from ``pillars`` ({minion: ciphermail_split}) and ``mine``."""

    def __init__(self, pillars, mine):
        self.pillars, self.mine = pillars, mine

    def _with_role(self, target):
        role = target.rsplit(":", 1)[1]
        return [minion for minion, pillar in self.pillars.items() if pillar.get("role") == role]

    def runner(self, name, **kwargs):
        if name == "pillar.show_pillar" and kwargs["minion"] not in self.pillars:
            return {}
        if name == "cache.pillar":
            return {minion: {"ciphermail_split": self.pillars[minion]} for minion in self._with_role(kwargs["tgt"])}
        if name == "pillar.show_pillar":
            return {"ciphermail_split": self.pillars[kwargs["minion"]]}
        if name == "mine.get":
            published = self.mine.get(kwargs["fun"], {})
            return {minion: published[minion] for minion in self._with_role(kwargs["tgt"]) if minion in published}
        raise AssertionError(f"unexpected runner {name}")


@pytest.fixture
def render(loaders, state_tree):
    """Render the orchestration as the master does; returns its states."""
    link_formula(state_tree)

    def run(pillars, mine, role="master", ssh=False, roster=(), sls=ORCH):
        """``ssh``: through salt-ssh, to the targets of ``roster`` (None: the master has no roster file)."""
        master = Master(pillars, mine)
        roster_file = str(state_tree / "roster")
        context = {
            "opts": {**loaders.opts, "__role": role, "roster_file": roster_file},
            "saltenv": "base",
            "sls": sls.removesuffix(".sls").removesuffix("/init").replace("/", "."),
            "tpldir": "ciphermail_split/orch",
            "salt": {
                "saltutil.runner": master.runner,
                "file.file_exists": lambda path: path == roster_file and roster is not None,
                "slsutil.renderer": lambda path: {target: {"host": "192.0.2.1"} for target in roster},
            },
            "grains": {},
            "pillar": {"ciphermail_split_orch": {"ssh": True}} if ssh else {},
        }
        text = salt.utils.templates.render_jinja_tmpl((state_tree / sls).read_text(), context, str(state_tree / sls))
        return yaml.safe_load(text)

    return run


def step_pillar(states, step):
    """The pillar override of one ``salt.state`` step (None: none)."""
    arguments = {key: value for item in states[step]["salt.state"] for key, value in item.items()}
    return arguments.get("pillar")


def stop_message(states):
    assert list(states) == [STOPPED]
    return dict(item for arg in states[STOPPED]["test.fail_without_changes"] for item in arg.items())["comment"]


def test_addresses_the_pillar_leaves_out_come_from_the_mine(render):
    pillars = {"main-1": {"role": "main"}, "main-2": {"role": "main"}, "portal-1": {"role": "portal"}}
    mine = {
        MAIN_MINE: {"main-1": ["192.0.2.10", "192.0.2.11"], "main-2": "192.0.2.11"},
        PORTAL_MINE: {"portal-1": "portal.dmz.example.net"},
    }
    states = render(pillars, mine)
    assert step_pillar(states, PORTAL_STEP) == {
        "ciphermail_split": {"main_gateway_addresses": ["192.0.2.10", "192.0.2.11"]}
    }
    for main in ("main-1", "main-2"):
        assert step_pillar(states, MAIN_STEP + main) == {"ciphermail_split": {"portal_server": "portal.dmz.example.net"}}


def step_arguments(states, step):
    return {key: value for item in states[step]["salt.state"] for key, value in item.items()}


def test_main_gateways_are_applied_one_at_a_time_each_after_the_one_before(render):
    pillars = {f"main-{n}": MAIN_WITH_PORTAL for n in (3, 1, 2)} | {"portal-1": PORTAL_WITH_MAIN}
    states = render(pillars, {})
    steps = [step for step in states if step.startswith(MAIN_STEP)]
    assert steps == [MAIN_STEP + "main-1", MAIN_STEP + "main-2", MAIN_STEP + "main-3"]
    required = [step_arguments(states, step)["require"] for step in steps]
    assert required == [[{"salt": PORTAL_STEP}], [{"salt": steps[0]}], [{"salt": steps[1]}]]
    for step, minion in zip(steps, ("main-1", "main-2", "main-3")):
        arguments = step_arguments(states, step)
        assert (arguments["tgt"], arguments["tgt_type"], arguments["sls"]) == (minion, "list", "ciphermail_split.main")


def test_the_portal_nodes_come_from_every_portal_gateway_in_the_order_of_their_ids(render):
    pillars = {"main-1": {"role": "main"}, "portal-b": PORTAL_WITH_MAIN, "portal-a": PORTAL_WITH_MAIN}
    mine = {PORTAL_MINE: {"portal-b": "198.51.100.21", "portal-a": ["198.51.100.20"]}}
    states = render(pillars, mine)
    assert step_pillar(states, MAIN_STEP + "main-1") == {
        "ciphermail_split": {"portal_server": ["198.51.100.20", "198.51.100.21"]}
    }


def test_pillar_wins_over_the_mine(render):
    pillars = {
        "main-1": {"role": "main", "portal_server": "198.51.100.20"},
        "portal-1": {"role": "portal", "main_gateway_addresses": ["192.0.2.10"]},
    }
    mine = {MAIN_MINE: {"main-1": ["192.0.2.99"]}, PORTAL_MINE: {"portal-1": ["198.51.100.99"]}}
    states = render(pillars, mine)
    assert step_pillar(states, PORTAL_STEP) is None
    assert step_pillar(states, MAIN_STEP + "main-1") is None


MAIN_WITH_PORTAL = {"role": "main", "portal_server": "p.example.net"}
PORTAL_WITH_MAIN = {"role": "portal", "main_gateway_addresses": ["192.0.2.10"]}
STOPS = {
    "no mine data from one main gateway": (
        {"main-1": MAIN_WITH_PORTAL, "main-2": MAIN_WITH_PORTAL, "portal-1": {"role": "portal"}},
        {MAIN_MINE: {"main-1": ["192.0.2.10"]}},
        ["ciphermail_split:main_gateway_addresses", MAIN_MINE, "from main-2", "mine.update"],
    ),
    "an empty mine value": (
        {"main-1": {"role": "main"}, "portal-1": PORTAL_WITH_MAIN},
        {PORTAL_MINE: {"portal-1": []}},
        ["ciphermail_split:portal_server", PORTAL_MINE, "from portal-1"],
    ),
    "two addresses from one portal gateway": (
        {"main-1": {"role": "main"}, "portal-1": PORTAL_WITH_MAIN},
        {PORTAL_MINE: {"portal-1": ["198.51.100.20", "198.51.100.21"]}},
        ["ciphermail_split:portal_server", PORTAL_MINE, "198.51.100.20, 198.51.100.21 from portal-1", "one address per"],
    ),
    "one address for two portal gateways": (
        {"main-1": {"role": "main"}, "portal-1": PORTAL_WITH_MAIN, "portal-2": PORTAL_WITH_MAIN},
        {PORTAL_MINE: {"portal-1": "198.51.100.20", "portal-2": ["198.51.100.20"]}},
        ["ciphermail_split:portal_server", "198.51.100.20 for both portal-1 and portal-2", "its own"],
    ),
    "pillar on some gateways of a role only": (
        {"main-1": MAIN_WITH_PORTAL, "main-2": {"role": "main"}, "portal-1": PORTAL_WITH_MAIN},
        {PORTAL_MINE: {"portal-1": "p.example.net"}},
        ["ciphermail_split:portal_server is in the pillar of main-1 but not of main-2"],
    ),
    "no portal gateway": (
        {"main-1": MAIN_WITH_PORTAL},
        {},
        ["No minion has pillar ciphermail_split:role: portal"],
    ),
}


@pytest.mark.parametrize("case", STOPS)
def test_it_stops_before_any_step_naming_the_key_and_the_mine_function(render, case):
    pillars, mine, expected = STOPS[case]
    states = render(pillars, mine)
    message = stop_message(states)
    assert message.startswith("Nothing was changed.")
    for text in expected:
        assert text in message


def test_on_a_minion_it_stops(render):
    states = render({"portal-1": {"role": "portal"}}, {}, role="minion")
    assert stop_message(states).endswith("run salt-run state.orchestrate ciphermail_split.orch")


def test_through_salt_ssh_the_roles_are_the_roster_targets_by_their_pillar(render):
    pillars = {"main-2": MAIN_WITH_PORTAL, "main-1": MAIN_WITH_PORTAL, "portal-1": PORTAL_WITH_MAIN}
    roster = ["portal-1", "main-2", "other-host", "main-1"]
    states = render(pillars, {}, ssh=True, roster=roster)
    assert list(states) == [PORTAL_STEP, MAIN_STEP + "main-1", MAIN_STEP + "main-2"]
    portal = step_arguments(states, PORTAL_STEP)
    assert (portal["tgt"], portal["tgt_type"], portal["ssh"]) == (["portal-1"], "list", True)
    for minion in ("main-1", "main-2"):
        main = step_arguments(states, MAIN_STEP + minion)
        assert (main["tgt"], main["tgt_type"], main["ssh"], main.get("pillar")) == (minion, "list", True, None)

    cleaning = render(pillars, {}, ssh=True, roster=roster, sls=CLEAN)
    assert list(cleaning) == [CLEAN_MAIN_STEP, CLEAN_PORTAL_STEP]
    main = step_arguments(cleaning, CLEAN_MAIN_STEP)
    assert (main["tgt"], main["tgt_type"], main["ssh"]) == (["main-1", "main-2"], "list", True)
    assert step_arguments(cleaning, CLEAN_PORTAL_STEP)["tgt"] == ["portal-1"]


SSH_STOPS = {
    "an address only the mine could give": (
        {"main-1": {"role": "main"}, "portal-1": PORTAL_WITH_MAIN},
        ["main-1", "portal-1"],
        (ORCH,),
        ["ciphermail_split:portal_server is not in the pillar of main-1", "reads no Salt Mine"],
    ),
    "no portal target": (
        {"main-1": MAIN_WITH_PORTAL},
        ["main-1", "portal-1"],
        (ORCH, CLEAN),
        ["No target of the roster has pillar ciphermail_split:role: portal"],
    ),
    "no roster": (
        {"main-1": MAIN_WITH_PORTAL, "portal-1": PORTAL_WITH_MAIN},
        None,
        (ORCH, CLEAN),
        ["the master's roster", "which does not exist (set roster_file in the master config)"],
    ),
}


@pytest.mark.parametrize("case", SSH_STOPS)
def test_through_salt_ssh_it_stops_before_any_step(render, case):
    pillars, roster, files, expected = SSH_STOPS[case]
    for sls in files:
        message = stop_message(render(pillars, {}, ssh=True, roster=roster, sls=sls))
        assert message.startswith("Nothing was changed."), message
        for text in expected:
            assert text in message, message
