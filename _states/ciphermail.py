"""
States for a CipherMail gateway in portal split-mode: domains with their
properties, global properties, keys of the Ansible override file and the
``cm-run-playbook`` run that applies them.

Every state reads the gateway first, reports ``{"old", "new"}`` per item
with values normalised (``TRUE`` and ``true`` are one value), predicts under
``test=True`` exactly the changes a live run makes, and records in the
ledger (``ciphermail_ledger``) what it changes before changing it, so the
``*_absent`` and ``*_restored`` states take back only what the formula did.
"""

import ciphermail_split_state
from salt.exceptions import CommandExecutionError, SaltInvocationError

__virtualname__ = "ciphermail"

PLAYBOOK_CHANGE = {"playbook": {"old": "pending", "new": "applied"}}


def __virtual__():
    if "ciphermail.domain_list" in __salt__:
        return __virtualname__
    return False, "ciphermail: the ciphermail execution module is not available (see its load error)"


def _run(name, work):
    return ciphermail_split_state.run(name, work, bool(__opts__["test"]), __context__)


def _normalise(value):
    return __salt__["ciphermail.normalise_value"](value)


def _normalised(values, what):
    if not isinstance(values, dict) or not values:
        raise SaltInvocationError(f"{what}: got {values!r}; expected a non-empty mapping of names to values")
    return {name: _normalise(value) for name, value in values.items()}


def _names(names, what):
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise SaltInvocationError(f"{what}: got {names!r}; expected a list of names")
    return list(names)


def _diff(current, wanted):
    return {name: {"old": current[name], "new": value} for name, value in wanted.items() if current[name] != value}


def _take_back(test, changes, kind, items, current_of, restore, unchanged, what):
    """
    Take back recorded items (``{item: ledger key}``): restore those that
    still hold our value (``restore(item, value)``, then forget them), and
    release (forget, leave as they are) those an admin changed since.
    """
    planned, released = {}, []
    for item, key in items.items():
        current = current_of(item)
        plan = __salt__["ciphermail_ledger.restore_plan"](kind, key, current)
        if plan["action"] == "restore":
            planned[item] = {"old": current, "new": plan["value"]}
        elif plan["action"] == "release":
            released.append(item)

    def apply_change(item, change):
        restore(item, change["new"])
        __salt__["ciphermail_ledger.forget"](kind, items[item])

    comment = ciphermail_split_state.apply_each(
        test, changes, planned, apply_change, unchanged, f"restore {what} {', '.join(planned)}"
    )
    if not released:
        return comment
    if not test:
        for item in released:
            __salt__["ciphermail_ledger.forget"](kind, items[item])
    return f"Left as an admin set them since: {', '.join(released)}. {comment}"


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
        wanted = _normalised(properties, "properties")
        current = {prop: _normalise(__salt__["ciphermail.global_property_get"](prop)) for prop in wanted}
        planned = _diff(current, wanted)

        def apply_change(prop, change):
            __salt__["ciphermail_ledger.remember"]("global_property", prop, change["old"], change["new"])
            __salt__["ciphermail.global_property_set"](prop, change["new"])

        return ciphermail_split_state.apply_each(
            test,
            changes,
            planned,
            apply_change,
            "Global properties already set",
            f"set global properties {', '.join(planned)}",
        )

    return _run(name, work)


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
        return _take_back(
            test,
            changes,
            "global_property",
            {prop: prop for prop in _names(properties, "properties")},
            lambda prop: _normalise(__salt__["ciphermail.global_property_get"](prop)),
            __salt__["ciphermail.global_property_set"],
            "No global property of the formula to restore",
            "global properties",
        )

    return _run(name, work)


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
        wanted = _normalised(properties, "properties") if properties else {}
        domain = __salt__["ciphermail.normalise_domain"](name)
        exists = __salt__["ciphermail.domain_exists"](domain)
        if exists:
            current = {
                prop: _normalise(__salt__["ciphermail.domain_property_get"](domain, prop)) for prop in wanted
            }
            planned = _diff(current, wanted)
        else:
            # A new domain: every property is set (there is nothing to read yet).
            planned = {"domain": {"old": None, "new": domain}}
            planned.update({prop: {"old": None, "new": value} for prop, value in wanted.items()})

        def apply_change(item, change):
            if item == "domain":
                __salt__["ciphermail_ledger.remember"]("domain", domain, None, "present")
                __salt__["ciphermail.domain_add"](domain)
                return
            if exists:
                # Properties of a domain the formula adds go with the domain.
                __salt__["ciphermail_ledger.remember"](
                    "domain_property", f"{domain}|{item}", change["old"], change["new"]
                )
            __salt__["ciphermail.domain_property_set"](domain, item, change["new"])

        return ciphermail_split_state.apply_each(
            test,
            changes,
            planned,
            apply_change,
            f"Domain {domain} is present with its properties",
            f"{'set properties of' if exists else 'add'} domain {domain}",
        )

    return _run(name, work)


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
        domain = __salt__["ciphermail.normalise_domain"](name)
        if not __salt__["ciphermail.domain_exists"](domain):
            if not test:
                _forget_domain(domain)
            return f"Domain {domain} is absent"
        plan = __salt__["ciphermail_ledger.restore_plan"]("domain", domain, "present")
        if force or plan["action"] == "restore":

            def delete(_item, _change):
                __salt__["ciphermail.domain_delete"](domain)
                _forget_domain(domain)

            planned = {"domain": {"old": domain, "new": None}}
            return ciphermail_split_state.apply_each(test, changes, planned, delete, "", f"delete domain {domain}")
        comment = _take_back(
            test,
            changes,
            "domain_property",
            _domain_property_records(domain),
            lambda prop: _normalise(__salt__["ciphermail.domain_property_get"](domain, prop)),
            lambda prop, value: __salt__["ciphermail.domain_property_set"](domain, prop, value),
            "",
            f"the properties of {domain}:",
        )
        return f"Domain {domain} was not added by this formula; it stays. {comment}".strip()

    return _run(name, work)


