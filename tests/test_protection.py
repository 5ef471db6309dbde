# micropython
# Protection: every threshold at -1/0/+1 (mV or 0.1 degC), every delay just
# before and after, every hysteresis path, boot, data loss, overcurrent,
# low-power off and wake, and no allocation in step().
from bms import protection as P
from bms import undervoltage as UV
from bms import overcurrent as OC
from bms import fet_thermal as FT
from bms import reasons as R
from mpytest import no_alloc
from protect_rig import Rig, rig
from bms.measure import CH_ALL


def _state(r):
    return UV.STATE_NAMES[r.p.uv.state]


def _all_off(p):
    return not (p.atc or p.atd or p.chg_fet or p.dsg_fet or p.alt_allowed
                or p.load_out or p.charge_out or p.prealarm_out) and p.alt_limit_ma == 0


# -- boot

def test_boot_everything_safe_until_full_scan():
    r = Rig()
    r.pack.full_scan = False
    r.pack.data_ok = False
    p = r.run(5000)
    assert _state(r) == "boot" and _all_off(p)
    assert p.block_chg == R.BOOT and p.block_dsg == R.BOOT and p.block_alt == R.BOOT
    r.pack.full_scan = True
    r.pack.data_ok = True
    p = r.tick()
    assert _state(r) == "normal" and p.atc and p.atd and p.chg_fet and p.dsg_fet
    assert p.load_out and p.charge_out and p.alt_allowed and not p.prealarm_out
    assert p.alt_limit_ma == 90000  # 100 A fuse: 90 %


def test_boot_with_low_cells_goes_through_prealarm():
    r = Rig()
    r.cells(2700)
    p = r.tick()
    assert _state(r) == "normal"
    p = r.tick()
    assert _state(r) == "prealarm" and p.atd and p.prealarm_out


# -- under-voltage sequence

def test_prealarm_threshold():
    for mv, want in ((3101, "normal"), (3100, "prealarm"), (3099, "prealarm")):
        r = rig()
        r.cells(mv)
        r.tick()
        assert _state(r) == want, mv
        assert bool(r.p.warn & R.PREALARM) == (want == "prealarm")
        assert r.p.prealarm_out == (want == "prealarm")


def test_prealarm_hysteresis():
    r = rig()
    r.cells(3100)
    r.tick()
    r.cells(3150)
    r.run(60000)
    assert _state(r) == "prealarm" and r.p.atd
    r.cells(3151)
    p = r.tick()
    assert _state(r) == "normal" and not p.prealarm_out and p.warn == 0


def test_uv_threshold_waits_for_the_prealarm_delay():
    for mv, cut in ((2801, False), (2800, True), (2799, True)):
        r = rig()
        r.cells(mv)
        r.tick()
        t0 = r.now
        assert _state(r) == "prealarm"
        r.run(30000 - 10)  # last tick at t0 + 29.99 s
        assert _state(r) == "prealarm" and r.p.atd, mv
        r.tick()  # t0 + 30.00 s
        assert r.now - t0 == 30000
        assert (_state(r) == "load_disconnect") == cut, mv
        p = r.p
        assert p.atd != cut and p.load_out != cut and p.dsg_fet != cut
        assert p.atc and p.chg_fet and p.charge_out and p.alt_allowed  # charging still allowed
        if cut:
            assert p.block_dsg == R.CELL_UV and not p.prealarm_out and p.warn == 0


def test_uv_delay_follows_the_setting():
    r = rig({"uv_disconnect_delay_s": 45})
    r.cells(3000)
    r.tick()
    r.run(40000)
    r.cells(2700)
    r.run(5000 - 10)
    assert _state(r) == "prealarm"
    r.tick()
    assert _state(r) == "load_disconnect"


def test_emergency_floor_cuts_at_once():
    for mv, cut in ((2501, False), (2500, True), (2499, True)):
        r = rig()
        r.cells(mv)
        p = r.tick()
        assert (_state(r) == "load_disconnect") == cut, mv
        if cut:
            assert p.block_dsg == R.CELL_UV | R.CELL_UV_EMERGENCY and not p.atd
            assert not p.prealarm_out
        else:
            assert p.atd and p.prealarm_out


def test_emergency_during_prealarm():
    r = rig()
    r.cells(3000)
    r.run(5000)
    r.cells(2500)
    p = r.tick()
    assert _state(r) == "load_disconnect" and p.block_dsg & R.CELL_UV_EMERGENCY


