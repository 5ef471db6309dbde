# micropython
# The harness itself: helpers behave, and the no_alloc check really catches allocation.
import micropython
from mpytest import raises, no_alloc, skip, SkipTest


def test_runs_inside_micropython():
    import sys
    assert sys.implementation.name == "micropython"


def test_raises_catches_expected_exception():
    with raises(ValueError, match="bad"):
        raise ValueError("bad value")


def test_raises_fails_when_nothing_raised():
    try:
        with raises(ValueError):
            pass
    except AssertionError:
        return
    raise AssertionError("raises() accepted a block that did not raise")


def test_no_alloc_passes_integer_work():
    buf = bytearray(16)

    def work(b):
        for i in range(16):
            b[i] = (i * 7) & 0xFF
        return b[3]

    assert no_alloc(work, buf) == 21


def test_no_alloc_catches_allocation():
    def allocates():
        return [1, 2, 3]

    with raises(AssertionError, match="allocated"):
        no_alloc(allocates)
    # the heap must be usable again afterwards
    x = [0] * 10
    assert len(x) == 10


def test_skip_raises_skiptest():
    with raises(SkipTest):
        skip("because")


async def test_async_tests_run():
    import asyncio
    await asyncio.sleep_ms(1)
