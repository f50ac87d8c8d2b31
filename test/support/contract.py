"""
The contract every run of the formula keeps, checked the same way in every
tier: test=True predicts (and writes nothing, changes no file), the live
run makes exactly the predicted changes, and a further run changes and
writes nothing.
"""


def converge_state(gateway, state_function):
    """One state function (functional tier), called with test=True, live, live again; returns the live changes."""
    calls, files = len(gateway.calls()), gateway.files()
    predicted = state_function(test=True)
    assert predicted.result is (None if predicted.changes else True), predicted.comment
    assert gateway.files() == files
    assert gateway.write_calls(since=calls) == []
    live = state_function()
    assert live.result is True, live.comment
    assert live.changes == predicted.changes
    gateway.age_config()
    calls, files = len(gateway.calls()), gateway.files()
    again = state_function()
    assert (again.result, again.changes) == (True, {}), again.comment
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
    assert all(predicted.results[state] is None for state in predicted.changes), predicted
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
    assert live.changes == predicted.changes
    live.writes = gateway.write_calls(since=calls)
    # As if the next run came a while later: Postfix waits on a just-written main.cf.
    gateway.age_config()
    calls, files = len(gateway.calls()), gateway.files()
    again = minion.apply(sls, extra_env=env)
    assert again.returncode == 0, again
    assert again.changes == {}, again
    assert gateway.write_calls(since=calls) == []
    assert gateway.files() == files
    return live