def _cut(changes=None):
    r = rig(changes)
    r.cells(2400)
    r.tick()
    assert _state(r) == "load_disconnect"
    return r


def test_recovery_level():
    for mv, back in ((3200, False), (3201, True)):
        r = _cut()
        r.cells(mv)
        p = r.tick()
        assert (_state(r) == "normal") == back, mv
        assert p.atd == back and p.load_out == back


def test_charger_voltage_recovers_after_2s():
    for dmv, seen in ((499, False), (500, True)):
        r = _cut()
        r.cells(2900)
        r.meas.sys_mv = r.meas.bat_mv + dmv
        r.tick()
        r.run(2000 - 10)
        assert _state(r) == "load_disconnect"
        r.tick()
        assert (_state(r) == "normal") == seen, dmv


def test_charger_needs_cells_above_load_disconnect():
    for mv, back in ((2800, False), (2801, True)):
        r = _cut()
        r.cells(mv)
        r.meas.sys_ma = 20000
        r.run(5000)
        assert (_state(r) != "load_disconnect") == back, mv
        assert r.p.atd == back


def test_charger_current_recovers():
    for port in ("sys_ma", "alt_ma"):
        for ma, seen in ((999, False), (1000, True)):
            r = _cut()
            r.cells(2900)
            setattr(r.meas, port, ma)
            r.run(2010)
            assert (_state(r) == "normal") == seen, (port, ma)


def test_charger_must_be_continuous():
    r = _cut()
    r.cells(2900)
    r.meas.sys_ma = 5000
    r.run(1500)
    r.meas.sys_ma = 0
    r.tick()
    r.meas.sys_ma = 5000
    r.run(1500)
    assert _state(r) == "load_disconnect"


# -- low-power off and wake

def _low_power():
    r = _cut({"lowpower_delay_min": 10})
    t0 = r.now
    r.run(599000, 1000)
    r.run(1000 - 10)
    assert _state(r) == "load_disconnect" and r.p.atc
    r.tick()
    assert r.now - t0 == 600000 and _state(r) == "low_power_off"
    return r


def test_low_power_after_delay_without_charge():
    r = _low_power()
    p = r.p
    assert _all_off(p)
    assert p.block_chg == R.LOW_POWER_OFF
    assert p.block_dsg == R.LOW_POWER_OFF | R.CELL_UV | R.CELL_UV_EMERGENCY
    r.run(3600000, 1000)
    assert _state(r) == "low_power_off"


def test_default_low_power_is_2h():
    r = _cut()
    r.run(7199000, 1000)
    r.run(1000 - 10)
    assert _state(r) == "load_disconnect"
    r.tick()
    assert _state(r) == "low_power_off"


def test_wake_command():
    r = _low_power()
    r.p.wake()
    p = r.tick()
    assert _state(r) == "load_disconnect" and p.atc and not p.atd
    # the low-power timer starts again
    r.run(599000, 1000)
    r.run(1000 - 10)
    assert _state(r) == "load_disconnect"
    r.tick()
    assert _state(r) == "low_power_off"


def test_wake_on_remote_toggle():
    r = _low_power()
    r.remote.on = False
    r.run(1000)
    assert _state(r) == "low_power_off"
    r.remote.on = True
    r.tick()
    assert _state(r) == "load_disconnect"


def test_wake_on_charge_voltage():
    for dmv, wakes in ((499, False), (500, True)):
        r = _low_power()
        r.meas.sys_mv = r.meas.bat_mv + dmv
        r.run(2000)
        assert _state(r) == "low_power_off"
        r.tick()
        assert (_state(r) != "low_power_off") == wakes, dmv
    # the charger keeps going: loads come back once it lifts the cells
    r.tick()
    assert _state(r) == "load_disconnect"
    r.cells(2801)
    r.tick()
    assert _state(r) == "normal" and r.p.atd


def test_wake_on_recovered_cells():
    r = _low_power()
    r.cells(3201)
    r.tick()
    r.tick()
    assert _state(r) == "normal"


# -- over-voltage

def test_ov_threshold_and_release():
    for mv, stop in ((3749, False), (3750, True), (3751, True)):
        r = rig()
        r.cells(3400, mv)
        p = r.tick()
        assert p.atc != stop and p.charge_out != stop and p.chg_fet != stop, mv
        assert p.alt_allowed != stop
        assert p.atd and p.dsg_fet and p.load_out
        if stop:
            assert p.block_chg == R.CELL_OV and p.block_alt == R.CELL_OV
    r.cells(3400, 3600)
    assert not r.tick().atc
    r.cells(3400, 3599)
    assert r.tick().atc


