# micropython
# Protection scenarios on the simulated board (real Controller, battery cable,
# plant): each behaviour end to end, with the safety invariants checked on
# every tick (tests/protect_sim.py), and random scenarios with fixed seeds.
from bms import reasons as R
from protect_sim import random_scenario, run, run_named


def _clean(out):
    assert out.violations == [], out.violations
    assert out.truth_violations == [], out.truth_violations


def test_uv_sequence():
    out, ctl, _ = run_named("protect-uv-sequence")
    _clean(out)
    pre = out.first("prealarm_out", True)
    cut = out.first("state", "load_disconnect")
    assert pre is not None and cut is not None
    assert cut - pre >= 30000
    assert out.first("dsg_fet", False, pre) == cut and out.first("prealarm_out", False, pre) == cut
    assert out.uv_cuts == 1 and out.emergency_cuts == 0
    back = out.first("atd", True, cut)
    assert back is not None and back > 63000  # charger from 61 s, held 2 s, cells lifted
    assert ctl.history.lvd == 1


def test_emergency_floor():
    out, _, _ = run_named("protect-emergency")
    _clean(out)
    cut = out.first("state", "load_disconnect")
    assert cut is not None and cut < 2000
    assert out.emergency_cuts == 1
    assert any(w == "block_dsg" and v & R.CELL_UV_EMERGENCY for _, w, v in out.changes)


def test_low_power_off_and_wake():
    out, ctl, board = run_named("protect-low-power")
    _clean(out)
    cut = out.first("state", "load_disconnect")
    off = out.first("state", "low_power_off")
    assert off - cut == 600000
    assert out.first("chg_fet", False, off) == off
    woke = out.first("state", "load_disconnect", off)
    assert 702000 <= woke <= 703000  # charger at 700 s, held 2 s
    assert board.chg_gate.on and not board.dsg_gate.on and not board.load_out.on
    assert ctl.protection.uv.charger


def test_overcurrent_retry_lockout_and_remote_toggle():
    out, _, _ = run_named("protect-overcurrent")
    _clean(out)
    sysb = [(t, v) for t, w, v in out.changes if w == "block_sys"]
    trips = [t for t, v in sysb if v]
    assert [v for _, v in sysb] == [0, R.OVERCURRENT, 0, R.OVERCURRENT, 0, R.OC_LOCKOUT, 0]
    assert 6000 <= trips[0] <= 6100  # load at 5 s, above 200 A for 1 s
    assert [t for t, v in sysb if v == 0][1] - trips[0] == 10000  # retry
    cleared = sysb[-1][0]
    assert 41000 <= cleared <= 41200  # remote bridged again at 41 s (+ debounce)
    assert out.values("dsg_fet")[-1]


def test_hot_battery():
    out, _, _ = run_named("protect-hot-battery")
    _clean(out)
    chg_off = out.first("atc", False, 10000)
    dsg_off = out.first("atd", False, 10000)
    assert 10000 <= chg_off <= 10500 and 30000 <= dsg_off <= 30500  # next scan after the change
    assert out.first("atc", True, chg_off) >= 50000 and out.first("atd", True, dsg_off) >= 50000
    reasons = set()
    for _, w, v in out.changes:
        if w in ("block_chg", "block_dsg"):
            reasons.update(R.names(v))
    assert "temp_high_charge" in reasons and "temp_high_discharge" in reasons


def test_remote_system():
    out, _, board = run_named("protect-remote-system")
    _clean(out)
    off = out.first("remote_on", False, 5000)
    assert 10000 <= off <= 10200
    for what in ("atc", "atd", "chg_fet", "dsg_fet", "alt_allowed"):
        assert out.first(what, False, 5000) == off, what
    back = out.first("remote_on", True, off)
    assert 25000 <= back <= 25200 and out.first("atd", True, off) == back
    assert board.load_out.on and board.charge_out.on


def test_remote_full_off_silences_the_prealarm():
    out, _, board = run_named("protect-remote-full-off")
    _clean(out)
    assert out.first("state", "prealarm") is not None
    off = out.first("remote_on", False, 1000)
    assert out.first("prealarm_out", False, 1000) == off
    on = out.first("remote_on", True, off)
    assert out.first("prealarm_out", True, off) == on
    assert board.prealarm_out.on or out.first("state", "load_disconnect") is not None


def test_battery_alarm():
    out, _, _ = run_named("protect-battery-alarm")
    _clean(out)
    off = out.first("atd", False, 5000)
    assert 10000 <= off <= 10500 and out.first("atc", False, 5000) == off
    assert any(w == "block_chg" and v == R.BATTERY_ALARM for _, w, v in out.changes)
    assert 20000 <= out.first("atd", True, off) <= 20500


def test_a_cold_battery_stops_charging_and_keeps_the_loads():
    # issue 16 item 2: until then any battery alarm cut both paths, so a cold
    # battery dropped the loads. Report v2 says which alarm it is.
    out, ctl, _ = run_named("protect-cold-battery")
    _clean(out)
    off = out.first("atc", False, 5000)
    assert 10000 <= off <= 10500
    assert any(w == "block_chg" and v == R.BATTERY_LOW_TEMP for _, w, v in out.changes)
    back = out.first("atc", True, off)
    assert 20000 <= back <= 20500
    cut = out.first("atd", False, 5000)
    assert 25000 <= cut <= 25500 and out.first("atc", False, back) is None  # charging stays on
    assert any(w == "block_dsg" and v == R.BATTERY_LOW_CELL for _, w, v in out.changes)
    assert 32000 <= out.first("atd", True, cut) <= 32500
    assert ctl.pack.alarm_kinds == 0


def test_cable_unplug_opens_both_paths_within_the_timeout():
    out, ctl, _ = run_named("cable-unplug", 100000)
    _clean(out)
    timeout = ctl.settings.link_timeout_ms
    off = out.first("chg_fet", False, 59000)
    assert out.first("dsg_fet", False, 59000) == off
    assert 60000 < off <= 60000 + timeout + 20
    assert out.first("atd", True, off) > 90000  # back after the cable is plugged in
    assert ctl.history.data_losses == 1


# -- random scenarios on the whole simulated system

def test_random_scenarios_keep_the_invariants():
    for seed in (12, 1000, 1001):  # between them: UV cut, data loss, heat, overcurrent
        out, _, _ = run(random_scenario(seed))
        assert out.violations == [], (seed, out.violations)
        assert out.truth_violations == [], (seed, out.truth_violations)
