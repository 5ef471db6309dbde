# Test helpers for firmware tests that run inside the MicroPython unix port.
import micropython


class SkipTest(Exception):
    pass


def skip(reason=""):
    raise SkipTest(reason)


class raises:
    """with raises(ValueError): ...  -- fails unless the block raises exc."""

    def __init__(self, exc, match=None):
        self.exc = exc
        self.match = match
        self.value = None

    def __enter__(self):
        return self

    def __exit__(self, typ, value, tb):
        if typ is None:
            raise AssertionError("did not raise " + self.exc.__name__)
        if not issubclass(typ, self.exc):
            return False  # let the unexpected exception through
        if self.match is not None and self.match not in str(value):
            raise AssertionError("raised %r, expected text %r" % (value, self.match))
        self.value = value
        return True


def _unlock():
    # heap_unlock() only while the heap is still locked: an unbalanced call
    # wraps the lock depth and leaves the heap locked for good.
    for _ in range(64):
        try:
            bytearray(1)
            return
        except MemoryError:
            micropython.heap_unlock()


def no_alloc(fn, a=None, b=None, c=None, d=None):
    """Call fn(a, b, c, d) -- only the arguments given -- with the heap locked.

    Fails if the call allocates. Arguments are passed explicitly, never with
    *args, because *args itself allocates.
    """
    micropython.heap_lock()
    try:
        if a is None:
            r = fn()
        elif b is None:
            r = fn(a)
        elif c is None:
            r = fn(a, b)
        elif d is None:
            r = fn(a, b, c)
        else:
            r = fn(a, b, c, d)
    except MemoryError:
        _unlock()
        raise AssertionError("allocated under heap_lock: " + str(fn))
    finally:
        _unlock()
    return r


def approx(a, b, tol):
    if abs(a - b) > tol:
        raise AssertionError("%r != %r within %r" % (a, b, tol))