def test_ov_release_follows_the_setting():
    r = rig({"cell_ov_mv": 3650, "cell_ov_release_mv": 3500})
    r.cells(3400, 3650)
    assert not r.tick().atc
    r.cells(3400, 3500)
    assert not r.tick().atc
    r.cells(3400, 3499)
    assert r.tick().atc


def test_alt_cap_tapers_near_the_ov_stop():
    r = rig()
    for mv, cap, warn in ((3650, 90000, False), (3651, 89100, True), (3700, 45000, True),
                          (3749, 9000, True)):
        r.cells(3400, mv)
        p = r.tick()
        assert p.alt_limit_ma == cap, (mv, p.alt_limit_ma)
        assert bool(p.warn & R.CELL_HIGH) == warn


def test_alt_cap_follows_the_fuse():
    for fuse, cap in ((20, 18000), (100, 90000), (125, 100000)):
        r = rig({"alt_fuse_a": fuse})
        assert r.p.alt_limit_ma == cap


# -- temperatures: trip at once, release with hysteresis

def _temp_trip(changes, lo, hi, path_bit, after):
    r = rig(changes)
    p = r.p
    before = p.block_chg | p.block_dsg
    r.temps(lo, hi)
    p = r.tick()
    return r, before, (p.block_chg | p.block_dsg) & path_bit


def test_temp_low_charge():
    for t, trip in ((50, False), (49, True), (48, True)):
        r, before, got = _temp_trip(None, t, 200, R.TEMP_LOW_CHARGE, True)
        assert before == 0, t
        assert bool(got) == trip, t
        if trip:
            p = r.p
            assert not p.atc and p.atd and not p.alt_allowed and not p.charge_out and p.load_out
    r.temps(79, 200)
    assert not r.tick().atc
    r.temps(80, 200)
    assert r.tick().atc


def test_temp_high_charge():
    for t, trip in ((500, False), (501, True)):
        r, before, got = _temp_trip(None, 200, t, R.TEMP_HIGH_CHARGE, True)
        assert before == 0 and bool(got) == trip, t
        assert r.p.atd
    r.temps(200, 471)
    assert not r.tick().atc
    r.temps(200, 470)
    assert r.tick().atc


def test_temp_high_discharge():
    for t, trip in ((600, False), (601, True)):
        r, before, got = _temp_trip(None, 200, t, R.TEMP_HIGH_DISCHARGE, True)
        assert bool(got) == trip, t
        assert r.p.atd != trip and r.p.load_out != trip
    assert r.p.block_chg == R.TEMP_HIGH_CHARGE
    r.temps(200, 571)
    assert not r.tick().atd
    r.temps(200, 570)
    p = r.tick()
    assert p.atd and not p.atc  # charge limit still above its release
    r.temps(200, 470)
    assert r.tick().atc


def test_temp_low_discharge():
    # issue 16 item 3: a low-temperature discharge limit, default -20.0 degC
    for t, trip in ((-200, False), (-201, True)):
        r, before, got = _temp_trip(None, t, 200, R.TEMP_LOW_DISCHARGE, True)
        assert before == 0 and bool(got) == trip, t
        assert r.p.atd != trip and r.p.load_out != trip and not r.p.atc  # too cold to charge anyway
        if trip:
            assert r.p.block_dsg == R.TEMP_LOW_DISCHARGE
    r.temps(-171, 200)
    assert not r.tick().atd
    r.temps(-170, 200)
    assert r.tick().atd
    r = rig({"temp_discharge_low_dc": -50})
    r.temps(-51, 200)
    assert not r.tick().atd and R.names(r.p.block_dsg) == ["temp_low_discharge"]


def test_temp_hysteresis_setting():
    r = rig({"temp_hyst_dc": 100, "temp_charge_low_dc": 0})
    r.temps(-1, 200)
    r.run(2000)
    assert not r.p.atc
    r.temps(99, 200)
    assert not r.tick().atc
    r.temps(100, 200)
    assert r.tick().atc


def test_temp_jump_across_the_window_never_opens_charging():
    r = rig()
    r.temps(550)
    assert not r.tick().atc
    r.temps(-50)
    p = r.tick()
    assert not p.atc and p.block_chg == R.TEMP_LOW_CHARGE


