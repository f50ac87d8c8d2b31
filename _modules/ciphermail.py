"""
Execution module for a CipherMail gateway's domains and properties, through
``ciphermail-cli``.

The command comes from the host settings (``ciphermail_split:lookup:cli``,
see ``ciphermail_split.settings``) and the grammar from the one command
table in ``_utils/ciphermail_cli_commands.py``, whose rows
``ciphermail_split:lookup:cli_commands`` may replace. ``ciphermail-cli`` always
runs with an argument list, never through a shell; credentials it may need
go in ``command_env`` (its environment), never on its command line. Inside
a state each read command runs once until a write (``ciphermail_split_reads``).
"""

import ciphermail_cli_commands as cli_grammar
import ciphermail_gateway_values as gateway_values
import ciphermail_split_commands as commands
import ciphermail_split_reads as reads
import ciphermail_split_settings as split_settings

__virtualname__ = "ciphermail"


def __virtual__():
    return __virtualname__


# -- values --------------------------------------------------------------------


def normalise_value(value):
    """
    Return a property value as the formula compares it: booleans (``True``,
    ``"true"``, ``"TRUE"``) become ``"true"``/``"false"``, numbers their
    decimal text, strings stay as they are. Refuses line breaks and other
    control characters.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.normalise_value TRUE
    """
    return gateway_values.normalise_value(value)


def normalise_domain(domain):
    """
    Return ``domain`` as the gateway stores it (lowercase), refusing anything
    that is not a DNS domain name.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.normalise_domain Relay-To-Webmail.Private
    """
    return gateway_values.normalise_domain(domain)


def normalise_property_name(name):
    """
    Return a property name after checking it is one (lowercase words joined
    by ``-``).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.normalise_property_name revert-rewrite-recipient
    """
    return gateway_values.normalise_property_name(name)


# -- ciphermail-cli ---------------------------------------------------------------


def cli_commands():
    """
    Return the ``ciphermail-cli`` grammar in effect: every row (command) as
    its argument words with ``{placeholders}``, whether the vendor documents
    it or it is inferred, and whether ``ciphermail_split:lookup:cli_commands``
    overrides it.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.cli_commands
    """
    return cli_grammar.table(split_settings.effective(__opts__, __pillar__)["cli_commands"])


def _execute(conf, action, args):
    """Run one ``ciphermail-cli`` command; a command the CLI does not know fails naming the settings that fix it."""
    try:
        return commands.run(
            __salt__["cmd.run_all"],
            conf,
            "cli",
            args,
            title=f"ciphermail-cli {cli_grammar.title(action, conf['cli_commands'])}",
            timeout=conf["cli_timeout"],
            env=conf["command_env"],
        )["stdout"]
    except commands.CommandFailed as exc:
        if action == "domain_add" and split_settings.exists_message(conf, exc.output):
            raise  # domain_add decides what an existing domain means
        if not cli_grammar.is_unknown_command(exc.retcode, exc.output):
            raise
        message = cli_grammar.unknown_command_message(
            split_settings.LOOKUP_KEY, action, [*conf["cli"], *args], exc.retcode, exc.output, conf["cli_read_back"]
        )
        raise commands.CommandFailed(message, exc.retcode, exc.output) from None


def _run_cli(action, **params):
    """
    Run the ``ciphermail-cli`` command ``action`` (a row of the grammar, in
    the words ``cli_commands`` gives it) and return its output. Inside a
    state a read runs once; any other command forgets the reads.
    """
    conf = split_settings.effective(__opts__, __pillar__)
    args = cli_grammar.words(action, params, conf["cli_commands"])
    if action in cli_grammar.READS:
        return reads.read(__context__, ("ciphermail-cli", *conf["cli"], *args), lambda: _execute(conf, action, args))
    reads.forget(__context__)
    return _execute(conf, action, args)


def cli_help():
    """
    Return what ``ciphermail-cli --help`` prints: a harmless way to see that
    the CLI answers when no read command is known (``cli_read_back:
    false``). Raises when the CLI has no such option.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.cli_help
    """
    conf = split_settings.effective(__opts__, __pillar__)
    result = commands.run(
        __salt__["cmd.run_all"],
        conf,
        "cli",
        ["--help"],
        title="ciphermail-cli --help",
        timeout=conf["cli_timeout"],
        env=conf["command_env"],
    )
    return result["stdout"] or result["stderr"]


def domain_list():
    """
    Return the domains configured on the gateway.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.domain_list
    """
    return [line.strip().lower() for line in _run_cli("domain_list").splitlines() if line.strip()]


def domain_exists(domain):
    """
    Return True when ``domain`` is configured on the gateway.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.domain_exists relay-to-webmail.private
    """
    return gateway_values.normalise_domain(domain) in domain_list()


def domain_add(domain, exists_ok=False):
    """
    Add ``domain`` to the gateway (``ciphermail-cli domain add``). Returns
    True. With ``exists_ok``, a refusal whose message says the domain exists
    (``ciphermail_split:lookup:cli_exists_pattern``, default ``already
    exists``) returns False instead of failing.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.domain_add relay-to-webmail.private
        salt portal-gw ciphermail.domain_add relay-to-webmail.private exists_ok=True
    """
    try:
        _run_cli("domain_add", domain=gateway_values.normalise_domain(domain))
    except commands.CommandFailed as exc:
        if exists_ok and split_settings.exists_message(split_settings.effective(__opts__, __pillar__), exc.output):
            return False
        raise
    return True


def domain_delete(domain):
    """
    Delete ``domain`` and its properties from the gateway (inferred command).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.domain_delete relay-to-webmail.private
    """
    _run_cli("domain_delete", domain=gateway_values.normalise_domain(domain))
    return True


def domain_property_get(domain, name):
    """
    Return the value of property ``name`` of ``domain`` (inferred command).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.domain_property_get relay-to-webmail.private revert-rewrite-recipient
    """
    return _strip_newline(
        _run_cli(
            "domain_property_get",
            domain=gateway_values.normalise_domain(domain),
            name=gateway_values.normalise_property_name(name),
        )
    )


def domain_property_set(domain, name, value):
    """
    Set property ``name`` of ``domain`` to ``value`` (booleans as ``true``/``false``).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.domain_property_set relay-to-webmail.private revert-rewrite-recipient true
    """
    _run_cli(
        "domain_property_set",
        domain=gateway_values.normalise_domain(domain),
        name=gateway_values.normalise_property_name(name),
        value=gateway_values.normalise_value(value),
    )
    return True


def global_property_get(name):
    """
    Return the value of global property ``name`` (inferred command).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.global_property_get trigger-webmail-header-enabled
    """
    return _strip_newline(_run_cli("global_property_get", name=gateway_values.normalise_property_name(name)))


def global_property_set(name, value):
    """
    Set global property ``name`` to ``value`` (booleans as ``true``/``false``).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.global_property_set trigger-webmail-header "X-Keep-CipherMail-To-Webmail: True"
    """
    _run_cli(
        "global_property_set",
        name=gateway_values.normalise_property_name(name),
        value=gateway_values.normalise_value(value),
    )
    return True


def _strip_newline(output):
    return output[:-1] if output.endswith("\n") else output
