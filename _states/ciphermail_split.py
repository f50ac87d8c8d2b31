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