# -- BMS MOSFET temperature

def test_fet_derate_and_trip():
    # protection warns and trips; the derating itself is the alternator
    # port's (docs/alternator.md), so the cap stays at the port rating
    r = rig()
    r.meas.fet_ddegc = 849
    p = r.tick()
    assert p.warn == 0 and p.alt_limit_ma == 90000
    r.meas.fet_ddegc = 850
    p = r.tick()
    assert p.warn == R.FET_DERATE and p.alt_limit_ma == 90000
    r.meas.fet_ddegc = 950
    assert r.tick().alt_limit_ma == 90000
    r.meas.fet_ddegc = 1049
    r.run(5000)
    assert r.p.alt_allowed and r.p.alt_limit_ma == 90000 and r.p.warn == R.FET_DERATE
    r.meas.fet_ddegc = 1050
    r.run(FT.OVERTEMP_MS)
    assert r.p.alt_allowed and r.p.alt_limit_ma == 90000
    p = r.tick()
    assert not p.alt_allowed and p.block_alt == R.BMS_OVERTEMP and p.alt_limit_ma == 0
    assert p.atc and p.atd and p.charge_out and p.load_out  # the battery is fine
    # changed on purpose (issue 15 defect 2): the System+ MOSFETs share the
    # heatsink, so overtemp opens System+ both ways too (it kept them closed)
    assert p.block_sys == R.BMS_OVERTEMP and not p.chg_fet and not p.dsg_fet
    r.meas.fet_ddegc = 850
    assert not r.tick().alt_allowed
    r.meas.fet_ddegc = 849
    p = r.tick()
    assert p.alt_allowed and p.alt_limit_ma == 90000 and p.warn == R.FET_DERATE
    r.meas.fet_ddegc = 830  # derating ends 2 degC below its start
    assert r.tick().warn == R.FET_DERATE
    r.meas.fet_ddegc = 829
    assert r.tick().warn == 0


def test_fet_trip_works_without_battery_data():
    r = rig()
    r.pack.data_ok = False
    r.meas.fet_ddegc = 1100
    r.run(1000)
    assert r.p.block_alt & R.BMS_OVERTEMP


def test_implausible_fet_temperature_blocks_the_alternator():
    # an open NTC reads -100 degC, a shorted one 300 degC (drivers/analog.py):
    # the MOSFET temperature is unknown, so the alternator path is blocked
    # as if hot, and opens again once the reading is plausible and cool
    for bad in (-1000, -401, 1501, 3000):
        r = rig()
        r.meas.fet_ddegc = bad
        r.run(FT.OVERTEMP_MS)
        assert r.p.alt_allowed, bad
        p = r.tick()
        assert not p.alt_allowed and p.block_alt == R.BMS_OVERTEMP, bad
        assert p.atc and p.atd and p.load_out and p.charge_out  # the battery is fine
        # System+ opens too (issue 15: it stayed closed on an unknown temperature)
        assert p.block_sys == R.BMS_OVERTEMP and not (p.chg_fet or p.dsg_fet), bad
        r.meas.fet_ddegc = 400
        assert r.tick().alt_allowed, bad
    r = rig()
    r.meas.fet_ddegc = -400  # the coldest plausible reading is a temperature
    r.run(5000)
    assert r.p.alt_allowed


# -- battery data lost

def test_data_lost_opens_both_in_the_same_tick_and_recovers():
    r = rig()
    r.pack.data_ok = False
    p = r.tick()
    assert _all_off(p) and p.block_chg == R.DATA_LOST and p.block_dsg == R.DATA_LOST
    r.run(10000)
    assert _all_off(r.p)
    r.pack.data_ok = True
    r.run(P.DATA_RECOVER_MS - 10)  # good data, but not yet for long enough
    assert _all_off(r.p) and r.p.block_chg == R.DATA_LOST
    p = r.tick()
    assert p.atc and p.atd and p.dsg_fet and p.chg_fet


def test_data_back_for_one_scan_does_not_pulse_the_gates():
    # a flaky cable, or a replayed report that matches the scan number once
    # every 256 scans (docs/battery-link.md): good for a scan, lost again
    r = rig()
    r.pack.data_ok = False
    r.run(5000)
    for _ in range(20):
        r.pack.data_ok = True
        for _ in range(10):  # one 100 ms scan
            assert _all_off(r.tick())
        r.pack.data_ok = False
        for _ in range(100):
            assert _all_off(r.tick())


def test_a_cut_is_not_delayed_by_the_data_recovery():
    # while the paths wait for data to stay good, fresh data still decides:
    # cells that came back low cut the loads at once
    r = rig()
    r.cells(2700)
    r.tick()
    r.pack.data_ok = False
    r.run(40000)
    r.pack.data_ok = True
    r.tick()
    assert _state(r) == "load_disconnect"
    r.run(P.DATA_RECOVER_MS)
    assert not r.p.dsg_fet and r.p.block_dsg & R.CELL_UV


def test_data_lost_freezes_the_uv_sequence():
    r = rig()
    r.cells(2700)
    r.tick()
    r.pack.data_ok = False
    r.cells(3300)  # stale numbers must not clear anything
    r.run(40000)
    assert _state(r) == "prealarm"
    r.cells(2700)
    r.pack.data_ok = True
    r.tick()
    assert _state(r) == "load_disconnect"


def test_battery_alarm_blocks_both():
    # a v1 report's alarm does not say its kind (issue 16 item 2: the pack
    # reports kinds now; this one is KIND_UNKNOWN)
    from bms.pack import KIND_UNKNOWN
    r = rig()
    r.pack.battery_alarm = True
    r.pack.alarm_kinds = KIND_UNKNOWN
    p = r.tick()
    assert not p.atc and not p.atd and p.block_chg == R.BATTERY_ALARM
    r.pack.battery_alarm = False
    r.pack.alarm_kinds = 0
    assert r.tick().atc


def test_battery_alarms_block_the_right_path():
    # issue 16 item 2 (product-spec 2.1): low cell stops discharge only,
    # high cell and low temperature charge only, high temperature both;
    # until then any alarm cut both, so a cold battery dropped the loads
    from bms.linkframe import A_LOW_CELL, A_HIGH_CELL, A_LOW_TEMP, A_HIGH_TEMP
    for kind, reason, atc, atd in ((A_LOW_CELL, R.BATTERY_LOW_CELL, True, False),
                                   (A_HIGH_CELL, R.BATTERY_HIGH_CELL, False, True),
                                   (A_LOW_TEMP, R.BATTERY_LOW_TEMP, False, True),
                                   (A_HIGH_TEMP, R.BATTERY_HIGH_TEMP, False, False)):
        r = rig()
        r.pack.battery_alarm = True
        r.pack.alarm_kinds = kind
        p = r.tick()
        assert (p.atc, p.atd, p.charge_out, p.load_out) == (atc, atd, atc, atd), kind
        assert p.alt_allowed == atc and p.chg_fet == atc and p.dsg_fet == atd, kind
        assert (p.block_chg | p.block_dsg) == reason, kind
        assert (p.block_alt == reason) == (not atc), kind
        r.pack.alarm_kinds = 0
        p = r.tick()
        assert p.atc and p.atd, kind
    r = rig()
    r.pack.alarm_kinds = A_LOW_CELL | A_LOW_TEMP  # two batteries, two kinds
    p = r.tick()
    assert p.block_chg == R.BATTERY_LOW_TEMP and p.block_dsg == R.BATTERY_LOW_CELL


# -- System+ overcurrent

def test_overcurrent_continuous_delay():
    for ma, trips in ((-200000, False), (-200001, True), (200001, True)):
        r = rig()
        r.meas.sys_ma = ma
        r.tick()
        r.run(OC.OC_CONT_MS - 10)
        assert r.p.dsg_fet, ma
        p = r.tick()
        assert p.dsg_fet != trips and p.chg_fet != trips, ma
        if trips:
            assert p.block_sys == R.OVERCURRENT and p.oc.trips == 1
            assert p.atc and p.atd and p.load_out and p.charge_out  # outputs are battery verdicts


def test_overcurrent_peak_at_once():
    r = rig()
    r.meas.sys_ma = -400001
    p = r.tick()
    assert not p.dsg_fet and p.block_sys == R.OVERCURRENT
    r = rig()
    r.meas.sys_ma = -400000  # not a peak: the continuous delay applies
    assert r.tick().dsg_fet


def _oc_trip(r):
    r.meas.sys_ma = -500000
    r.tick()
    r.meas.sys_ma = 0


def test_overcurrent_retry_and_lockout():
    r = rig()
    for n in (1, 2):
        _oc_trip(r)
        assert r.p.block_sys == R.OVERCURRENT and r.p.oc.trips == n
        r.run(OC.OC_RETRY_MS - 10)
        assert not r.p.dsg_fet
        p = r.tick()
        assert p.dsg_fet and p.block_sys == 0
    _oc_trip(r)
    assert r.p.block_sys == R.OC_LOCKOUT
    r.run(600000, 1000)
    assert not r.p.dsg_fet and r.p.block_sys == R.OC_LOCKOUT
    r.p.clear_alarms()
    p = r.tick()
    assert p.dsg_fet and p.block_sys == 0 and p.oc.trips == 0


def _latch_trip(r):
    """The hardware latch is set, as the board reads it, until re-armed."""
    r.meas.sys_oc = True
    p = r.tick()
    return p


def test_the_hardware_latch_is_a_trip_of_the_same_series():
    # Issue 15 defect 3: the latch (first tier, microseconds) is read every
    # tick, logged as short_circuit, and counted in the retry/lockout series
    # of the software limits (second tier); re-armed only when the policy
    # lets the port close again.
    r = rig()
    r.tick()
    assert r.p.oc.rearm  # boot: the board re-arms a latch set at power-up
    r.p.oc.rearmed()
    p = _latch_trip(r)
    assert p.block_sys == R.SHORT_CIRCUIT and p.oc.trips == 1
    assert not p.dsg_fet and not p.chg_fet and p.atd and p.load_out  # a port fault
    assert not p.oc.rearm
    r.run(OC.OC_RETRY_MS - 10)
    assert not r.p.oc.rearm and r.p.block_sys == R.SHORT_CIRCUIT  # latch still set: no new trip
    p = r.tick()
    assert p.oc.rearm and p.block_sys == 0 and p.dsg_fet and p.oc.trips == 1
    p = r.tick()  # the latch is not re-armed yet: its old state is no new trip
    assert p.block_sys == 0 and p.oc.trips == 1
    p.oc.rearmed()
    p = _latch_trip(r)  # set again after the re-arm: the short is still there
    assert p.block_sys == R.SHORT_CIRCUIT and p.oc.trips == 2
    r.run(OC.OC_RETRY_MS)
    r.p.oc.rearmed()
    r.meas.sys_oc = False
    _oc_trip(r)  # a software trip is the third of the same series
    assert r.p.block_sys == R.OC_LOCKOUT and r.p.oc.trips == 3 and not r.p.oc.rearm
    r.meas.sys_oc = True
    r.run(600000, 1000)
    assert r.p.block_sys == R.OC_LOCKOUT and not r.p.oc.rearm and not r.p.dsg_fet
    r.p.clear_alarms()
    assert r.p.oc.rearm  # cleared: the latch may be re-armed with the port
    p = r.tick()
    assert p.block_sys == 0 and p.oc.trips == 0


def test_every_system_plus_reason_fits_the_status_u16():
    # block_sys is a u16 in the BLE status (bms/protocol.py): a System+
    # reason above bit 15 would never reach a phone
    assert (R.OVERCURRENT | R.OC_LOCKOUT | R.SHORT_CIRCUIT | R.BMS_OVERTEMP) < 1 << 16


def test_overcurrent_lockout_cleared_by_remote_toggle():
    r = rig()
    for _ in range(3):
        _oc_trip(r)
        r.run(OC.OC_RETRY_MS)
    assert r.p.block_sys == R.OC_LOCKOUT
    r.remote.on = False
    r.run(500)
    assert r.p.block_sys == R.OC_LOCKOUT
    r.remote.on = True
    assert r.tick().dsg_fet


def test_overcurrent_trips_forgotten_after_quiet_minute():
    r = rig()
    _oc_trip(r)
    r.run(OC.OC_FORGET_MS - 10)
    assert r.p.oc.trips == 1
    r.tick()
    assert r.p.oc.trips == 0
    _oc_trip(r)
    r.run(OC.OC_RETRY_MS)
    _oc_trip(r)
    assert r.p.block_sys == R.OVERCURRENT  # two in a row, not three


# -- pre-alarm output modes

def test_prealarm_intermittent():
    r = rig({"prealarm_mode": 1})
    r.cells(3000)
    levels = []
    for _ in range(400):
        levels.append(r.tick().prealarm_out)
    # starts on, 1 s on / 1 s off
    assert levels[:100] == [True] * 100 and levels[100:200] == [False] * 100
    assert levels[200:300] == [True] * 100 and levels[300:] == [False] * 100
    assert all(r.p.warn & R.PREALARM for _ in (0,))


