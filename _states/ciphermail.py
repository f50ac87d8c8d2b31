"""
States for a CipherMail gateway's domains and properties in portal
split-mode: global properties (the header triggers) and a domain with its
properties (the private domain).

Every state reads the gateway first (through the ``ciphermail`` execution
module), reports ``{"old", "new"}`` per item with values normalised
(``TRUE`` and ``true`` are one value), predicts under ``test=True`` exactly
the changes a live run makes, and records in the ledger what it changes
before changing it, so the ``*_absent`` and ``*_restored`` states take back
only what the formula did.
"""

import ciphermail_gateway_values as gateway_values
import ciphermail_split_ledger
import ciphermail_split_state as state

__virtualname__ = "ciphermail"


def __virtual__():
    return __virtualname__




def _diff(current, wanted):
    return {name: {"old": current[name], "new": value} for name, value in wanted.items() if current[name] != value}


def _global_property(name):
    return gateway_values.normalise_value(__salt__["ciphermail.global_property_get"](name))


# -- global properties --------------------------------------------------------------


def global_properties_managed(name, properties):
    """
    Set global properties of the gateway, in the order given.

    name
        A label for the set, e.g. ``portal header triggers``.
    properties
        Mapping of property name to value (booleans as YAML booleans or
        ``true``/``false``).

    .. code-block:: yaml

        portal-header-triggers:
          ciphermail.global_properties_managed:
            - properties:
                trigger-webmail-header: "X-Keep-CipherMail-To-Webmail: True"
                trigger-webmail-header-enabled: true
    """

    def work(test, changes):
        wanted = gateway_values.normalised_properties(properties)
        planned = _diff({prop: _global_property(prop) for prop in wanted}, wanted)
        ledger = ciphermail_split_ledger.of_host(__opts__, __pillar__)

        def set_property(prop, change):
            with ledger.remembered("global_property", prop, change["old"], change["new"]):
                __salt__["ciphermail.global_property_set"](prop, change["new"])

        state.apply_each(test, changes, planned, set_property)
        subject, plural = state.things("Global property", "Global properties", planned or wanted)
        return state.report(test, planned, subject, "set", "set", plural)

    return state.run(name, work, __opts__, __context__)


def global_properties_restored(name, properties):
    """
    Put back the values global properties had before the formula changed
    them. A property an admin changed since is left as it is; one the
    formula never changed is not touched.

    name
        A label.
    properties
        List of property names, restored in this order.

    .. code-block:: yaml

        portal-header-triggers-restored:
          ciphermail.global_properties_restored:
            - properties:
              - trigger-webmail-header-enabled
              - trigger-webmail-header
    """

    def work(test, changes):
        names = gateway_values.names(properties, "properties")
        restored, released = state.take_back(
            test,
            changes,
            ciphermail_split_ledger.of_host(__opts__, __pillar__),
            "global_property",
            {prop: prop for prop in names},
            _global_property,
            __salt__["ciphermail.global_property_set"],
        )
        subject, plural = state.things("Global property", "Global properties", restored or names)
        comment = state.report(test, restored, subject, "restored", "restored", plural)
        return comment + state.released_note(released, ("Global property", "Global properties"))

    return state.run(name, work, __opts__, __context__)


# -- domains ---------------------------------------------------------------------------


def domain_present(name, properties=None):
    """
    Make sure a domain exists on the gateway with the given domain properties.

    name
        The domain, e.g. ``relay-to-webmail.private``.
    properties
        Mapping of domain property name to value.

    .. code-block:: yaml

        relay-to-webmail.private:
          ciphermail.domain_present:
            - properties:
                revert-rewrite-recipient: true
    """

    def work(test, changes):
        wanted = gateway_values.normalised_properties(properties) if properties else {}
        domain = gateway_values.normalise_domain(name)
        exists = __salt__["ciphermail.domain_exists"](domain)
        if exists:
            current = {
                prop: gateway_values.normalise_value(__salt__["ciphermail.domain_property_get"](domain, prop))
                for prop in wanted
            }
            planned = _diff(current, wanted)
        else:
            # A new domain: every property is set (there is nothing to read yet).
            planned = {"domain": {"old": None, "new": domain}}
            planned.update({prop: {"old": None, "new": value} for prop, value in wanted.items()})
        ledger = ciphermail_split_ledger.of_host(__opts__, __pillar__)

        def add_or_set(item, change):
            if item == "domain":
                with ledger.remembered("domain", domain, None, "present"):
                    __salt__["ciphermail.domain_add"](domain)
                return
            if not exists:
                # Properties of a domain the formula adds go with the domain.
                __salt__["ciphermail.domain_property_set"](domain, item, change["new"])
                return
            key = ciphermail_split_ledger.domain_property_key(domain, item)
            with ledger.remembered("domain_property", key, change["old"], change["new"]):
                __salt__["ciphermail.domain_property_set"](domain, item, change["new"])

        state.apply_each(test, changes, planned, add_or_set)
        if not planned:
            return state.settled(f"Domain {domain}", "present with its properties")
        if exists:
            subject, plural = state.things("Property", "Properties", planned)
            return state.changed(test, f"{subject} of domain {domain}", "set", plural)
        return state.changed(test, f"Domain {domain}", f"added with {', '.join(wanted)}" if wanted else "added")

    return state.run(name, work, __opts__, __context__)


def _domain_property_records(ledger, domain):
    """``{property: ledger key}`` of the properties the formula changed on ``domain``."""
    prefix = ciphermail_split_ledger.domain_property_key(domain, "")
    return {name: prefix + name for name in ledger.keys_under("domain_property", prefix)}


def _forget_domain(ledger, domain):
    ledger.forget("domain", domain)
    for key in _domain_property_records(ledger, domain).values():
        ledger.forget("domain_property", key)


def domain_absent(name, force=False):
    """
    Take back a domain the formula added: delete it. A domain the formula
    did not add stays (unless ``force``); properties the formula changed on
    it are restored.

    name
        The domain.
    force
        Delete the domain even when the formula did not add it.

    .. code-block:: yaml

        relay-to-webmail.private:
          ciphermail.domain_absent
    """

    def work(test, changes):
        domain = gateway_values.normalise_domain(name)
        ledger = ciphermail_split_ledger.of_host(__opts__, __pillar__)
        if not __salt__["ciphermail.domain_exists"](domain):
            if not test:
                _forget_domain(ledger, domain)
            return state.settled(f"Domain {domain}", "absent")
        if force or ledger.restore_plan("domain", domain, "present")["action"] == "restore":

            def delete(_item, _change):
                __salt__["ciphermail.domain_delete"](domain)
                _forget_domain(ledger, domain)

            planned = {"domain": {"old": domain, "new": None}}
            state.apply_each(test, changes, planned, delete)
            return state.changed(test, f"Domain {domain}", "removed")
        restored, released = state.take_back(
            test,
            changes,
            ledger,
            "domain_property",
            _domain_property_records(ledger, domain),
            lambda prop: gateway_values.normalise_value(__salt__["ciphermail.domain_property_get"](domain, prop)),
            lambda prop, value: __salt__["ciphermail.domain_property_set"](domain, prop, value),
        )
        subject, plural = state.things("Its property", "Its properties", restored)
        kept = state.settled(f"Domain {domain}", "as the formula found it (the formula did not add it, so it stays)") + "."
        if restored:
            kept += " " + state.changed(test, subject, "restored", plural)
        return kept + state.released_note(released, ("Its property", "Its properties"))

    return state.run(name, work, __opts__, __context__)