def _domain_property_records(domain):
    """``{property: ledger key}`` of the properties the formula changed on ``domain``."""
    prefix = f"{domain}|"
    return {
        key[len(prefix) :]: key
        for key in __salt__["ciphermail_ledger.records"]("domain_property")
        if key.startswith(prefix)
    }


def _forget_domain(domain):
    __salt__["ciphermail_ledger.forget"]("domain", domain)
    for key in _domain_property_records(domain).values():
        __salt__["ciphermail_ledger.forget"]("domain_property", key)


# -- the Ansible override file -------------------------------------------------------------


def override_keys_present(name, values):
    """
    Set keys in the formula's Ansible override file (other keys and comments
    in it are kept). A change leaves a ``cm-run-playbook`` run pending, which
    ``ciphermail.playbook_applied`` then runs. Fails, before writing, when
    another vars file that Ansible reads later would override a key.

    name
        A label.
    values
        Mapping of Ansible variable to value.

    .. code-block:: yaml

        split-mode-override:
          ciphermail.override_keys_present:
            - values:
                ciphermail_backend__remote_portal_enabled: true
    """

    def work(test, changes):
        typed = __salt__["ciphermail.normalise_override"](values)
        wanted = {key: _normalise(value) for key, value in typed.items()}
        if not wanted:
            raise SaltInvocationError("values: expected at least one Ansible variable")
        path = __salt__["ciphermail.override_path"]()
        _refuse_overridden(path, wanted)
        current = __salt__["ciphermail.override_read"]()
        planned = _diff({key: _normalise(current.get(key)) for key in wanted}, wanted)
        if planned and not __salt__["file.file_exists"](path):
            planned = {"file": {"old": None, "new": path}, **planned}

        def apply_change(item, change):
            if item == "file":
                __salt__["ciphermail_ledger.remember"]("override_file", path, None, "present")
                return
            __salt__["ciphermail_ledger.remember"]("override_key", item, change["old"], change["new"])
            __salt__["ciphermail.override_set"]({item: typed[item]})

        return ciphermail_split_state.apply_each(
            test, changes, planned, apply_change, f"{path} already holds the keys", f"update {path}"
        )

    return _run(name, work)


