# micropython
# bms.ticks wraps at 2**30 like the boards' ticks_ms (the unix port wraps at 2**62).
from bms import ticks


def test_diff_is_signed_and_wraps_like_the_boards():
    P = ticks.PERIOD
    cases = ((5, 3, 2), (3, 5, -2), (0, P - 1, 1), (P - 1, 0, -1), (100, P - 100, 200),
             (P // 2 - 1, 0, P // 2 - 1), (P // 2, 0, -(P // 2)))
    for a, b, want in cases:
        assert ticks.diff(a, b) == want, (a, b, ticks.diff(a, b))


def test_add_wraps():
    assert ticks.add(ticks.PERIOD - 1, 2) == 1
    assert ticks.diff(ticks.add(ticks.PERIOD - 10, 25), ticks.PERIOD - 10) == 25


def test_hold_keeps_the_age_then_saturates():
    P = ticks.PERIOD
    M = ticks.AGE_MAX
    t0 = P - 1000  # held across the wrap too
    for age in (0, 1, 1000, M - 1, M):
        now = ticks.add(t0, age)
        assert ticks.hold(now, t0) == t0, age
    t = t0
    now = t0
    for _ in range(14):  # 13 days, one call a day: the age stops at AGE_MAX
        now = ticks.add(now, 86400000)
        t = ticks.hold(now, t)
        assert 0 <= ticks.diff(now, t) <= M
    assert ticks.diff(now, t) == M
    assert 0 <= t < P


def test_every_delay_setting_fits_below_the_held_age():
    # protection holds its stamps at AGE_MAX: a longer delay would never end
    from bms.settings import SCHEMA
    top = {}
    for e in SCHEMA:
        top[e[1]] = e[6]
    assert top["uv_disconnect_delay_s"] * 1000 < ticks.AGE_MAX
    assert top["lowpower_delay_min"] * 60000 < ticks.AGE_MAX
