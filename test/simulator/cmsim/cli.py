"""ciphermail-cli: parse, then fault injection, then authentication, then the server.

Exit codes: 0 success; 1 server-side error (``Error: ...`` on stderr);
2 usage error (usage block plus ``ciphermail-cli: error: ...`` on stderr).
"""

import sys

from . import faults, gateway, grammar, runner, settings
from .errors import EXIT_OK, EXIT_SERVER_ERROR, EXIT_USAGE, ServerError, UsageError

PROG = grammar.PROG


def main(argv=None, environ=None):
    """Entry point of the ``ciphermail-cli`` executable; returns the exit code."""
    return runner.run(PROG, argv, _invoke, environ)


def _invoke(argv, environ, store):
    if argv in grammar.HELP_ARGV:
        sys.stdout.write(grammar.usage_text(environ))
        return EXIT_OK
    try:
        command = grammar.parse(argv, environ)
    except UsageError as exc:
        sys.stderr.write("%s%s: error: %s\n" % (grammar.usage_text(environ), PROG, exc))
        return EXIT_USAGE
    try:
        _refuse_if_fault_injected(argv, environ)
        _authenticate(environ)
        with store.transaction() as state:
            output = gateway.HANDLERS[command.words](state, command.options)
    except ServerError as exc:
        sys.stderr.write("Error: %s\n" % exc)
        return EXIT_SERVER_ERROR
    sys.stdout.write(output)
    return EXIT_OK


def _refuse_if_fault_injected(argv, environ):
    prefix = faults.matching_prefix(argv, settings.fault_spec(environ))
    if prefix is not None:
        raise ServerError(faults.backend_unavailable_message(prefix))


def _authenticate(environ):
    required, expected, given = settings.password_requirement(environ)
    if not required:
        return
    import hmac  # only when a password is configured: keeps the common call fast

    if given is None or not hmac.compare_digest(_bytes(given), _bytes(expected)):
        raise ServerError("authentication failed")


def _bytes(text):
    return text.encode("utf-8", "surrogateescape")
