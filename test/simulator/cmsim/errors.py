"""Exception types; each carries the exit code the simulated command returns."""

EXIT_OK = 0
EXIT_SERVER_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in the simulator itself


class SimulatorError(Exception):
    """Base class: a failure that ends the command with ``exit_code``."""

    exit_code = EXIT_SERVER_ERROR


class UsageError(SimulatorError):
    """The command line does not follow the grammar (exit 2)."""

    exit_code = EXIT_USAGE


class ConfigError(SimulatorError):
    """A ``CIPHERMAIL_SIM_*`` variable is missing or malformed (exit 2)."""

    exit_code = EXIT_USAGE


class ServerError(SimulatorError):
    """The (simulated) CipherMail back-end refused the request (exit 1).

    The message is printed as ``Error: <message>``.
    """

    exit_code = EXIT_SERVER_ERROR


class Interrupted(BaseException):
    """A termination signal arrived; raised from the signal handler.

    A BaseException so that no ``except Exception`` swallows it; it unwinds
    through ``with`` blocks, so locks are released and nothing half-written
    is left behind.
    """

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum
