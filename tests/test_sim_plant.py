# micropython
# The plant of the simulated board: physics the firmware is tested against.
from boards.sim.plant import Plant, ocv_mv, DUTY_MAX_CPCT
from mpytest import raises, approx


def quiet(n=1, **params):
    base = {"cell_soc_spread_pct": 0, "cell_capacity_spread_pct": 0,
            "load_on_load_out": 0, "charger_on_charge_out": 0}
    base.update(params)
    return Plant(n, base)


def run(p, ms):
    for _ in range(ms // 10):
        p.step(10)


def test_ocv_curve_is_monotonic_with_lfp_plateau():
    prev = 0
    for i in range(-50, 111):
        v = ocv_mv(i / 100)
        assert v >= prev, i
        prev = v
    assert 3280 <= ocv_mv(0.5) <= 3320
    assert ocv_mv(0.0) == 2500 and ocv_mv(1.0) == 3550
    assert ocv_mv(-1) == ocv_mv(-0.05) and ocv_mv(2) == ocv_mv(1.1)


def test_resting_cells_sit_on_the_curve():
    p = quiet(2, soc_pct=50, bms_ma=0)
    run(p, 1000)
    lo, _, hi, _ = p.cell_extremes()
    expect = int(ocv_mv(0.5))
    assert abs(lo - expect) <= 1 and abs(hi - expect) <= 1
    approx(p.bat_mv, 4 * expect, 4)


def test_spread_is_deterministic_per_seed():
    a = Plant(4, {"cell_soc_spread_pct": 5, "seed": 7})
    b = Plant(4, {"cell_soc_spread_pct": 5, "seed": 7})
    c = Plant(4, {"cell_soc_spread_pct": 5, "seed": 8})
    assert a.soc == b.soc and a.soc != c.soc


def test_load_discharges_through_the_discharge_fet_only():
    p = quiet(1, capacity_ah=100, soc_pct=50)
    p.load_a = 100.0
    run(p, 1000)
    assert p.sys_ma == 0  # discharge FET still off: nothing flows
    p.dsg_on = True
    soc0 = p.soc_pct()
    run(p, 36000)  # 100 A for 36 s = 1 Ah = 1 % of 100 Ah
    assert p.sys_ma == -100000
    approx(soc0 - p.soc_pct(), 1.0, 0.05)


def test_charger_needs_the_charge_fet_and_tapers_at_its_voltage():
    p = quiet(1, soc_pct=50)
    p.charger_a = 30.0
    run(p, 500)
    assert p.sys_ma == 0 and p.sys_mv == 14200  # cut off: port at the charger's level
    p.chg_on = True
    run(p, 500)
    assert p.sys_ma == 30000
    full = quiet(1, soc_pct=100)
    full.charger_a = 30.0
    full.chg_on = True
    run(full, 60000)
    assert full.sys_ma < 30000  # constant voltage: current falls off


def test_loads_and_chargers_can_follow_the_outputs():
    p = quiet(1, soc_pct=50, load_on_load_out=1, charger_on_charge_out=1)
    p.chg_on = p.dsg_on = True
    p.load_a = 20.0
    p.charger_a = 5.0
    run(p, 200)
    assert p.sys_ma == 0  # both outputs float: inverter and charger are off
    p.load_out = True
    run(p, 200)
    assert p.sys_ma == -20000
    p.charge_out = True
    run(p, 200)
    assert p.sys_ma == -15000


def test_alternator_switch_conducts_both_ways_while_on():
    # blocking the way back is the firmware's job: the plant must show what
    # happens when it fails to (the buck stage's high-side switch conducts
    # back once the bank is above the starter)
    p = quiet(1, soc_pct=90)
    run(p, 1000)  # engine off, gate open: starter battery below the bank, nothing flows
    assert p.start_mv < p.bat_mv and p.alt_ma == 0
    p.alt_duty_cpct = DUTY_MAX_CPCT
    run(p, 1000)
    assert p.alt_ma < -2000  # the bank charges the starter battery
    p.set_engine("cruise")
    run(p, 2000)
    assert p.alt_ma > 10000
    p.alt_duty_cpct = 0
    run(p, 1000)
    assert p.alt_ma == 0


def test_duty_is_the_stage_current_reference():
    # issue 15: the duty is the reference of the buck stage's current loop
    # (150 A at 100 %), within the stage's error (-2 %, -0.3 A by default);
    # the first tick's average includes the loop's approach (before, the
    # chopped path: the average current with the wiring's lag)
    p = quiet(1, soc_pct=30, fuse_a=400)
    p.set_engine("cruise")
    p.alt_duty_cpct = DUTY_MAX_CPCT // 4
    p.step(10)
    first = p.alt_a
    run(p, 1000)
    quarter = p.alt_ma
    assert 0 < first * 1000 < quarter
    approx(quarter / 1000, 37.5 * 0.98 - 0.3, 0.1)
    p.alt_duty_cpct = DUTY_MAX_CPCT // 2
    run(p, 1000)
    half = p.alt_ma
    approx(half / 1000, 75 * 0.98 - 0.3, 0.1)
    p.load_a = 100.0  # a System+ step moves the bank, not the stage's current
    p.chg_on = p.dsg_on = True
    run(p, 100)
    approx(p.alt_ma / 1000, 75 * 0.98 - 0.3, 0.1)


def test_fuse_sees_the_true_current_of_the_stage():
    # the fuse integrates the input current's mean square: the stage's
    # input is its output times its duty plus its losses, and the ripple
    # left by the input capacitors
    p = quiet(4, soc_pct=30, fuse_a=100)
    p.set_engine("cruise")
    p.alt_duty_cpct = DUTY_MAX_CPCT * 60 // 100
    run(p, 2000)
    st = p.stage
    rms = p.fuse_ms ** 0.5
    assert 0.85 < st.duty < 0.99 and st.ripple_a > 0.3
    approx(rms, st.duty * p.alt_a + 0.15, 0.05)
    assert rms < p.alt_a


def test_fuse_blows_by_i2t_and_holds_at_rating():
    # ~120 A through a 50 A fuse: (2.4^2 - 1) = ~4.8 per s -> the 40 s budget in ~8 s
    p = quiet(4, soc_pct=30, fuse_a=50)
    p.set_engine("cruise")
    p.alt_duty_cpct = DUTY_MAX_CPCT
    t = 0
    while p.fuse_ok and t < 60000:
        p.step(10)
        t += 10
    assert not p.fuse_ok and 5000 < t < 20000, t
    run(p, 1000)
    assert p.alt_ma == 0
    p.replace_fuse()
    assert p.fuse_ok
    ok = quiet(1, soc_pct=30, fuse_a=100, fuse_melt_s=10)
    ok.set_engine("cruise")
    ok.alt_duty_cpct = DUTY_MAX_CPCT * 55 // 100
    run(ok, 60000)
    assert ok.fuse_ok and 60000 < ok.alt_ma < 100000, ok.alt_ma


def test_alternator_capability_limits_and_starter_sags():
    p = quiet(4, soc_pct=20, alt_idle_a=40, fuse_a=400)
    p.set_engine("idle")
    p.alt_duty_cpct = DUTY_MAX_CPCT
    run(p, 3000)
    # the alternator gives all it can; the starter battery sags and makes up
    # the rest (what the firmware's starter-voltage floor has to prevent)
    assert abs(p.alt_out_a - 40) < 0.01 and p.start_mv < 13400


def test_alternator_field_lag_idle_to_cruise():
    # the available current follows the engine state with a 200 ms lag
    p = quiet(4, soc_pct=20, alt_idle_a=40, alt_cruise_a=140, fuse_a=400)
    p.set_engine("idle")
    p.alt_duty_cpct = DUTY_MAX_CPCT
    run(p, 3000)
    p.set_engine("cruise")
    run(p, 10)
    assert p.alt_out_a < 50  # no instant step
    run(p, 190)
    assert 95 < p.alt_out_a < 110, p.alt_out_a  # ~63 % of the way after 200 ms
    run(p, 1800)
    assert p.alt_out_a > 139


def test_engine_start_cranks_then_regulates():
    p = quiet(1)
    p.set_engine("start")
    run(p, 500)
    assert 10000 < p.start_mv < 12000 and p.engine == "start"
    run(p, 2000)
    assert p.engine == "idle" and p.start_mv == 14300
    with raises(ValueError):
        p.set_engine("warp")


def test_mosfets_heat_with_current_and_cool_again():
    p = quiet(4, soc_pct=20, fuse_a=400, fet_tau_s=10)
    p.set_engine("cruise")
    p.alt_duty_cpct = DUTY_MAX_CPCT
    run(p, 30000)
    hot = p.fet_ddegc
    assert hot > 250 + 50
    p.alt_duty_cpct = 0
    run(p, 30000)
    assert p.fet_ddegc < hot - 50


def test_remote_terminal_voltages_for_each_mode():
    p = quiet(1)
    p.set_remote("open")
    assert p.remote_l_mv == p.bat_mv and p.remote_h_mv == 0
    p.set_remote("bridged")
    assert p.remote_l_mv == p.remote_h_mv and 3000 < p.remote_h_mv < p.bat_mv * 9 // 10
    p.set_remote("l_low")
    assert p.remote_l_mv < 5000 and p.remote_h_mv < 3000
    p.set_remote("h_high")
    assert p.remote_h_mv > 3000 and p.remote_l_mv > 5000 and p.remote_l_mv - p.remote_h_mv > 100
    with raises(ValueError):
        p.set_remote("maybe")


def test_balancer_moves_charge_from_high_cell_to_low():
    p = quiet(1, soc_pct=99, balance_ma=2000)
    p.soc[2] += 0.03
    high0, low0 = p.soc[2], p.soc[0]
    run(p, 10000)
    assert p.soc[2] < high0 and p.soc[0] > low0


def test_bad_plant_setup_is_refused():
    with raises(ValueError, match="outside"):
        Plant(51)
    with raises(ValueError, match="unknown plant parameter"):
        Plant(1, {"capacity": 100})
