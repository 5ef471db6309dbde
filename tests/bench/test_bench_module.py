"""The on-board bench module over mpremote: status, settings, history, test mode."""
import pytest

from tools.device import DeviceError


def info(dev):
    return dev.value("import bench; print(repr(bench.info()))")


def test_status_prints_every_field(dev):
    out = dev.run("import bench; bench.status()")
    for key in ("version", "board", "state", "alt_state", "bat_mv", "ticks", "tick_us_max"):
        assert key in out


def test_settings_round_trip(dev):
    old = dev.value("import bench; print(bench.get('battery_count'))")
    new = 3 if old != 3 else 2
    assert dev.value("print(bench.set('battery_count', %d))" % new) == []
    assert dev.value("print(bench.get('battery_count'))") == new
    assert dev.value("print(bench.get()['battery_count'])") == new
    dev.run("bench.set('battery_count', %d)" % old)


def test_bad_setting_is_refused_and_changes_nothing(dev):
    before = dev.value("import bench; print(repr(bench.get()))")
    errs = dev.value("print(repr(bench.set('cell_ov_mv', 9999)))")
    assert errs and errs[0][0] == "cell_ov_mv"
    assert dev.value("print(repr(bench.get()))") == before


def test_history_prints_counters(dev):
    out = dev.run("import bench; bench.history()")
    assert out.strip(), "no counters printed"


def test_force_needs_test_mode(dev):
    with pytest.raises(DeviceError, match="test_mode"):
        dev.run("import bench; bench.force('load_out', True)")


def test_test_mode_forces_outputs_and_leaving_makes_them_safe(dev):
    dev.run("import bench; bench.test_mode(True); bench.force('load_out', True)")
    assert dev.value("import bench; print(bench.app().hw.load_out.on)") is True
    dev.run("bench.test_mode(False)")
    assert dev.value("print(bench.app().hw.load_out.on)") is False
    assert info(dev)["test_mode"] is False


def test_test_mode_is_refused_while_a_gate_carries_current(dev, target):
    if target["board"] != "sim":
        pytest.skip("needs current through a gate: the simulated plant provides it")
    # a System+ load draws through the closed discharge gate
    dev.run("import bench\nhw = bench.app().hw\nhw.chg_gate.set(True); hw.dsg_gate.set(True); hw.load_out.set(True)\n"
            "hw.plant.load_a = 20.0\nhw.step(100)")
    try:
        with pytest.raises(DeviceError, match="carries current"):
            dev.run("bench.test_mode(True)")
        assert info(dev)["test_mode"] is False
    finally:
        dev.run("hw.plant.load_a = 0.0\nbench.app().controller.safe_outputs()")
