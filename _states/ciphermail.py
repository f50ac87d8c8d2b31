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

With ``ciphermail_split:lookup:cli_read_back: false`` (documented-only
mode) they run only the documented write commands and read nothing: what
they know of the gateway is what the ledger says the formula applied, and a
value they cannot read shows as ``unknown`` in ``old``. A ``domain add``
refused because the domain exists counts as present. Taking back, a
boolean the formula switched on is switched off; other values stay.
"""

import contextlib

import ciphermail_gateway_values as gateway_values
import ciphermail_split_ledger
import ciphermail_split_settings as split_settings
import ciphermail_split_state as state
from ciphermail_gateway_values import UNKNOWN
from salt.exceptions import CommandExecutionError

__virtualname__ = "ciphermail"


def __virtual__():
    return __virtualname__


def _read_back():
    """True when the formula reads the gateway back; False in documented-only mode."""
    return split_settings.effective(__opts__, __pillar__)["cli_read_back"]


def _diff(current, wanted):
    return {name: {"old": current[name], "new": value} for name, value in wanted.items() if current[name] != value}


def _not_applied(ledger, kind, keys, wanted):
    """Documented-only mode: the changes of ``wanted`` the formula has not applied (``keys``: item -> ledger key)."""
    return {
        item: {"old": UNKNOWN, "new": value}
        for item, value in wanted.items()
        if ledger.applied(kind, keys[item]) != value
    }


@contextlib.contextmanager
def _remembered(ledger, old_was_read, kind, key, change):
    """
    Around a write: record the value the item had (it was read), or keep the
    value of an existing record current (documented-only mode records
    nothing it has not read); a failed write takes its record back
    (``Ledger.remembered``).
    """
    if old_was_read or ledger.record(kind, key) is not None:
        with ledger.remembered(kind, key, change["old"], change["new"]):
            yield
    else:
        yield


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
        ledger = ciphermail_split_ledger.of_host(__opts__, __pillar__)
        read_back = _read_back()
        if read_back:
            planned = _diff({prop: _global_property(prop) for prop in wanted}, wanted)
        else:
            planned = _not_applied(ledger, "global_property", {prop: prop for prop in wanted}, wanted)

        def set_property(prop, change):
            with _remembered(ledger, read_back, "global_property", prop, change):
                __salt__["ciphermail.global_property_set"](prop, change["new"])
            if not read_back:
                ledger.remember_applied("global_property", prop, change["new"])

        state.apply_each(test, changes, planned, set_property)
        subject, plural = state.things("Global property", "Global properties", planned or wanted)
        return state.report(test, planned, subject, "set", "set", plural)

    return state.run(name, work, __opts__, __context__)


def global_properties_restored(name, properties):
    """
    Put back the values global properties had before the formula changed
    them. A property an admin changed since is left as it is; one the
    formula never changed is not touched. In documented-only mode
    (``cli_read_back: false``) the earlier values cannot be read: a property
    the formula switched on (``true``) is switched off, any other stays.

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
        kept = []
        restored, released = state.take_back(
            test,
            changes,
            ciphermail_split_ledger.of_host(__opts__, __pillar__),
            "global_property",
            {prop: prop for prop in names},
            _global_property if _read_back() else lambda _prop: UNKNOWN,
            __salt__["ciphermail.global_property_set"],
            kept,
        )
        what = ("Global property", "Global properties")
        subject, plural = state.things(*what, restored or names)
        comment = state.report(test, restored, subject, "restored", "restored", plural)
        return comment + state.released_note(released, what) + state.kept_note(kept, what)

    return state.run(name, work, __opts__, __context__)


# -- domains ---------------------------------------------------------------------------

#: Said of a test run in documented-only mode.
_DOCUMENTED_ONLY = " (documented-only mode: the gateway is not read; a domain that exists counts as present)"


def _domain_add(conf, domain):
    """Add ``domain``; False when it exists and that counts as present (documented-only mode)."""
    read_back = conf["cli_read_back"]
    try:
        return __salt__["ciphermail.domain_add"](domain, exists_ok=not read_back)
    except CommandExecutionError as exc:
        if read_back and split_settings.exists_message(conf, str(exc)):
            raise CommandExecutionError(
                f"{exc}. Yet the domain list did not show {domain}: "
                f"{split_settings.LOOKUP_KEY}:cli_commands:domain_list must print every domain, one a line"
            ) from None
        raise


def _domain_comment(test, domain, planned, exists, found):
    """The comment of ``domain_present``."""
    props = [item for item in planned if item != "domain"]
    if exists:
        subject, plural = state.things("Property", "Properties", props)
        return state.changed(test, f"{subject} of domain {domain}", "set", plural)
    if found:
        comment = state.changed(test, f"Domain {domain}", "found present (ciphermail-cli domain add says it exists)")
        if props:
            subject, plural = state.things("property", "properties", props)
            comment += f"; its {state.changed(test, subject, 'set', plural)}"
        return comment
    return state.changed(test, f"Domain {domain}", f"added with {', '.join(props)}" if props else "added")


