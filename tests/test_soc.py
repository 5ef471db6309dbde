# micropython
from bms import soc as S
from bms import ticks
from mpytest import no_alloc

CAP = 200000  # mAh


def seeded(mv=13200, cap=CAP):
    s = S.Soc()
    s.step(0, mv, 0, cap)
    return s


def test_voltage_table_endpoints_and_interpolation():
    assert S.from_voltage(0) == 0
    assert S.from_voltage(9000) == 0
    assert S.from_voltage(14400) == 1000
    assert S.from_voltage(13600) == 1000
    assert S.from_voltage(13200) == 500
    assert S.from_voltage(13220) == 550
    last = 0
    for mv in range(9500, 14000, 7):
        v = S.from_voltage(mv)
        assert last <= v <= 1000
        last = v


def test_unknown_until_a_voltage_arrives():
    s = S.Soc()
    s.step(0, 0, 5000, CAP)
    assert not s.known
    assert s.ttg_min(-10000) == -1
    s.step(1000, 13200, 0, CAP)
    assert s.known and s.soc_pm == 500
    assert s.remaining_mah == 100000 and s.consumed_mah == 100000


def test_coulomb_counting_exact_to_the_mah():
    s = seeded()
    for k in range(1, 37):
        s.step(k * 1000, 13200, 100000, CAP)  # 100 A for 36 s = 1 Ah
    assert s.remaining_mah == 101000
    for k in range(37, 37 + 3600):
        s.step(k * 1000, 13200, -1, CAP)  # 1 mA for an hour = 1 mAh
    assert s.remaining_mah == 100999


def test_ticks_wrap_and_stalls():
    s = S.Soc()
    s.step(0x3FFFFC18, 13200, 0, CAP)  # 1000 ms before the wrap
    s.step(1000, 13200, 3600000, CAP)  # 2 s across the wrap at 3600 A
    assert s.remaining_mah == 102000
    s.step(1000 + 3600000, 13200, -3600000, CAP)  # an hour's stall counts as 5 s
    assert s.remaining_mah == 97000
    s.step(500, 13200, 3600000, CAP)  # time going backwards counts nothing
    assert s.remaining_mah == 97000


def test_clamped_to_empty_and_full():
    s = seeded(12000)
    for k in range(1, 80):
        s.step(k * 1000, 12000, -1000000, CAP)
    assert s.remaining_mah == 0 and s.soc_pm == 0 and s.consumed_mah == CAP
    for k in range(40, 2000):
        s.step(k * 1000, 13300, 1000000, CAP)
    assert s.remaining_mah == CAP and s.soc_pm == 1000 and s.consumed_mah == 0


