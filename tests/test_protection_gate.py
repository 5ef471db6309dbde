# micropython
# Protection re-runs its decision and the under-voltage rows only when an
# input changed or a timer is due. This holds the gated step to the same
# code with every gate forced open (each gate's due stamp set to now before
# each step): both instances get the same inputs, long random sequences with
# quiet stretches (where the gates skip), threshold crossings, stale
# channels, settings changes, commands and time jumps of up to days, and
# every output must be equal on every tick. The readings also jitter by a
# few LSB, as an ADC's do: the quiet gate of the whole step tells them apart
# only across a threshold of the parts.
from bms.measure import Measurements, CH_ALL, CH_SYS_I, CH_FET, CH_BAT, CH_SYS, CH_ALT_I
from bms.protection import Protection
from bms.fet_thermal import FetThermal
from bms.settings import Settings
from bms.ticks import MASK
from protect_rig import FakePack, Lcg

SEEDS = (3, 7, 11, 19, 23, 29)
TICKS = 36000


class Remote:
    """The remote as the test drives it: on, and the edge of this tick."""

    def __init__(self):
        self.on = True
        self.rose = False


OUTPUTS = ("atc", "atd", "block_chg", "block_dsg", "block_alt", "block_sys", "warn", "chg_fet",
           "dsg_fet", "dsg_limit", "alt_allowed", "alt_limit_ma", "load_out", "charge_out",
           "prealarm_out", "data_held")


def outputs(p):
    uv = p.uv
    return tuple(getattr(p, k) for k in OUTPUTS) + (
        uv.state, uv.emergency, uv.charger, uv.charger_spent, p.oc.block, p.oc.rearm,
        p.oc.trips, p.fet.warning, p.fet.overtemp, p.limits.active)


def _settings_change(g, s):
    k = g.below(7)
    if k == 0:
        return {"prealarm_mode": g.below(2)}
    if k == 1:
        return {"remote_function": g.below(3)}
    if k == 2:
        return {"alt_fuse_a": g.pick((20, 60, 100, 125))}
    if k == 3:
        return {"cell_ov_mv": g.pick((3650, 3750, 3750))}
    if k == 4:
        return {"fet_derate_dc": g.pick((700, 850, 950))}
    if k == 5:
        return {"cell_prealarm_mv": g.pick((2950, 3000, 3050))}
    return {"uv_disconnect_delay_s": g.pick((30, 45)), "lowpower_delay_min": g.pick((10, 20))}


