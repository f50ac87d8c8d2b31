"""
The contract every run of the formula keeps, checked the same way in every
tier: test=True predicts (and writes nothing, changes no file), the live
run makes exactly the predicted changes, and a further run changes and
writes nothing.
"""

import re

#: Salt's usual words for a state's outcome (``_utils/ciphermail_split_state.py``).
WORDS = {
    "pending": re.compile(r" would be "),
    "done": re.compile(r" (has|have) been "),
    "settled": re.compile(r" (is|are) already "),
}


#: Salt's comment on a state its ``unless``/``onlyif`` check skipped (Salt's words, not the formula's):
#: the salt-ssh _utils sync on Salt 3006 (ciphermail_split/salt_ssh.jinja).
SKIPPED_BY_CHECK = ("unless condition is true", "onlyif condition is false")


def worded(comment, changes, made):
    """The comment says ``made`` (pending or done) when there are changes, else that all is already so."""
    outcome = made if changes else "settled"
    assert WORDS[outcome].search(comment), (outcome, comment)


def worded_run(run, made):
    """Every state of a StateRun (integration tier) is worded as :func:`worded` says."""
    for ret in run.states.values():
        if ret.get("__state_ran__") is not False and ret["comment"] not in SKIPPED_BY_CHECK:
            worded(ret["comment"], ret["changes"], made)


def converge_state(gateway, state_function):
    """One state function (functional tier), called with test=True, live, live again; returns the live changes."""
    calls, files = len(gateway.calls()), gateway.files()
    predicted = state_function(test=True)
    assert predicted.result is (None if predicted.changes else True), predicted.comment
    worded(predicted.comment, predicted.changes, "pending")
    assert gateway.files() == files
    assert gateway.write_calls(since=calls) == []
    live = state_function()
    assert live.result is True, live.comment
    assert live.changes == predicted.changes, (live.changes, predicted.changes)
    worded(live.comment, live.changes, "done")
    gateway.age_config()
    calls, files = len(gateway.calls()), gateway.files()
    again = state_function()
    assert (again.result, again.changes) == (True, {}), again.comment
    worded(again.comment, again.changes, "settled")
    assert gateway.files() == files
    assert gateway.write_calls(since=calls) == []
    return live.changes


def predict_apply(minion, sls="ciphermail_split", env=None):
    """
    ``state.apply sls test=True`` with salt-call: it succeeds, every state
    with changes says None, and it writes nothing and changes no file.
    Returns the StateRun.
    """
    gateway = minion.gateway
    calls, files = len(gateway.calls()), gateway.files()
    predicted = minion.apply(sls, test=True, extra_env=env)
    assert predicted.returncode == 0, predicted
    assert predicted.states, predicted
    assert all(predicted.results[state] is None for state in predicted.changes), predicted
    worded_run(predicted, "pending")
    assert gateway.write_calls(since=calls) == []
    assert gateway.files() == files
    return predicted


def converge_apply(minion, sls="ciphermail_split", env=None):
    """
    ``state.apply sls`` with salt-call (integration tier): test=True, live,
    live again. Returns the live StateRun; its ``writes`` are the gateway
    write commands the live run made.
    """
    gateway = minion.gateway
    predicted = predict_apply(minion, sls, env)
    calls = len(gateway.calls())
    live = minion.apply(sls, extra_env=env)
    assert live.returncode == 0, live
    assert all(result is True for result in live.results.values()), live
    assert live.changes == predicted.changes, (live.changes, predicted.changes)
    worded_run(live, "done")
    live.writes = gateway.write_calls(since=calls)
    # As if the next run came a while later: Postfix waits on a just-written main.cf.
    gateway.age_config()
    calls, files = len(gateway.calls()), gateway.files()
    again = minion.apply(sls, extra_env=env)
    assert again.returncode == 0, again
    assert again.changes == {}, again
    worded_run(again, "settled")
    assert gateway.write_calls(since=calls) == []
    assert gateway.files() == files
    return live


def applied(minion, sls="ciphermail_split"):
    """A live ``state.apply sls`` with salt-call in which every state succeeds; returns the StateRun."""
    run = minion.apply(sls)
    assert run.returncode == 0, run
    assert all(result is True for result in run.results.values()), run
    return run
