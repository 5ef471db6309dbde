# micropython
# Closed loop: AlternatorPort on both plant models (altrun.PLANTS: the stiff
# tests/mpy/altplant.py and the simulator's boards/sim/plant.py).
from bms import alternator as A
from bms.settings import Settings
from altplant import ENGINE_OFF, ENGINE_IDLE, ENGINE_CRUISE
import altrun
from altrun import Rig, window, engine_start


def _check_case(plant, alt_a, fuse_a, batteries, soc):
    # a short on delay keeps the matrix fast; delays are tested in test_alternator.py
    rig = Rig(alt_a=alt_a, fuse_a=fuse_a, batteries=batteries, soc_pct=soc, on_delay_ms=500,
              seed=alt_a + fuse_a + batteries, plant=plant)
    tag = (plant.__name__, alt_a, fuse_a, batteries, soc)
    for cycle in range(2):
        engine_start(rig, ENGINE_IDLE if cycle else ENGINE_CRUISE, max_ms=5000)
        target = rig.port.target.ma / 1000
        ss = window(rig, 500)
        if rig.port.state == A.LIMITING:
            assert altrun.error_pct(ss, target) < 2, (tag, "error", altrun.error_pct(ss, target))
        elif rig.port.state == A.WAITING:
            # too weak to lift the starter above the on level and 50 mV over
            # the bank (with the 13.0 V on level of issue 16 item 1 the bank's
            # margin is the one that usually decides)
            level = max(rig.s.alt_on_mv, rig.meas.bat_mv + 50)
            assert rig.meas.start_mv < level + 100, (tag, rig.meas.start_mv, rig.meas.bat_mv)
            assert max(ss) < 0.5, (tag, "current while waiting")
        else:  # the alternator cannot give the target: never above it
            assert rig.port.state in (A.FOLLOWING, A.RAMPING), (tag, A.STATE_NAMES[rig.port.state])
            assert max(ss) < target * 1.02, (tag, "following above target")
        rig.plant.sys_a = -100.0  # System+ load on and off
        window(rig, 600)
        rig.plant.sys_a = 0.0
        window(rig, 600)
        rig.plant.engine = ENGINE_OFF
        window(rig, 2500)
        assert rig.port.limiter.duty_cpct == 0, (tag, "gate on with engine off")
    assert not rig.plant.fuse.blown, (tag, "fuse blew", rig.plant.fuse.peak_heat)
    assert rig.min_a > -1.0, (tag, "reverse current", rig.min_a)
    # never as warm as carrying its full rating for good (blowing is 1.35^2)
    assert rig.plant.fuse.peak_heat < 1.0, (tag, "fuse heat", rig.plant.fuse.peak_heat)
    assert not rig.violations, (tag, rig.violations[:2])
    return rig


def test_matrix_alternator_fuse_bank_soc():
    # the corners, then a middle row on each axis
    n = 0
    for plant in altrun.PLANTS:
        for alt_a in (40, 250):
            for fuse_a in (20, 125):
                for batteries in (1, 50):
                    for soc in (15, 90):
                        _check_case(plant, alt_a, fuse_a, batteries, soc)
                        n += 1
        for case in ((120, 60, 8, 50), (80, 100, 4, 50), (250, 60, 8, 30), (120, 40, 20, 70),
                     (200, 100, 2, 95)):
            _check_case(plant, case[0], case[1], case[2], case[3])
            n += 1
    assert n == 42


def test_standard_case_settles_to_target_and_holds_under_steps():
    for plant in altrun.PLANTS:
        rig = Rig(plant=plant)
        soft_ms = engine_start(rig)
        assert 3000 < soft_ms < 5000, soft_ms  # 90 A at 25 A/s, then settled
        target = rig.port.target.ma / 1000
        assert target == 90
        ss = window(rig, 1000)
        assert altrun.error_pct(ss, target) < 0.5 and altrun.ripple_pct(ss, target) < 1
        rig.plant.sys_a = -100.0
        after = window(rig, 1000)
        assert altrun.settle_ms(after, target) <= 250
        rig.plant.alt_a = 130  # alternator capability falls but still covers the target
        after = window(rig, 1000)
        assert altrun.settle_ms(after, target) <= 250
        assert rig.port.state == A.LIMITING, plant.__name__


def test_starter_voltage_below_off_level_opens_gate():
    # a weak alternator: the floor loop holds the starter up, and once the
    # engine stops the starter falls below the off level and the gate opens
    for plant in altrun.PLANTS:
        rig = Rig(alt_a=40, fuse_a=100, batteries=8, soc_pct=20, plant=plant)
        engine_start(rig, max_ms=7000)
        assert rig.port.state == A.FOLLOWING, plant.__name__
        assert rig.meas.start_mv >= rig.s.alt_off_mv
        rig.plant.engine = ENGINE_OFF
        window(rig, 3000)
        assert rig.port.limiter.duty_cpct == 0 and rig.port.state in (A.WAITING, A.REVERSE_BLOCKED)
        assert not rig.violations and rig.min_a > -1.0