def _refuse_overridden(path, wanted):
    """Fail when a file Ansible reads later would override one of our keys."""
    for key, origin in __salt__["ciphermail.override_shadowed"](wanted).items():
        raise CommandExecutionError(
            f"{key} is also set in {origin}, which Ansible reads after {path} and which would win: "
            f"remove {key} from {origin}"
        )


def override_keys_absent(name, keys, force=False):
    """
    Take back keys the formula set in its Ansible override file: a key it
    added is removed, a key it changed gets its old value back, a key an
    admin changed since stays. The file goes too when the formula created it
    and nothing is left in it. A change leaves a playbook run pending.

    name
        A label.
    keys
        List of Ansible variable names.
    force
        Remove the keys whoever set them.

    .. code-block:: yaml

        split-mode-override-absent:
          ciphermail.override_keys_absent:
            - keys:
              - ciphermail_backend__remote_portal_enabled
    """

    def work(test, changes):
        path = __salt__["ciphermail.override_path"]()
        current = __salt__["ciphermail.override_read"]()
        present = {key: key for key in _names(keys, "keys") if key in current}
        if force:

            def remove(key, _change):
                _set_override_key(key, None)
                __salt__["ciphermail_ledger.forget"]("override_key", key)

            planned = {key: {"old": _normalise(current[key]), "new": None} for key in present}
            comment = ciphermail_split_state.apply_each(
                test, changes, planned, remove, "", f"remove {', '.join(planned)} from {path}"
            )
        else:
            comment = _take_back(
                test,
                changes,
                "override_key",
                present,
                lambda key: _normalise(current[key]),
                _set_override_key,
                "",
                f"in {path}:",
            )
        left = set(current) - {key for key, change in changes.items() if change["new"] is None}
        if changes and not left and _created_by_formula(path):
            planned = {"file": {"old": path, "new": None}}
            deleted = ciphermail_split_state.apply_each(test, changes, planned, _delete_override_file, "", f"delete {path}")
            comment = f"{comment}. {deleted}"
        return comment or f"No key of the formula to take back in {path}"

    return _run(name, work)


def _set_override_key(key, value):
    """Put ``value`` back in the override file; None: remove the key."""
    if value is None:
        __salt__["ciphermail.override_remove"]([key])
    else:
        __salt__["ciphermail.override_set"]({key: value})


def _created_by_formula(path):
    return __salt__["ciphermail_ledger.restore_plan"]("override_file", path, "present")["action"] == "restore"


def _delete_override_file(_item, change):
    __salt__["ciphermail.override_delete_if_empty"]()
    __salt__["ciphermail_ledger.forget"]("override_file", change["old"])


# -- cm-run-playbook ----------------------------------------------------------------------


def playbook_applied(name):
    """
    Run ``cm-run-playbook`` when a run is pending: the override file changed
    and the playbook has not succeeded since (also after a failed or
    interrupted run). With ``watch``, also runs when a watched state changed.
    Never runs twice in one state run.

    name
        A label.

    .. code-block:: yaml

        cm-run-playbook:
          ciphermail.playbook_applied:
            - watch:
              - ciphermail: split-mode-override
    """

    def work(test, changes):
        if not __salt__["ciphermail_ledger.playbook_pending"]():
            return "No cm-run-playbook run is pending"
        return _run_playbook(test, changes)

    return _playbook_ret(_run(name, work))


def mod_watch(name, sfun=None, **kwargs):  # pylint: disable=unused-argument
    """
    Run ``cm-run-playbook`` because a watched state changed (only reached
    when ``playbook_applied`` itself did not run it).
    """
    if sfun != "playbook_applied":
        return {"name": name, "result": False, "changes": {}, "comment": f"ciphermail.{sfun} does not support watch"}
    return _playbook_ret(_run(name, _run_playbook))


def _run_playbook(test, changes):
    changes.update(PLAYBOOK_CHANGE)
    if test:
        return "Would run cm-run-playbook"
    run = __salt__["ciphermail.playbook_run"]()
    return f"cm-run-playbook finished in {run['seconds']} s"


def _playbook_ret(ret):
    """A failed run changed nothing; once it ran (or failed), watch must not start it again."""
    if ret["result"] is False:
        ret["changes"] = {}
    ret["skip_watch"] = bool(ret["changes"]) or ret["result"] is False
    return ret
