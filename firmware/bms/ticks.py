# Millisecond tick arithmetic, the same as time.ticks_diff on the boards: ticks
# wrap at 2**30 (12.4 days), so never compare two ticks with < directly.
try:
    from micropython import const
except ImportError:  # CPython: the host tools share this module
    def const(x):  # type: ignore[misc]  # CPython stand-in, same behaviour
        return x

PERIOD = const(0x40000000)
MASK = const(0x3FFFFFFF)
_HALF = const(0x20000000)


def diff(a, b):
    """Signed a - b in ms, correct across one wrap."""
    return ((a - b + _HALF) & MASK) - _HALF


def add(t, delta):
    return (t + delta) & MASK
