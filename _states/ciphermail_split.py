"""
States for the ciphermail_split formula as a whole: whether this gateway can
run a role at all. Each role SLS checks it first and every other state of
the role requires it, so a wrong command path or an unusable state
directory stops the role before anything is written, and test=True says so
the same way.
"""

import ciphermail_split_commands as commands
import ciphermail_split_state as state
from salt.exceptions import CommandExecutionError

__virtualname__ = "ciphermail_split"


def __virtual__():
    return __virtualname__


def role_ready(name, role):
    """
    Fail, naming each problem, when this gateway cannot run ``role``: a
    command the role runs is missing or not executable (the message names
    its ``ciphermail_split:lookup`` key and path), or the state directory
    cannot hold the ledger. Changes nothing.

    name
        A label.
    role
        ``main`` or ``portal``.

    .. code-block:: yaml

        ciphermail_split-main-ready:
          ciphermail_split.role_ready:
            - role: main
    """

    def work(test, changes):  # pylint: disable=unused-argument
        problems = __salt__["ciphermail_split.ready"](role)
        if problems:
            raise CommandExecutionError("; ".join(problems))
        names = ", ".join(commands.ROLE_COMMANDS[role])
        return state.settled(f"The commands of the {role} role ({names}) and the state directory", "in place", True)

    return state.run(name, work, __opts__, __context__)


def split_mode_absent(name, role, force=False, addresses=None, lookup=None):
    """
    The last state of each role's clean: fail when the gateway still takes
    part in split mode once clean is done (predicted under test=True): the
    override key enabled for Ansible, a route Postfix takes for the private
    domain, the private domain, a main gateway address in ``mynetworks``.
    Clean leaves what it cannot prove is the formula's (it was there
    before, the ledger was lost, the pillar role changed); the comment says
    what is left and how to take it back. Changes nothing.

    name
        A label.
    role
        The role being cleaned: ``main`` or ``portal``.
    force
        The clean runs with ``clean_force`` (takes back what the ledger
        cannot show as the formula's).
    addresses
        The main gateway's addresses (pillar ``main_gateway_addresses``).
    lookup
        The split-mode constants ``private_domain``, ``override_key`` and
        ``mynetworks_parameter`` (default: ``ciphermail_split.constants``).

    .. code-block:: yaml

        ciphermail_split-portal-clean-split-mode-absent:
          ciphermail_split.split_mode_absent:
            - role: portal
    """

    def work(test, changes):  # pylint: disable=unused-argument
        # Under test=True the clean states have not run: predict what they leave.
        left = __salt__["ciphermail_split.leftovers"](
            role, cleaned=not test, force=force, addresses=addresses, lookup=lookup
        )
        if left:
            reasons = {}
            for item in left:
                reasons.setdefault(item["why"], []).append(item["what"])
            parts = "; ".join(f"{', '.join(whats)}: {why}" for why, whats in reasons.items())
            verb = "would still take" if test else "still takes"
            raise CommandExecutionError(f"This gateway {verb} part in split mode, so clean is not done. {parts}")
        return state.settled("Split mode", "absent from this gateway")

    return state.run(name, work, __opts__, __context__)
