"""
ciphermail_mta mynetworks states against real postconf on the sandbox's
Postfix configuration directory.
"""


import pytest
from support.samples import SPREAD_OUT_MAIN_CF
from support.values import BASE_MYNETWORKS


def _main_cf(gateway):
    return gateway.postfix_dir / "main.cf"


def _admin_writes_main_cf(gateway, text):
    _main_cf(gateway).write_text(text)
    gateway.age_config()


def _elements(gateway):
    return gateway.postconf("mynetworks").replace(",", " ").split()


def _present(states, addresses, test=False, **kwargs):
    return states.ciphermail_mta.mynetworks_present(name="main gateway", addresses=addresses, test=test, **kwargs)


def _absent(states, test=False, **kwargs):
    return states.ciphermail_mta.mynetworks_absent(name="main gateway", test=test, **kwargs)


def test_ipv6_main_gateway_bracketed_a_changed_address_replaces_it_and_a_second_run_does_nothing(states, gateway):
    expected = {"mynetworks": {"old": BASE_MYNETWORKS, "new": [*BASE_MYNETWORKS, "[2001:db8::10]/128"]}}
    files = gateway.files()

    predicted = _present(states, ["2001:DB8:0::10"], test=True)
    assert (predicted.result, predicted.changes) == (None, expected)
    assert gateway.files() == files
    applied = _present(states, ["2001:DB8:0::10"])
    assert (applied.result, applied.changes) == (True, expected), applied.comment
    assert gateway.postconf("mynetworks") == "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128 [2001:db8::10]/128"

    # The main gateway moved: the old address must not keep its relay rights.
    moved = {"mynetworks": {"old": [*BASE_MYNETWORKS, "[2001:db8::10]/128"], "new": [*BASE_MYNETWORKS, "192.0.2.11"]}}
    predicted = _present(states, ["192.0.2.11"], test=True)
    assert (predicted.result, predicted.changes) == (None, moved)
    applied = _present(states, ["192.0.2.11"])
    assert (applied.result, applied.changes) == (True, moved)
    assert _elements(gateway) == [*BASE_MYNETWORKS, "192.0.2.11"]

    gateway.age_config()
    stamp = _main_cf(gateway).stat().st_mtime_ns, _main_cf(gateway).stat().st_ino
    again = _present(states, ["192.0.2.11/32"])
    assert (again.result, again.changes) == (True, {})
    assert (_main_cf(gateway).stat().st_mtime_ns, _main_cf(gateway).stat().st_ino) == stamp


def test_continuation_lines_references_and_other_entries_are_kept(states, gateway):
    # The main gateway's IPv4 address was in mynetworks before the formula.
    before = SPREAD_OUT_MAIN_CF.replace("192.0.2.0/24,", "192.0.2.10/32,")
    _admin_writes_main_cf(gateway, before)

    applied = _present(states, ["192.0.2.10", "2001:db8::10"])

    assert applied.result is True, applied.comment
    assert _main_cf(gateway).read_text() == before.replace("network_table\n", "network_table, [2001:db8::10]/128\n")
    shown = "127.0.0.0/8, [::1]/128 $my_extra 192.0.2.10/32, hash:/etc/postfix/network_table"
    assert gateway.postconf("mynetworks") == f"{shown}, [2001:db8::10]/128"
    assert "10.1.0.0/16" in gateway.postconf("mynetworks", expand=True)

    # An admin adds an entry after the formula's.
    _admin_writes_main_cf(gateway, _main_cf(gateway).read_text().replace("/128\n", "/128 198.51.100.7\n"))
    absent = _absent(states)
    assert absent.result is True
    assert absent.changes["mynetworks"]["new"] == _elements(gateway)
    assert _main_cf(gateway).read_text() == before.replace("network_table\n", "network_table 198.51.100.7\n")
    assert gateway.postconf("mynetworks") == f"{shown} 198.51.100.7"

    # Not the formula's: only force takes an entry away.
    assert _absent(states, addresses=["198.51.100.7", "192.0.2.10/32"]).changes == {}
    forced = _absent(states, addresses=["198.51.100.7"], force=True, test=True)
    assert forced.changes["mynetworks"]["new"] == [*absent.changes["mynetworks"]["new"][:-1]]


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"addresses": ["192.0.2.10", "not-an-ip"]}, "address: got 'not-an-ip'"),
        ({"addresses": ["10.0.0.0/8"]}, "address: got '10.0.0.0/8'; expected a single host address"),
        ({"addresses": ["0.0.0.0/0"], "allow_networks": True}, "address: got '0.0.0.0/0'"),
        ({"addresses": "192.0.2.10", "parameter": "my networks"}, "parameter: got 'my networks'"),
    ],
)
def test_invalid_input_changes_nothing(states, gateway, kwargs, named):
    files = gateway.files()

    ret = states.ciphermail_mta.mynetworks_present(name="main gateway", **kwargs)

    assert (ret.result, ret.changes) == (False, {})
    assert named in ret.comment
    assert gateway.files() == files
    assert not (gateway.state_dir / "ledger.json").exists()


def test_an_unset_parameter_is_written_out_and_unset_again(states, gateway):
    original = _main_cf(gateway).read_text().replace("mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128\n", "")
    _admin_writes_main_cf(gateway, original)
    computed = _elements(gateway)

    predicted = _present(states, ["10.20.0.0/16"], allow_networks=True, test=True)
    expected = {
        "mynetworks": {"old": computed, "new": [*computed, "10.20.0.0/16"]},
        "mynetworks_in_main_cf": {"old": False, "new": True},
    }
    assert (predicted.result, predicted.changes) == (None, expected)
    applied = _present(states, ["10.20.0.0/16"], allow_networks=True)
    assert (applied.result, applied.changes) == (True, expected)
    assert _main_cf(gateway).read_text() == original + f"mynetworks = {' '.join(computed)} 10.20.0.0/16\n"

    taken_back = {
        "mynetworks": {"old": [*computed, "10.20.0.0/16"], "new": computed},
        "mynetworks_in_main_cf": {"old": True, "new": False},
    }
    predicted = _absent(states, test=True)
    assert (predicted.result, predicted.changes) == (None, taken_back)
    absent = _absent(states)
    assert (absent.result, absent.changes) == (True, taken_back)
    assert _main_cf(gateway).read_text() == original


def test_module_functions(modules, gateway):
    mta = modules.ciphermail_mta
    assert mta.mynetworks_get() == BASE_MYNETWORKS
    result = mta.mynetworks_add(["192.0.2.10", "[::1]"], test=True)
    assert (result["added"], result["new"]) == (["192.0.2.10"], [*BASE_MYNETWORKS, "192.0.2.10"])
    assert mta.mynetworks_get() == BASE_MYNETWORKS
    assert mta.main_cf_get("mynetworks") == " ".join(BASE_MYNETWORKS)
    assert mta.main_cf_get("transport_maps") is None