# -- remote function (remote modes x functions in test_remote.py)

def test_remote_off_per_function():
    r = rig({"remote_function": 0}, remote_on=False)
    p = r.p
    assert p.atc and p.atd and p.chg_fet and p.dsg_fet and p.load_out and p.charge_out
    assert not p.alt_allowed and p.block_alt == R.REMOTE_OFF and p.alt_limit_ma == 0
    r = rig({"remote_function": 1}, remote_on=False)
    p = r.p
    assert _all_off(p) and p.block_chg == R.REMOTE_OFF and p.block_dsg == R.REMOTE_OFF
    r = rig({"remote_function": 2}, remote_on=False)
    assert _all_off(r.p) and r.p.block_alt == R.REMOTE_OFF


def test_remote_system_keeps_protection_and_prealarm():
    r = rig({"remote_function": 1}, remote_on=False)
    r.cells(3000)
    p = r.tick()
    assert _state(r) == "prealarm" and p.prealarm_out and not p.load_out
    r.cells(2700)
    r.run(30000)
    assert _state(r) == "load_disconnect"
    r.cells(3000)
    r.remote.on = True
    p = r.tick()
    assert p.atc and not p.atd  # protection verdict survives the remote


def test_remote_full_off_silences_prealarm():
    r = rig({"remote_function": 2}, remote_on=False)
    r.cells(3000)
    p = r.tick()
    assert _state(r) == "prealarm" and not p.prealarm_out and p.warn == R.PREALARM


def test_settings_change_takes_effect_next_tick():
    r = rig()
    r.cells(3400, 3700)
    assert r.tick().atc
    assert r.settings.update({"cell_ov_mv": 3700, "cell_ov_release_mv": 3600}) == []
    assert not r.tick().atc


# -- no allocation

def test_step_allocates_nothing():
    r = rig({"prealarm_mode": 1, "lowpower_delay_min": 10})
    p = r.p
    step = p.step

    def run(ms):
        end = r.now + ms
        while r.now < end:
            r.now += 10
            no_alloc(step, r.now, r.pack, r.meas, r.remote)

    run(100)
    r.cells(3000, 3700)  # prealarm + cell_high taper
    r.meas.fet_ddegc = 900
    r.temps(0, 200)
    run(3000)
    r.meas.sys_ma = -300000
    run(2000)
    r.meas.sys_ma = 0
    r.cells(2400)
    run(1000)
    r.now += 600000  # load disconnect, then low power
    run(100)
    assert _state(r) == "low_power_off"
    p.wake()
    run(100)
    r.pack.data_ok = False
    run(100)
    r.remote.on = False
    run(100)
    r.meas.sys_ma = 5000  # a charger, then stamps held past ticks.AGE_MAX
    r.meas.fet_ddegc = 1100
    run(100)
    for _ in range(2):
        r.now += 2 * 86400000
        run(100)


def test_charger_smaller_than_the_load_brings_loads_back_only_once():
    r = _cut()
    r.cells(2850)
    r.meas.sys_ma = 20000  # charger seen while the loads are off
    r.run(2010)
    assert _state(r) == "normal"
    # the load is bigger than the charger: cells sag, pre-alarm, cut again
    r.meas.sys_ma = -10000
    r.cells(2790)
    r.run(31000)
    assert _state(r) == "load_disconnect" and r.p.uv.charger_spent
    r.cells(2850)
    r.meas.sys_ma = 20000
    r.run(60000)
    assert _state(r) == "load_disconnect", "a charger smaller than the load made the loads chatter"
    # the cells reach the recovery level: loads back, the charger counts again
    r.cells(3201)
    r.tick()
    assert _state(r) == "normal" and not r.p.uv.charger_spent


def test_a_cut_long_after_a_charger_return_keeps_the_charger_rule():
    r = _cut()
    r.cells(2850)
    r.meas.sys_ma = 20000
    r.run(2010)
    r.meas.sys_ma = 0
    r.cells(3150)
    r.run(11 * 60000)  # probation over
    r.cells(2790)
    r.run(31000)
    assert _state(r) == "load_disconnect" and not r.p.uv.charger_spent
    r.cells(2850)
    r.meas.sys_ma = 20000
    r.run(2010)
    assert _state(r) == "normal"


