# Virtual time for tools/heap32.py's measured process: installed as `time`
# before anything imports it, so the firmware, asyncio and the simulated radio
# all read this clock. It moves only when asyncio would wait (heap32_run
# patches the I/O queue's wait): an hour of the firmware's schedule runs as
# fast as the host allows, tick for tick as on a board.
import time as _real

_MASK = (1 << 30) - 1  # the ports' ticks period
# From the real clock on: the C part of asyncio (_asyncio) keys a new task
# with the real ticks_ms(), i.e. "now". Virtual time only runs ahead of the
# real one (an hour in about a minute), so such a task is due at once, as meant.
now_ms = _real.ticks_ms()
now_us = _real.ticks_us()
ticks_diff = _real.ticks_diff
ticks_add = _real.ticks_add


def ticks_ms():
    return now_ms


def ticks_us():
    return now_us


def ticks_cpu():
    return now_us


def advance(dt_ms):
    global now_ms, now_us
    now_ms = (now_ms + dt_ms) & _MASK
    now_us = (now_us + dt_ms * 1000) & _MASK


def sleep_ms(ms):
    if ms > 0:
        advance(ms)


def sleep_us(us):
    if us > 0:
        advance((us + 999) // 1000)


def sleep(s):
    advance(int(s * 1000))


def __getattr__(name):  # time(), localtime(), ...: the real ones
    return getattr(_real, name)
