# micropython
# The limiter metric of issue 15 (tests/mpy/altrun.py Metric, printed by
# tools/benchmarks/limiter.py as limiter_*): its computation on small cases
# worked out by hand.
from altrun import Metric, WINDOW_TICKS, worst
from mpytest import approx


def test_one_second_average_and_peaks():
    m = Metric(100)
    for _ in range(WINDOW_TICKS):
        m.add(90.0, 90.0, 8100.0, 0.0)
    assert m.avg_pct == 0.0 and m.peak_pct == 0.0 and m.peak_ticks == 0
    approx(m.rms_pct, 90.0, 1e-6)
    # one tick 10 % above, then two ticks 3 1/3 % above (outside the 2 % band)
    for a in (99.0, 93.0, 93.0, 90.0):
        m.add(a, 90.0, a * a, 0.0)
    approx(m.peak_pct, 10.0, 1e-6)
    assert m.peak_ticks == 3  # three ticks in a row outside the band
    # the last 100 ticks hold 96 x 90 A and 99 + 93 + 93 + 90: 15 A over 9000
    approx(m.avg_pct, 15 * 100 / 9000, 1e-6)
    # true RMS over the last second: mean of the squares
    ms = (96 * 8100.0 + 99 * 99 + 93 * 93 * 2 + 8100) / 100
    approx(m.rms_pct, ms ** 0.5, 1e-6)


def test_average_needs_a_whole_second_with_a_target():
    m = Metric(100)
    for k in range(WINDOW_TICKS * 2):
        # the port opens every 99 ticks: no window has a target throughout
        m.add(95.0, 0.0 if k % 99 == 0 else 90.0, 0.0, 0.0)
    assert m.avg_pct == 0.0
    approx(m.peak_pct, 5 * 100 / 90, 1e-6)  # single ticks still count
    assert m.peak_ticks == WINDOW_TICKS - 2


def test_fuse_heat_is_the_largest_seen():
    m = Metric(20)
    for h in (0.0, 3.5, 1.0):
        m.add(18.0, 18.0, 324.0, h)
    assert m.i2t_pct == 3.5


def test_step_overshoot_leaves_out_only_the_blind_tick():
    m = Metric(100)
    target = 90.0
    after = [100.0, 92.0, 91.0, 90.0, 90.0]  # the first tick cannot see the step
    m.step(after, target)
    approx(m.overshoot_pct, 2 * 100 / 90, 1e-6)
    assert m.settle_ms == 20  # within +-2 % (1.8 A) from the third tick on
    m.step([80.0, 88.0, 90.0], target, -1, blind=False)  # a target step: no blind tick
    approx(m.overshoot_pct, 10 * 100 / 90, 1e-6)
    n = Metric(100)
    n.step([95.0] * 3, target, settles=False)  # the port could not hold the target
    assert n.settle_ms == 0
    w = worst((m, n))
    approx(w["overshoot_pct"], 10 * 100 / 90, 1e-6)
    assert w["settle_ms"] == 20
