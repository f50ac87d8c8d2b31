"""
The ciphermail_split formula under salt-ssh, on the master.

salt-ssh renders an SLS on the master, and a ``salt[...]`` call there runs
a wrapper module of the master, or else opens another ssh connection and
runs the function on the target, without pillar. The formula's
``map.jinja`` checks the pillar through :func:`validate_pillar` while it
renders, so the check runs here, in pure Python, with the pillar the
master compiled for the target. :func:`status` and :func:`preflight` read
the gateway, so they run on the target, in a state run: the one way
salt-ssh gives a target its pillar (inside the state package it copies
over, never on a command line), which they need for the host settings and
the secrets of ``command_env``.

salt-ssh loads this module when the master config lists the formula's
directory (the one that holds ``_wrapper`` and ``_utils``) in
``module_dirs``. It imports the formula's ``_utils`` from beside itself.
"""

import os
import sys

import salt.client.ssh.wrapper
import salt.utils.yaml
from salt.exceptions import CommandExecutionError

#: The formula's ``_utils``, beside this module's ``_wrapper``.
UTILS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_utils")
if UTILS_DIR not in sys.path:
    sys.path.insert(0, UTILS_DIR)

try:
    import ciphermail_postfix_values as postfix_values
    import ciphermail_split_pillar
    import ciphermail_split_preflight as verdicts
    import ciphermail_split_settings as split_settings
except ImportError as exc:
    _IMPORT_ERROR = f"cannot import the formula's _utils from {UTILS_DIR}: {exc}"
else:
    _IMPORT_ERROR = None

__virtualname__ = "ciphermail_split"

DEFAULTS_URL = "salt://ciphermail_split/parameters/defaults.yaml"
#: The SLS that runs a function of the formula on the target, and its pillar key.
CALL_SLS = "ciphermail_split.ssh.call"
CALL_KEY = "ciphermail_split_ssh_call"


def __virtual__():
    if _IMPORT_ERROR:
        return False, _IMPORT_ERROR
    return __virtualname__


def _formula_defaults():
    """The ``values`` of ``parameters/defaults.yaml``, from the master's file server."""
    path = __context__["fileclient"].cache_file(DEFAULTS_URL, "base")
    if not path:
        raise CommandExecutionError(f"cannot read {DEFAULTS_URL}: is the formula in file_roots?")
    with open(path, encoding="utf-8") as stream:
        return salt.utils.yaml.safe_load(stream)["values"]


def _remote_error(result):
    """Why a call on the target failed (Salt 3006 returns an ``_error`` mapping), or None."""
    if isinstance(result, dict) and "_error" in result:
        return (result.get("stderr") or result.get("stdout") or result["_error"]).strip()
    return None


def _postfix_version(settings):
    """The target's Postfix ``mail_version``, asked over ssh (its arguments are no secret)."""
    argv = [*settings["postconf"], "-c", settings["postfix_config_dir"], *postfix_values.MAIL_VERSION_QUERY]
    result = __salt__["cmd.run_all"](
        argv, python_shell=False, ignore_retcode=True, output_loglevel="quiet", timeout=settings["postfix_timeout"]
    )
    error = _remote_error(result)
    if error is None and result.get("retcode") != 0:
        error = (result.get("stderr") or result.get("stdout") or "no output").strip()
    if error is not None:
        raise CommandExecutionError(f"{' '.join(argv)} failed on the target: {error}")
    return result["stdout"].strip()


def validate_pillar(pillar=None, defaults=None, sls=None):
    """
    Check pillar ``ciphermail_split`` on the master, as the execution
    function ``ciphermail_split.validate_pillar`` does on a minion: return
    ``problems`` and ``mapdata`` (``command_env`` values masked). The
    pillar is the one the master compiled for the target, with a
    ``pillar=`` of the command line merged over it; the host settings of
    the roster's ``minion_opts`` count as minion config (host settings
    only, checked as on a minion). Only a main
    gateway with several portal nodes asks the target for its Postfix
    version (``postconf -dh mail_version``, over ssh).

    pillar
        The ``ciphermail_split`` pillar (default: the target's).
    defaults
        The ``values`` of ``parameters/defaults.yaml`` (default: read from
        the master's file server).
    sls
        The SLS being rendered (see the execution function).

    CLI Example:

    .. code-block:: bash

        salt-ssh main-gw ciphermail_split.validate_pillar
    """
    if pillar is None:
        pillar = __pillar__.get(split_settings.PILLAR_KEY)
    return ciphermail_split_pillar.checked(
        pillar,
        defaults or _formula_defaults(),
        sls,
        __opts__,
        lambda: _postfix_version(split_settings.effective(__opts__, __pillar__)),
    )


def _call_state(ran):
    """The return of the state of ``CALL_SLS`` that called the function, from a salt-ssh state run."""
    returns = ran.get("local", {}).get("return") if isinstance(ran, dict) else None
    if not isinstance(returns, dict):
        raise CommandExecutionError(f"the state run on the target did not run: {ran}")
    for key, state in returns.items():
        if key.startswith("module_|-ciphermail_split-ssh-call_|-"):
            return state
    failed = [state.get("comment", "") for state in returns.values() if isinstance(state, dict)]
    raise CommandExecutionError("; ".join(failed) or f"no call in the state run on the target: {returns}")


def _on_target(function, **kwargs):
    """
    Run the formula's execution function ``function`` on the target, in a
    state run of ``CALL_SLS`` (so with the target's pillar), under
    test=False (it only reads); return what it returned. When it cannot
    run, the salt-ssh exit code is 1 and the return says why.
    """
    try:
        ran = __salt__["state.sls"](
            CALL_SLS,
            test=False,
            extra_filerefs=DEFAULTS_URL,
            pillar={CALL_KEY: {"function": function, "kwargs": kwargs}},
        )
    except salt.client.ssh.wrapper.SSHException as exc:  # Salt 3007 and later raise on a failed state run
        ran = exc.parsed
    try:
        state = _call_state(ran)
        if state.get("result") is not True:
            raise CommandExecutionError(state.get("comment") or "it failed")
        return state["changes"][f"ciphermail_split.{function}"]
    except CommandExecutionError as exc:
        __context__["retcode"] = 1
        return f"ciphermail_split.{function} did not run on {__opts__['id']}: {exc}"


def status():
    """
    Report the target's portal split-mode configuration as it stands: the
    execution function ``ciphermail_split.status``, run on the target with
    its pillar (see the module's docstring). It only reads.

    CLI Example:

    .. code-block:: bash

        salt-ssh '*' ciphermail_split.status
    """
    return _on_target("status")


def preflight(role=None):
    """
    Check, read-only, whether the target can take its role, and say what
    to fix: the execution function ``ciphermail_split.preflight``, run on
    the target with its pillar (see the module's docstring). The salt-ssh
    exit code is 1 when a check fails.

    CLI Example:

    .. code-block:: bash

        salt-ssh portal-gw ciphermail_split.preflight
        salt-ssh main-gw ciphermail_split.preflight role=main --out=json
    """
    report = _on_target("preflight", **({"role": role} if role is not None else {}))
    if isinstance(report, dict) and report.get("result") == verdicts.FAIL:
        __context__["retcode"] = 1
    return report
