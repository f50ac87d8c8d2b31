"""
States for a CipherMail gateway in portal split-mode: domains with their
properties, global properties, keys of the Ansible override file and the
``cm-run-playbook`` run that applies them.

Every state reads the gateway first, reports ``{"old", "new"}`` per item
with values normalised (``TRUE`` and ``true`` are one value), predicts under
``test=True`` exactly the changes a live run makes, and records in the
ledger (``ciphermail_ledger``) what it changes, so the ``*_absent`` and
``*_restored`` states take back only what the formula did.
"""

import contextlib

from salt.exceptions import CommandExecutionError, SaltInvocationError

__virtualname__ = "ciphermail"

PLAYBOOK_CHANGE = {"playbook": {"old": "pending", "new": "applied"}}


def __virtual__():
    if "ciphermail.domain_list" in __salt__:
        return __virtualname__
    return False, "ciphermail: the ciphermail execution module is not available (see its load error)"


# -- shared mechanics ----------------------------------------------------------


def _new_ret(name):
    return {"name": name, "result": True, "changes": {}, "comment": ""}


@contextlib.contextmanager
def _errors_to_result(ret):
    """Turn a failed command or bad argument into ``result: False``, keeping partial changes."""
    try:
        yield
    except (CommandExecutionError, SaltInvocationError) as exc:
        ret["result"] = False
        ret["comment"] = str(exc)


def _finish(ret, changes, done, pending, apply_change):
    """Report no change, predict (test=True), or apply each change in order."""
    if not changes:
        ret["comment"] = done
        return ret
    if __opts__["test"]:
        ret.update(result=None, changes=changes, comment=f"Would {pending}")
        return ret
    for item, change in changes.items():
        apply_change(item, change)
        ret["changes"][item] = change
    ret["comment"] = pending[0].upper() + pending[1:]
    return ret


def _normalised(values, what):
    if not isinstance(values, dict) or not values:
        raise SaltInvocationError(f"{what}: got {values!r}; expected a non-empty mapping of names to values")
    normalise = __salt__["ciphermail.normalise_value"]
    return {name: normalise(value) for name, value in values.items()}


def _diff(current, wanted):
    return {name: {"old": current[name], "new": value} for name, value in wanted.items() if current[name] != value}


def _names(names, what):
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise SaltInvocationError(f"{what}: got {names!r}; expected a list of names")
    return list(names)


def _restore_plan(kind, items, current_of):
    """
    Plan taking back recorded items ({item: ledger key}): the changes that
    restore ours, and the items an admin changed since (to be released).
    """
    changes, released = {}, []
    for item, key in items.items():
        current = current_of(item)
        plan = __salt__["ciphermail_ledger.restore_plan"](kind, key, current)
        if plan["action"] == "restore":
            changes[item] = {"old": current, "new": plan["value"]}
        elif plan["action"] == "release":
            released.append(item)
    return changes, released