def domain_present(name, properties=None):
    """
    Make sure a domain exists on the gateway with the given domain properties.

    In documented-only mode (``ciphermail_split:lookup:cli_read_back:
    false``) nothing is read: the domain is added and its properties set
    unless the ledger says the formula applied them, ``old`` shows
    ``unknown``, and a ``domain add`` refused because the domain exists
    (``cli_exists_pattern``) counts as present.

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
        conf = split_settings.effective(__opts__, __pillar__)
        read_back = conf["cli_read_back"]
        ledger = ciphermail_split_ledger.of_host(__opts__, __pillar__)
        keys = {prop: ciphermail_split_ledger.domain_property_key(domain, prop) for prop in wanted}
        if read_back:
            exists = __salt__["ciphermail.domain_exists"](domain)
        else:
            exists = ledger.applied("domain", domain) == "present"
        if exists and read_back:
            current = {
                prop: gateway_values.normalise_value(__salt__["ciphermail.domain_property_get"](domain, prop))
                for prop in wanted
            }
            planned = _diff(current, wanted)
        elif exists:
            planned = _not_applied(ledger, "domain_property", keys, wanted)
        else:
            # A new domain: every property is set (there is nothing to read yet).
            old = None if read_back else UNKNOWN
            planned = {"domain": {"old": old, "new": domain}}
            planned.update({prop: {"old": old, "new": value} for prop, value in wanted.items()})
        found = []

        def add_or_set(item, change):
            if item == "domain":
                recorded = ledger.record("domain", domain) is not None
                with ledger.remembered("domain", domain, None, "present"):
                    added = _domain_add(conf, domain)
                if not added:
                    found.append(domain)
                    if not recorded:
                        ledger.forget("domain", domain)  # it was there before the formula: not ours
                if not read_back:
                    ledger.remember_applied("domain", domain, "present")
                return
            # Properties of a domain the formula adds go with the domain.
            with _remembered(ledger, read_back and exists, "domain_property", keys[item], change):
                __salt__["ciphermail.domain_property_set"](domain, item, change["new"])
            if not read_back:
                ledger.remember_applied("domain_property", keys[item], change["new"])

        state.apply_each(test, changes, planned, add_or_set)
        if not planned:
            how = "" if read_back else ", as the formula applied them (documented-only mode: the gateway is not read)"
            return state.settled(f"Domain {domain}", f"present with its properties{how}")
        note = _DOCUMENTED_ONLY if test and not read_back else ""
        return _domain_comment(test, domain, planned, exists, found) + note

    return state.run(name, work, __opts__, __context__)


def _domain_property_items(ledger, domain):
    """``{property: ledger key}`` of the properties the formula changed or applied on ``domain``."""
    prefix = ciphermail_split_ledger.domain_property_key(domain, "")
    names = ledger.keys_under("domain_property", prefix) + ledger.applied_keys_under("domain_property", prefix)
    return {name: prefix + name for name in dict.fromkeys(names)}


def _forget_domain(ledger, domain):
    ledger.forget("domain", domain)
    ledger.forget_applied("domain", domain)
    for key in _domain_property_items(ledger, domain).values():
        ledger.forget("domain_property", key)
        ledger.forget_applied("domain_property", key)


def domain_absent(name, force=False):
    """
    Take back a domain the formula added: delete it. A domain the formula
    did not add stays (unless ``force``); properties the formula changed on
    it are restored.

    In documented-only mode (``cli_read_back: false``) no delete command is
    known: the domain stays, unless ``ciphermail_split:lookup:cli_commands:domain_delete``
    gives one, and a property the formula switched on (``true``) is
    switched off.

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
        conf = split_settings.effective(__opts__, __pillar__)
        read_back = conf["cli_read_back"]
        ledger = ciphermail_split_ledger.of_host(__opts__, __pillar__)
        if read_back and not __salt__["ciphermail.domain_exists"](domain):
            if not test:
                _forget_domain(ledger, domain)
            return state.settled(f"Domain {domain}", "absent")
        deletable = read_back or "domain_delete" in conf["cli_commands"]
        added = ledger.restore_plan("domain", domain, "present")["action"] == "restore"
        if force and not deletable:
            raise CommandExecutionError(
                f"Domain {domain} cannot be deleted: no delete command is documented; "
                f"give its words in {split_settings.LOOKUP_KEY}:cli_commands:domain_delete"
            )
        if (force or added) and deletable:

            def delete(_item, _change):
                __salt__["ciphermail.domain_delete"](domain)
                _forget_domain(ledger, domain)

            planned = {"domain": {"old": domain if read_back else UNKNOWN, "new": None}}
            state.apply_each(test, changes, planned, delete)
            return state.changed(test, f"Domain {domain}", "removed")
        kept = []
        restored, released = state.take_back(
            test,
            changes,
            ledger,
            "domain_property",
            _domain_property_items(ledger, domain),
            (
                (lambda prop: gateway_values.normalise_value(__salt__["ciphermail.domain_property_get"](domain, prop)))
                if read_back
                else (lambda _prop: UNKNOWN)
            ),
            lambda prop, value: __salt__["ciphermail.domain_property_set"](domain, prop, value),
            kept,
        )
        if not test:
            ledger.forget_applied("domain", domain)
        if added:
            why = (
                "no delete command is documented; give "
                f"{split_settings.LOOKUP_KEY}:cli_commands:domain_delete to delete it"
            )
        else:
            why = "the formula did not add it"
        comment = state.settled(f"Domain {domain}", f"where clean leaves it: it stays ({why})") + "."
        if restored:
            subject, plural = state.things("Its property", "Its properties", restored)
            comment += " " + state.changed(test, subject, "restored", plural)
        what = ("Its property", "Its properties")
        return comment + state.released_note(released, what) + state.kept_note(kept, what)

    return state.run(name, work, __opts__, __context__)