def run(seed, ticks=TICKS):
    g = Lcg(seed)
    s = Settings()
    assert s.update({"cell_uv_mv": 2800, "cell_prealarm_mv": 3000, "cell_ov_release_mv": 3500}) == []
    gated = Protection(s, FetThermal(s))
    ref = Protection(s, FetThermal(s))
    pack = FakePack()
    pack.full_scan = pack.data_ok = False
    m = Measurements()
    m.stale = CH_ALL
    m.bat_mv = 13200
    m.sys_mv = 13100
    m.fet_ddegc = 300
    rg = Remote()
    rr = Remote()
    runs = [0]
    decide = gated._decide

    def counted(now_ms, pack, meas, remote_on):
        runs[0] += 1
        decide(now_ms, pack, meas, remote_on)
    gated._decide = counted
    full = [0]  # steps past the quiet gate (each runs the limits)
    limits_step = gated.limits.step

    def counted_limits(pack, data_ok):
        full[0] += 1
        limits_step(pack, data_ok)
    gated.limits.step = counted_limits
    now = (MASK - 200000 - g.below(400000)) & MASK  # the ticks wrap during the run
    on = True
    states = set()
    scale = 400
    for k in range(ticks):
        if k % 6000 == 0:  # busy and quiet stretches (a timer runs out with nothing else moving)
            scale = g.pick((400, 4000, 100000))
        ev = g.below(scale)  # most ticks change nothing
        if k == 100:  # the first full scan, on its own (data_ok still False): boot ends
            pack.full_scan = True
            ev = scale
        if ev < 6:
            pack.min_cell_mv = g.pick((3300, 3200, 3060, 3040, 3000, 2990, 2900, 2810, 2800,
                                       2790, 2700, 2500, 2400, 3400))
            pack.max_cell_mv = pack.min_cell_mv + g.pick((0, 10, 300, 500))
        elif ev < 9:
            pack.max_cell_mv = g.pick((3400, 3500, 3600, 3640, 3660, 3680, 3700, 3720, 3740, 3760))
        elif ev < 11:
            pack.min_temp_ddegc = g.pick((-250, 0, 40, 60, 200, 200, 250, 300))
            pack.max_temp_ddegc = pack.min_temp_ddegc + g.pick((0, 100, 100, 300, 400))
        elif ev < 14 and k > 200:
            pack.data_ok = g.below(5) != 0
        elif ev < 15:
            pack.count_mismatch = g.below(10) == 0
        elif ev < 17:
            pack.alarm_kinds = g.below(32) if g.below(4) == 0 else 0
        elif ev < 23:
            m.sys_ma = g.pick((0, 400, 499, 500, 1999, 2000, 5000, -400, -499, -500, -1999,
                               -2000, -5000, -150000, 210000, -210000, 401000, -401000))
        elif ev < 25:
            m.sys_oc = g.below(3) == 0
        elif ev < 28:
            m.stale = g.pick((0, 0, 0, 0, 0, 0, 0, CH_SYS_I, CH_FET, CH_BAT | CH_SYS, CH_ALT_I, CH_ALL))
        elif ev < 31:
            m.fet_ddegc = g.pick((300, 300, 700, 830, 840, 849, 850, 860, 940, 950, 1000, 1100, 1600, -500))
        elif ev < 34:
            m.sys_mv = m.bat_mv + g.pick((-100, 0, 499, 500, 900))
            m.alt_ma = g.pick((0, 999, 1000, 3000))
        elif ev < 36:
            on = g.below(4) != 0
        elif ev < 40:
            assert s.update(_settings_change(g, s)) == []
        elif ev < 41:
            gated.wake()
            ref.wake()
        elif ev < 42:
            gated.clear_alarms()
            ref.clear_alarms()
        if g.below(3) == 0:  # ADC jitter: across a threshold now and then
            j = g.below(5)
            if j == 0:
                m.sys_ma += g.pick((-3, -1, 1, 3))
            elif j == 1:
                m.fet_ddegc += g.pick((-1, 1))
            elif j == 2:
                m.bat_mv += g.pick((-2, -1, 1, 2))
            elif j == 3:
                m.sys_mv += g.pick((-2, -1, 1, 2))
            else:
                m.alt_ma += g.pick((-5, 5))
        rose = on and not rg.on
        rg.on = rr.on = on
        rg.rose = rr.rose = rose
        if ev == scale - 1:
            now = (now + g.pick((1003, 60007, 700001, 1300000, 90000000, 300000000))) & MASK
        else:  # a late or early tick now and then: timers do not fall on whole seconds
            now = (now + (10 if ev < scale - 10 else g.pick((7, 13, 25)))) & MASK
        ref._due_ms = now  # the reference: every gate open
        ref.uv.due_ms = now
        ref._q_due = now
        gated.step(now, pack, m, rg)
        ref.step(now, pack, m, rr)
        for p in (gated, ref):
            if p.oc.rearm:  # as the controller does once the latch is re-armed
                p.oc.rearmed()
        a = outputs(gated)
        b = outputs(ref)
        assert a == b, (seed, k, now, a, b)
        states.add(a[len(OUTPUTS)])
    return runs[0], states, full[0]


def test_gated_protection_equals_the_always_run_one():
    for seed in SEEDS:
        runs, states, full = run(seed)
        assert runs < TICKS // 4, runs  # the gate does skip most quiet ticks
        assert full < TICKS * 3 // 4, full  # and so does the quiet gate, through the jitter
        assert len(states) >= 4, states  # boot, normal, pre-alarm, load off (and more)