def _release(ret, kind, items, released):
    """Forget items an admin took over (live runs only) and say so in the comment."""
    if not released:
        return
    if not __opts__["test"]:
        for item in released:
            __salt__["ciphermail_ledger.forget"](kind, items[item])
    ret["comment"] = f"Left as an admin set them since: {', '.join(released)}. " + ret["comment"]


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
    ret = _new_ret(name)
    with _errors_to_result(ret):
        wanted = _normalised(properties, "properties")
        current = {prop: __salt__["ciphermail.global_property_get"](prop) for prop in wanted}
        changes = _diff({prop: __salt__["ciphermail.normalise_value"](value) for prop, value in current.items()}, wanted)

        def apply_change(prop, change):
            __salt__["ciphermail_ledger.remember"]("global_property", prop, change["old"], change["new"])
            __salt__["ciphermail.global_property_set"](prop, change["new"])

        _finish(
            ret, changes, "Global properties already set", f"set global properties {', '.join(changes)}", apply_change
        )
    return ret


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
    ret = _new_ret(name)
    with _errors_to_result(ret):
        items = {prop: prop for prop in _names(properties, "properties")}

        def current_of(prop):
            return __salt__["ciphermail.normalise_value"](__salt__["ciphermail.global_property_get"](prop))

        def apply_restore(prop, change):
            __salt__["ciphermail.global_property_set"](prop, change["new"])
            __salt__["ciphermail_ledger.forget"]("global_property", prop)

        changes, released = _restore_plan("global_property", items, current_of)
        _finish(
            ret,
            changes,
            "No global property of the formula to restore",
            f"restore global properties {', '.join(changes)}",
            apply_restore,
        )
        _release(ret, "global_property", items, released)
    return ret


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
    ret = _new_ret(name)
    with _errors_to_result(ret):
        wanted = _normalised(properties, "properties") if properties else {}
        domain = name.lower()
        exists = __salt__["ciphermail.domain_exists"](domain)
        if exists:
            current = {
                prop: __salt__["ciphermail.normalise_value"](__salt__["ciphermail.domain_property_get"](domain, prop))
                for prop in wanted
            }
            changes = _diff(current, wanted)
        else:
            # A new domain: every property is set (nothing to read yet).
            changes = {"domain": {"old": None, "new": domain}}
            changes.update({prop: {"old": None, "new": value} for prop, value in wanted.items()})

        def apply_change(item, change):
            if item == "domain":
                __salt__["ciphermail_ledger.remember"]("domain", domain, None, "present")
                __salt__["ciphermail.domain_add"](domain)
                return
            if exists:
                __salt__["ciphermail_ledger.remember"](
                    "domain_property", f"{domain}|{item}", change["old"], change["new"]
                )
            __salt__["ciphermail.domain_property_set"](domain, item, change["new"])

        _finish(
            ret,
            changes,
            f"Domain {domain} is present with its properties",
            f"{'set properties of' if exists else 'add'} domain {domain}",
            apply_change,
        )
    return ret


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
    ret = _new_ret(name)
    with _errors_to_result(ret):
        domain = name.lower()
        if not __salt__["ciphermail.domain_exists"](domain):
            if not __opts__["test"]:
                _forget_domain(domain)
            ret["comment"] = f"Domain {domain} is absent"
            return ret
        plan = __salt__["ciphermail_ledger.restore_plan"]("domain", domain, "present")
        if force or plan["action"] == "restore":

            def apply_delete(_item, _change):
                __salt__["ciphermail.domain_delete"](domain)
                _forget_domain(domain)

            return _finish(
                ret, {"domain": {"old": domain, "new": None}}, "", f"delete domain {domain}", apply_delete
            )
        items = {
            key.split("|", 1)[1]: key
            for key in __salt__["ciphermail_ledger.records"]("domain_property")
            if key.startswith(f"{domain}|")
        }

        def current_of(prop):
            return __salt__["ciphermail.normalise_value"](__salt__["ciphermail.domain_property_get"](domain, prop))

        def apply_restore(prop, change):
            __salt__["ciphermail.domain_property_set"](domain, prop, change["new"])
            __salt__["ciphermail_ledger.forget"]("domain_property", items[prop])

        changes, released = _restore_plan("domain_property", items, current_of)
        _finish(ret, changes, "", f"restore properties {', '.join(changes)} of {domain}", apply_restore)
        _release(ret, "domain_property", items, released)
        ret["comment"] = f"Domain {domain} was not added by this formula; it stays. " + ret["comment"]
    return ret


def _forget_domain(domain):
    __salt__["ciphermail_ledger.forget"]("domain", domain)
    for key in __salt__["ciphermail_ledger.records"]("domain_property"):
        if key.startswith(f"{domain}|"):
            __salt__["ciphermail_ledger.forget"]("domain_property", key)


# -- the Ansible override file -------------------------------------------------------------


