"""
Execution module for a CipherMail gateway's domains and properties, through
``ciphermail-cli``.

The command comes from the host settings (``ciphermail_split:lookup:cli``,
see ``ciphermail_split.settings``) and the grammar from the one command
table in ``_utils/ciphermail_cli_commands.py``. ``ciphermail-cli`` always
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
    Return the ``ciphermail-cli`` grammar this module uses: every command as
    its argument words with ``{placeholders}``, and whether it is documented
    by the vendor or inferred.

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.cli_commands
    """
    return cli_grammar.table()


def _run_cli(action, **params):
    """
    Run the ``ciphermail-cli`` command ``action`` and return its output.
    Inside a state a read runs once; any other command forgets the reads.
    """
    conf = split_settings.effective(__opts__, __pillar__)
    args = cli_grammar.words(action, params)

    def execute():
        return commands.run(
            __salt__["cmd.run_all"],
            conf,
            "cli",
            args,
            title=f"ciphermail-cli {cli_grammar.title(action)}",
            timeout=conf["cli_timeout"],
            env=conf["command_env"],
        )["stdout"]

    if action in cli_grammar.READS:
        return reads.read(__context__, ("ciphermail-cli", *conf["cli"], *args), execute)
    reads.forget(__context__)
    return execute()


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


def domain_add(domain):
    """
    Add ``domain`` to the gateway (``ciphermail-cli domain add``).

    CLI Example:

    .. code-block:: bash

        salt portal-gw ciphermail.domain_add relay-to-webmail.private
    """
    _run_cli("domain_add", domain=gateway_values.normalise_domain(domain))
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