def test_clear_alarms_ends_the_probation():
    r = _cut()
    r.cells(2850)
    r.meas.sys_ma = 20000
    r.run(2010)
    r.meas.sys_ma = -10000
    r.cells(2790)
    r.run(31000)
    assert r.p.uv.charger_spent
    r.p.clear_alarms()
    r.cells(2850)
    r.meas.sys_ma = 20000
    r.run(2010)
    assert _state(r) == "normal"


# -- states that last for days: ticks wrap at 2**30, and a stamp 2**29 ms
# (6.2 days) old reads as negative unless it is held (bms/ticks.py hold())

DAY_MS = 86400000
MINUTE_MS = 60000  # big steps: the delays under test are seconds long


def test_prealarm_held_for_days_still_cuts_and_blinks():
    for days in (7, 13):
        r = rig({"prealarm_mode": 1})
        r.cells(3000)
        r.tick()
        r.run(days * DAY_MS, MINUTE_MS)
        assert _state(r) == "prealarm", days
        # still 1 s on / 1 s off, in step with the start of the pre-alarm
        levels = [r.tick(500).prealarm_out for _ in range(8)]
        assert levels == [True, False, False, True] * 2, (days, levels)
        r.cells(2700)  # the pre-alarm wait is long over: cut at once
        p = r.tick()
        assert _state(r) == "load_disconnect" and not p.atd and not p.load_out, days


def test_charger_seen_for_13_days_stays_seen():
    r = rig()
    r.meas.sys_ma = 5000
    r.run(UV.CHARGER_MS + 10)
    end = r.now + 13 * DAY_MS
    while r.now < end:
        assert r.tick(MINUTE_MS).uv.charger, r.now


def test_charger_probation_is_over_days_later():
    for days in (7, 13):
        r = _cut()
        r.cells(2850)
        r.meas.sys_ma = 20000  # a charger brings the loads back
        r.run(2010)
        assert _state(r) == "normal"
        r.meas.sys_ma = 0
        r.cells(3150)
        r.run(days * DAY_MS, MINUTE_MS)
        r.cells(2790)
        r.run(31000)
        assert _state(r) == "load_disconnect" and not r.p.uv.charger_spent, days
        r.cells(2850)
        r.meas.sys_ma = 20000
        r.run(2010)
        assert _state(r) == "normal", days


def test_fet_trip_delay_survives_a_long_sensor_gap():
    for days in (7, 13):
        r = rig()
        r.meas.fet_ddegc = 1100
        r.tick()  # over the trip level: the delay starts
        r.meas.stale = CH_ALL
        r.run(days * DAY_MS, MINUTE_MS)
        r.meas.stale = 0  # still hot
        r.run(FT.OVERTEMP_MS + 10)
        assert r.p.block_alt & R.BMS_OVERTEMP, days


def test_stale_readings_count_the_mosfets_as_hot():
    # a dead I2C bus (drivers/ads1115.py) leaves the MOSFET temperature
    # unknown: after the trip delay the alternator path is blocked, and it
    # comes back once fresh readings show the MOSFETs cool
    r = rig()
    r.meas.stale = CH_ALL
    r.run(FT.OVERTEMP_MS)
    assert r.p.alt_allowed
    p = r.tick()
    assert not p.alt_allowed and p.block_alt == R.BMS_OVERTEMP
    assert p.atc and p.atd  # the battery itself is fine ...
    # ... but the System+ MOSFETs' temperature is unknown too (issue 15: they stayed closed)
    assert p.block_sys == R.BMS_OVERTEMP and not (p.chg_fet or p.dsg_fet)
    r.meas.stale = 0
    r.meas.fet_ddegc = 400
    assert r.tick().alt_allowed


def test_overcurrent_trips_while_a_slow_adc_is_stale():
    r = rig()
    r.meas.stale = CH_ALL
    r.meas.sys_ma = -400001
    p = r.tick()
    assert not p.dsg_fet and p.block_sys == R.OVERCURRENT


def test_limits_follow_a_setting_change_on_unchanged_values():
    # the limit table skips a pass when the values and its rows are as the
    # last pass left them; a new level must still be applied at once
    r = rig()
    r.cells(3300, 3600)
    r.run(100)
    assert r.p.atc
    assert r.settings.update({"cell_ov_mv": 3550, "cell_ov_release_mv": 3400}) == []
    r.tick()
    assert not r.p.atc and r.p.block_chg & R.CELL_OV
    r.cells(3300, 3399)
    r.tick()
    assert r.p.atc