def override_keys_present(name, values):
    """
    Set keys in the formula's Ansible override file (other keys and comments
    in it are kept). A change leaves a ``cm-run-playbook`` run pending, which
    ``ciphermail.playbook_applied`` then runs. Fails, before writing, when
    another ``*.yml`` file that Ansible reads later would override a key.

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
    ret = _new_ret(name)
    with _errors_to_result(ret):
        wanted = _normalised(values, "values")
        path = __salt__["ciphermail.override_path"]()
        current = __salt__["ciphermail.override_read"]()
        _refuse_overridden(path, wanted)
        changes = _diff({key: __salt__["ciphermail.normalise_value"](current.get(key)) for key in wanted}, wanted)
        if changes and not __salt__["file.file_exists"](path):
            changes = {"file": {"old": None, "new": path}, **changes}

        def apply_change(item, change):
            if item == "file":
                __salt__["ciphermail_ledger.remember"]("override_file", path, None, "present")
                return
            __salt__["ciphermail_ledger.remember"]("override_key", item, change["old"], change["new"])
            __salt__["ciphermail.override_set"]({item: values[item]})

        _finish(ret, changes, f"{path} already holds the keys", f"update {path}", apply_change)
    return ret


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
    ret = _new_ret(name)
    with _errors_to_result(ret):
        names = _names(keys, "keys")
        path = __salt__["ciphermail.override_path"]()
        current = __salt__["ciphermail.override_read"]()
        present = [key for key in names if key in current]
        normalise = __salt__["ciphermail.normalise_value"]
        items = {key: key for key in present}
        if force:
            changes, released = {key: {"old": normalise(current[key]), "new": None} for key in present}, []
        else:
            changes, released = _restore_plan("override_key", items, lambda key: normalise(current[key]))
        remaining = set(current) - {key for key, change in changes.items() if change["new"] is None}
        created = __salt__["ciphermail_ledger.restore_plan"]("override_file", path, "present")["action"] == "restore"
        if changes and not remaining and created:
            changes["file"] = {"old": path, "new": None}

        def apply_change(item, change):
            if item == "file":
                __salt__["ciphermail.override_delete_if_empty"]()
                __salt__["ciphermail_ledger.forget"]("override_file", path)
                return
            _restore_override_key(item, change["new"])
            __salt__["ciphermail_ledger.forget"]("override_key", item)

        _finish(ret, changes, f"No key of the formula to take back in {path}", f"update {path}", apply_change)
        _release(ret, "override_key", items, released)
    return ret


def _restore_override_key(key, value):
    if value is None:
        __salt__["ciphermail.override_remove"]([key])
    else:
        __salt__["ciphermail.override_set"]({key: value})


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
    ret = _new_ret(name)
    with _errors_to_result(ret):
        if not __salt__["ciphermail_ledger.playbook_pending"]():
            ret["comment"] = "No cm-run-playbook run is pending"
            return ret
        return _run_playbook(ret)
    return ret


def mod_watch(name, sfun=None, **kwargs):  # pylint: disable=unused-argument
    """
    Run ``cm-run-playbook`` because a watched state changed (only reached
    when ``playbook_applied`` itself did not run it).
    """
    ret = _new_ret(name)
    if sfun != "playbook_applied":
        ret.update(result=False, comment=f"ciphermail.{sfun} does not support watch")
        return ret
    with _errors_to_result(ret):
        return _run_playbook(ret)
    return ret


def _run_playbook(ret):
    # Whatever happens, the watch requisite must not run the playbook again.
    ret["skip_watch"] = True
    if __opts__["test"]:
        ret.update(result=None, changes=dict(PLAYBOOK_CHANGE), comment="Would run cm-run-playbook")
        return ret
    run = __salt__["ciphermail.playbook_run"]()
    ret.update(changes=dict(PLAYBOOK_CHANGE), comment=f"cm-run-playbook finished in {run['seconds']} s")
    return ret
