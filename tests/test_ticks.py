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