def test_full_bank_tapers_in_following():
    for plant in altrun.PLANTS:
        rig = Rig(alt_a=200, fuse_a=100, batteries=1, soc_pct=99.6, plant=plant)
        engine_start(rig, max_ms=7000)
        window(rig, 2000)
        assert rig.port.state == A.FOLLOWING and rig.plant.port_a < 80, plant.__name__
        assert rig.min_a > -1.0 and not rig.plant.fuse.blown


def _stuck_at_zero(rig):
    real = rig.plant.read

    def read(meas):
        real(meas)
        meas.alt_ma = 0
    rig.plant.read = read


def test_current_sensor_stuck_at_zero_faults_at_a_low_current():
    # with the gate at 100 % a stiff path drops far less than a volt even at
    # 170 A: the sensor stuck at zero, from the start or while limiting,
    # must neither blow the fuse nor let more than a low probe current flow
    for plant in altrun.PLANTS:
        for alt_a, fuse_a, batteries in ((200, 100, 4), (250, 20, 50), (120, 60, 1)):
            for midway in (False, True):
                rig = Rig(alt_a=alt_a, fuse_a=fuse_a, batteries=batteries, soc_pct=30,
                          plant=plant)
                tag = (plant.__name__, alt_a, fuse_a, batteries, midway)
                if midway:
                    engine_start(rig)
                    assert rig.port.state == A.LIMITING, tag
                else:
                    rig.plant.engine = ENGINE_CRUISE
                _stuck_at_zero(rig)
                target = rig.port.target.ma / 1000
                out = window(rig, 6000)
                assert rig.port.fault == A.F_STUCK and rig.port.limiter.duty_cpct == 0, (tag, rig.port.fault)
                assert max(out[-100:]) < 0.5, tag
                # while limiting, the filtered reading takes about 7 ticks to
                # fall below 1 A and the loop pushes the duty up meanwhile;
                # then, as from the start, at most the current of the 10 %
                # probe duty flows (40 A on 50 batteries) until the fault
                peak = max(out[15:]) if midway else max(out)
                assert peak < (45 if midway else 35), (tag, peak)
                assert not rig.plant.fuse.blown, tag


def test_plant_field_lag_idle_to_cruise():
    from altplant import AltPlant
    p = AltPlant(alt_a=200, batteries=8, soc_pct=20, engine=ENGINE_IDLE)
    for _ in range(300):
        p.advance(10000)
    assert abs(p.avail_a - 90) < 0.1  # 45 % at idle
    p.engine = ENGINE_CRUISE
    p.advance(10000)
    assert p.avail_a < 100  # no instant step to 200 A
    for _ in range(19):
        p.advance(10000)
    assert 150 < p.avail_a < 160, p.avail_a  # 63 % of the way after 200 ms


def test_load_toggling_every_tick_never_raises_the_current():
    # the System+ feed-forward only ever cuts the duty: a big load switching
    # on and off every tick may cost charge current, never add to it
    for plant in altrun.PLANTS:
        for batteries in (1, 4):
            rig = Rig(batteries=batteries, fuse_a=60, plant=plant)
            engine_start(rig)
            target = rig.port.target.ma / 1000
            out = []
            for k in range(300):
                rig.plant.sys_a = -90.0 if k % 2 else -10.0
                rig.tick()
                out.append(rig.plant.port_a)
            tag = (plant.__name__, batteries)
            assert max(out[10:]) < target * 1.1, (tag, max(out[10:]))
            assert min(out[10:]) > target * 0.4, (tag, min(out[10:]))
            assert rig.plant.fuse.peak_heat < 1.0


def test_both_plants_answer_the_rig_commands_alike():
    # the simulator's plant behind simaltplant must react to engine, System+
    # load and capability like altplant, or the runs on it check nothing
    from bms.measure import Measurements
    for plant in altrun.PLANTS:
        p = plant(alt_a=200, fuse_a=100, batteries=4, soc_pct=50, engine=ENGINE_CRUISE)
        meas = Measurements()
        for _ in range(100):
            p.advance(3000)
        base = p.port_a
        assert 40 < base < 50, (plant.__name__, base)  # 30 % of the stage's 150 A, +- its error
        p.read(meas)
        assert abs(meas.alt_ma - base * 1000) < 2000 and meas.start_mv > meas.bat_mv
        bat_mv = meas.bat_mv
        p.sys_a = -100.0
        for _ in range(10):
            p.advance(3000)
            p.read(meas)  # a slow channel refreshes with the reads (the round robin)
        # the buck stage holds its current through the bank's step (a
        # chopped switch, modelled before issue 15, passed 5 % more and
        # this asserted that)
        assert abs(p.port_a - base) < base * 0.01, (plant.__name__, "load step", base, p.port_a)
        p.read(meas)
        assert meas.sys_ma < -95000 and meas.bat_mv < bat_mv - 50, (bat_mv, meas.bat_mv)
        p.sys_a = 0.0
        p.alt_a = 40  # below what the path takes at this duty
        for _ in range(100):
            p.advance(3000)
        assert p.port_a < 40, (plant.__name__, "capability", p.port_a)
        p.engine = ENGINE_OFF
        for _ in range(200):
            p.advance(0)
        assert abs(p.port_a) < 0.5 and not p.fuse.blown


