def test_remember_restore(modules, gateway):
    ledger = modules.ciphermail_ledger
    assert ledger.record("global_property", "x") is None
    ledger.remember("global_property", "x", "false", "true")
    ledger.remember("global_property", "x", "true", "TRUE")
    assert ledger.record("global_property", "x") == {"before": "false", "ours": "TRUE"}
    assert ledger.restore_plan("global_property", "x", "TRUE") == {"action": "restore", "value": "false"}
    assert (gateway.state_dir / "ledger.json").exists()