def test_full_after_tail_current_at_high_voltage():
    s = seeded(13100)
    pm = s.soc_pm
    for k in range(1, 60):
        s.step(k * 1000, S.FULL_MV, CAP // S.TAIL_DIV, CAP)
    assert s.soc_pm < 1000
    s.step(60000, S.FULL_MV - 1, 100, CAP)  # voltage dips: start again
    for k in range(61, 121):
        s.step(k * 1000, S.FULL_MV, 100, CAP)
    assert s.soc_pm == 1000 and pm < 1000


def test_time_to_go():
    s = seeded()
    assert s.ttg_min(0) == -1
    assert s.ttg_min(-S.TTG_MIN_MA + 1) == -1
    assert s.ttg_min(-10000) == 600  # 100 Ah at 10 A
    assert s.ttg_min(-7000) == 100000 * 60 // 7000


def test_largest_bank_stays_in_small_ints():
    cap = 50 * 1000 * 1000  # 50 batteries of 1000 Ah
    s = seeded(13200, cap)
    assert s.soc_pm == 500
    assert s.remaining_mah == cap // 2
    assert s.ttg_min(-S.TTG_MIN_MA) == s.remaining_mah * 60 // S.TTG_MIN_MA
    assert s.remaining_mah * 10 < 1 << 30  # the largest product _publish forms
    s.step(1000, 13200, -3600000, cap)
    assert s.remaining_mah == cap // 2 - 1000


def test_13_days_on_float_stays_full_in_small_ints():
    s = seeded(13100)
    t = 0
    for _ in range(13 * 86400 // 5):  # 13 days in 5 s steps; 2**30 ms is 12.4 days
        t = ticks.add(t, 5000)
        s.step(t, S.FULL_MV, 100, CAP)
    assert s.soc_pm == 1000
    d = s.__dict__
    for k in d:
        if isinstance(d[k], int):
            assert -(1 << 30) < d[k] < 1 << 30, (k, d[k])


def test_capacity_change_keeps_the_percentage():
    s = seeded()
    s.step(1000, 13200, 0, 2 * CAP)
    assert s.soc_pm == 500 and s.remaining_mah == 200000


def test_step_allocates_nothing():
    s = seeded()
    no_alloc(s.step, 1000, 13200, -25000, CAP)
    no_alloc(s.step, 2000, 13800, 100, CAP)
    no_alloc(s.ttg_min, -25000)
    assert s.remaining_mah < 100000


class _Meas:
    stale = 0
    alt_ma = 0
    sys_ma = 0
    bat_mv = 13200


class _Pack:
    seen = False
    pack_mv = 0


class _Settings:
    battery_capacity_ah = 1
    battery_count = 1


def _fields(s):
    return (s.known, s.cap_mah, s.remaining_mah, s.soc_pm, s.consumed_mah, s._frac, s._last_ms,
            s._full_ms)


def test_count_comes_out_as_step_on_every_tick():
    """count() counts the usual tick itself, without step(): against a twin
    fed the same readings through step() alone, over charge to full and
    discharge to empty, the full voltage, stale channels, capacity changes,
    currents past the clamp, ticks that wrap and time that jumps or goes
    back. Every field equal on every tick, and the fast path does run."""
    from bms.measure import CH_BAT, CH_SYS_I
    from protect_rig import Lcg
    g = Lcg(4)
    m = _Meas()
    pack = _Pack()
    st = _Settings()
    a = S.Soc()
    b = S.Soc()
    steps = [0]
    step = a.step

    def counted(now_ms, bank_mv, current_ma, cap_mah):
        steps[0] += 1
        step(now_ms, bank_mv, current_ma, cap_mah)
    a.step = counted
    now = (ticks.MASK - 500000) & ticks.MASK
    for k in range(40000):
        ev = g.below(300)
        if ev < 6:
            m.sys_ma = g.pick((0, 20, -20, 3000, -3000, 200000, -200000, 5000000, -5000000))
        elif ev < 8:
            m.alt_ma = g.pick((0, 0, 1000, 30000))
        elif ev < 10:
            m.bat_mv = g.pick((0, 12000, 13200, S.FULL_MV - 1, S.FULL_MV, 14000))
        elif ev < 11:
            pack.seen = g.below(2) == 0
            pack.pack_mv = g.pick((13000, S.FULL_MV, 13900))
        elif ev < 12:
            m.stale = g.pick((0, 0, CH_BAT, CH_SYS_I))
        elif ev < 13:
            st.battery_capacity_ah = g.pick((1, 1, 2, 0))
            st.battery_count = g.pick((1, 1, 3))
        now = (now + (10 if g.below(100) else g.pick((0, 1, 249, 250, 251, 6000, -20)))) & ticks.MASK
        a.count(now, pack, m, st)
        if not m.stale & S._CURRENTS and not (m.stale & CH_BAT and not pack.seen):
            b.step(now, pack.pack_mv if pack.seen else m.bat_mv, m.alt_ma + m.sys_ma,
                   st.battery_capacity_ah * st.battery_count * 1000)
        assert _fields(a) == _fields(b), k
    assert steps[0] < 25000, steps[0]  # of 40000 (a 1 Ah bank moves a whole mAh often)


def test_count_allocates_nothing_even_for_a_current_no_sensor_gives():
    # step() clamps before it multiplies; the usual tick's shortcut must not
    # multiply a wild reading either (past 2^30 a long int on the boards)
    s = S.Soc()
    m = _Meas()
    pack = _Pack()
    st = _Settings()
    s.count(0, pack, m, st)
    assert s.known
    m.sys_ma = 200000000  # 200 kA
    no_alloc(s.count, 10, pack, m, st)
    m.sys_ma = -200000000
    no_alloc(s.count, 20, pack, m, st)
    m.sys_ma = 1000
    no_alloc(s.count, 30, pack, m, st)