def test_headroom_coming_back_brings_the_current_back_at_the_target():
    # a nearly full bank tapers for want of headroom (the stage at its
    # highest duty); a 150 A System+ load then pulls the bank down and the
    # headroom is back at once: the current must come back at the target,
    # not above it (issue 15 metric: at most one tick outside +2 %, never
    # 10 % above)
    for plant in altrun.PLANTS:
        for soc in (98.0, 98.5):
            rig = Rig(alt_a=200, fuse_a=100, batteries=1, soc_pct=soc, plant=plant)
            engine_start(rig, max_ms=7000)
            window(rig, 2000)
            tag = (plant.__name__, soc)
            assert rig.port.state == A.FOLLOWING and rig.plant.port_a < 80, tag
            rig.metric = altrun.Metric(rig.s.alt_fuse_a)  # from here on
            rig.plant.sys_a = -150.0
            s = window(rig, 1000)
            m = rig.metric
            assert max(s) > 90 * 0.98 and rig.port.state == A.LIMITING, (tag, max(s))
            assert m.peak_ticks <= 1 and m.peak_pct < 10, (tag, m.peak_ticks, m.peak_pct)
            assert m.avg_pct < 2 and not rig.plant.fuse.blown, (tag, m.avg_pct)


def _engagements(rig, ms):
    """Run ms; returns (times the port went from waiting to ramping, times the
    gate went from driven to open, mean true port current in A)."""
    starts = opens = 0
    total = 0.0
    n = ms // altrun.TICK_MS
    was_on = rig.port.limiter.duty_cpct > 0
    for _ in range(n):
        before = rig.port.state
        rig.tick()
        if before == A.WAITING and rig.port.state == A.RAMPING:
            starts += 1
        on = rig.port.limiter.duty_cpct > 0
        if was_on and not on:
            opens += 1
        was_on = on
        total += rig.plant.port_a
    return starts, opens, total / n


def test_starter_at_13v1_charges_and_sags_under_its_own_load_without_chatter():
    # issue 16 item 1: a starter at 13.1 V (a weak or economy regulator)
    # charges the bank with the default settings (it never did at 13.4 V),
    # and the port's own current sagging the starter through the source
    # impedance (the wiring between starter and BMS: 3, 10 and 20 mOhm) does
    # not make it let go and start again: the loop holds the starter 100 mV
    # above the off level and 50 mV above the bank. Three minutes each.
    # the bank at 12.9 V (below the starter's floor) and at 12.97 V (above it:
    # only the bank's margin keeps the port out of the reverse rules)
    for soc, r_wire in ((7.0, 0.003), (7.0, 0.01), (7.0, 0.02), (11.0, 0.003), (11.0, 0.01)):
        rig = Rig(alt_a=120, fuse_a=100, batteries=4, soc_pct=soc, plant=altrun.AltPlant)
        rig.plant.vreg = 13.1
        rig.plant.r_wire = r_wire
        rig.plant.engine = ENGINE_CRUISE
        starts, opens, mean_a = _engagements(rig, 180000)
        tag = (soc, r_wire, starts, opens, mean_a, A.STATE_NAMES[rig.port.state],
               rig.meas.start_mv, rig.meas.bat_mv)
        assert starts == 1 and opens == 0, tag
        assert rig.port.state in (A.LIMITING, A.FOLLOWING), tag
        assert mean_a > 1.0, tag
        assert rig.meas.start_mv > rig.s.alt_off_mv + 50, tag  # the floor held
        assert not rig.violations and rig.min_a > -1.0, tag
    # a 20 A alternator cannot carry the port: the starter sags toward its
    # own battery's 12.75 V, below a bank at 13.25 V. Without the bank's margin
    # in the floor the reverse rule let go and the port started again 35
    # times in two minutes on the stiff plant.
    for plant in altrun.PLANTS:
        for soc in (30.0, 60.0):
            rig = Rig(alt_a=20, fuse_a=100, batteries=4, soc_pct=soc, plant=plant)
            rig.plant.engine = ENGINE_CRUISE
            starts, opens, mean_a = _engagements(rig, 120000)
            tag = (plant.__name__, soc, starts, opens, mean_a, rig.meas.start_mv, rig.meas.bat_mv)
            assert starts == 1 and opens == 0 and mean_a > 2.0, tag
            assert rig.meas.start_mv >= rig.meas.bat_mv + 40, tag
    # a bank that the starter cannot get 50 mV above is never engaged at all
    rig = Rig(alt_a=120, fuse_a=100, batteries=4, soc_pct=20.0, plant=altrun.AltPlant)
    rig.plant.vreg = 13.1
    rig.plant.engine = ENGINE_CRUISE
    assert _engagements(rig, 60000)[:2] == (0, 0)
