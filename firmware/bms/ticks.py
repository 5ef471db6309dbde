# Millisecond tick arithmetic, the same as time.ticks_diff on the boards: ticks
# wrap at 2**30 (12.4 days), so never compare two ticks with < directly, and
# diff() of a stamp older than 2**29 ms (6.2 days) comes out negative. How
# every stored stamp stays younger than that: docs/architecture.md, "Time".
try:
    from micropython import const
except ImportError:  # CPython: the host tools share this module
    def const(x):  # type: ignore[misc]  # CPython stand-in, same behaviour
        return x

PERIOD = const(0x40000000)
MASK = const(0x3FFFFFFF)
_HALF = const(0x20000000)
AGE_MAX = const(0x10000000)  # 2**28 ms, 3.1 days: above every delay and timeout


def diff(a, b):
    """Signed a - b in ms, correct across one wrap."""
    return ((a - b + _HALF) & MASK) - _HALF


def add(t, delta):
    return (t + delta) & MASK


def hold(now, t):
    """t, or the stamp AGE_MAX before now if t is older. A stamp stored back
    through this every tick ages normally up to AGE_MAX and stays there, so
    diff(now, t) >= delay holds for good instead of turning negative."""
    if diff(now, t) > AGE_MAX:
        return (now - AGE_MAX) & MASK
    return t
