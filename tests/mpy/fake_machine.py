# A stand-in for the `machine` module on the unix port. Driver and board tests
# install() it (it records what the drivers do to pins, PWM, ADC, I2C and UART);
# the virtual board (tools/vboard.py) imports it as `machine` from outside its
# filesystem, where its WDT really fires: the armed watchdog and every feed go
# to the host over the channel named by $VBOARD_WDT, and the host resets the
# board (kills the process and boots main.py again) when the feeds stop.
# Everything else comes from the port's built-in `machine`.
import os
import sys
import time

_path = sys.path[:]
sys.path.clear()  # so that `machine` is the built-in, not this file
from machine import *  # noqa: E402,F401,F403
sys.path.extend(_path)
del _path

_LOG_KEEP = 512
_TX_KEEP = 4096


class Log:
    """What the drivers did to pins and PWM, in order, for "which pin moved
    first" checks: reads as a list of (what, id, value), the last _LOG_KEEP.
    Recorded without allocating: the control tick runs with the heap locked,
    and the C module this stands for takes nothing from the heap."""

    def __init__(self):
        self._what = [None] * _LOG_KEEP
        self._id = [None] * _LOG_KEEP
        self._v = [None] * _LOG_KEEP
        self._start = 0  # a ring: the oldest entry's slot
        self._n = 0  # entries kept

    def add(self, what, id, v):
        i = (self._start + self._n) % _LOG_KEEP
        self._what[i] = what
        self._id[i] = id
        self._v[i] = v
        if self._n == _LOG_KEEP:  # full: the oldest is overwritten
            self._start = (self._start + 1) % _LOG_KEEP
        else:
            self._n += 1

    def clear(self):
        self._start = self._n = 0

    def entries(self):
        slots = [(self._start + j) % _LOG_KEEP for j in range(self._n)]
        return [(self._what[i], self._id[i], self._v[i]) for i in slots]

    def __len__(self):
        return self._n

    def __getitem__(self, k):
        return self.entries()[k]

    def __eq__(self, other):
        return self.entries() == other


log = Log()

_TIMEOUT_MAX_MS = 8388  # the rp2 port's limit (the ESP32's is higher): the stricter one
_FEED = b"F"
_chan = None


def _send(msg):
    """One message to the virtual board's host; nothing outside a virtual board."""
    global _chan
    if _chan is None:
        path = os.getenv("VBOARD_WDT")
        if not path:
            return False
        _chan = open(path, "wb")
    _chan.write(msg)
    return True


class Pin:
    OUT = 1
    IN = 0
    PULL_UP = 2
    pins = {}

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self.pull = pull
        self._v = 0 if value is None else value
        Pin.pins[id] = self
        if value is not None:
            log.add("pin", id, value)

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = v
        log.add("pin", self.id, v)


class PWM:
    def __init__(self, pin, freq=0, duty_u16=0):
        self.pin = pin
        self.freq = freq
        self.u16 = duty_u16
        log.add("pwm", pin.id, duty_u16)

    def duty_u16(self, v=None):
        if v is None:
            return self.u16
        self.u16 = v
        log.add("pwm", self.pin.id, v)


class ADC:
    ATTN_11DB = 3
    levels = {}  # pin id -> read_u16 value

    def __init__(self, pin, atten=None):
        self.pin = pin

    def read_u16(self):
        return ADC.levels.get(self.pin.id, 0)


# the ADS1115's addresses and registers: their keys made once, and their
# registers made with the bus, so that the driver's reads and writes
# allocate nothing (as the C module's do; the tick runs with the heap locked)
_ADS_KEYS = [(a, r) for a in range(0x48, 0x4C) for r in range(4)]


def _key(addr, reg):
    if 0x48 <= addr < 0x4C and 0 <= reg < 4:
        return _ADS_KEYS[(addr - 0x48) * 4 + reg]
    return (addr, reg)


class I2C:
    regs = {}  # (addr, reg) -> the register's bytes

    def __init__(self, id, sda=None, scl=None, freq=0):
        self.id = id
        for k in _ADS_KEYS:
            if k not in I2C.regs:
                I2C.regs[k] = bytearray(2)

    def writeto_mem(self, addr, reg, buf):
        k = _key(addr, reg)
        cur = I2C.regs.get(k)
        if type(cur) is bytearray and len(cur) == len(buf):
            for i in range(len(buf)):
                cur[i] = buf[i]
        else:
            I2C.regs[k] = bytearray(buf)

    def readfrom_mem_into(self, addr, reg, buf):
        data = I2C.regs.get(_key(addr, reg), b"\x00\x00")
        for i in range(len(buf)):
            buf[i] = data[i]


class UART:
    def __init__(self, id, baudrate=115200, tx=None, rx=None, **kw):
        self.id = id
        self.baudrate = baudrate
        self.kw = kw
        self.rx = bytearray()
        self._tx = bytearray(_TX_KEEP)  # what was sent (the first _TX_KEEP bytes), without allocating
        self._tx_n = 0

    @property
    def tx(self):
        return self._tx[:self._tx_n]

    def any(self):
        return len(self.rx)

    def readinto(self, buf, n=None):
        n = min(len(buf) if n is None else n, len(self.rx))
        if n == 0:
            return None
        for i in range(n):
            buf[i] = self.rx[i]
        self.rx = self.rx[n:]
        return n

    def write(self, buf):
        n = self._tx_n
        for i in range(min(len(buf), _TX_KEEP - n)):
            self._tx[n + i] = buf[i]
        self._tx_n = min(n + len(buf), _TX_KEEP)
        return len(buf)


class WDT:
    """Armed at construction and never stopped, as on the ESP32 and rp2 ports."""

    armed = None  # the timeout of the armed watchdog, None until one is made
    fed = 0

    def __init__(self, id=0, timeout=5000):
        if id != 0:
            raise ValueError("WDT(%d) doesn't exist" % id)
        if not 0 < timeout <= _TIMEOUT_MAX_MS:
            raise ValueError("timeout must be 1..%d ms" % _TIMEOUT_MAX_MS)
        WDT.armed = timeout
        _send(b"A%d\n" % timeout)

    def feed(self):
        WDT.fed += 1
        _send(_FEED)


class Timer:
    """Software one-shot and periodic timers (the callback runs on a thread of
    its own: the unix REPL blocks in read(), so scheduled callbacks would wait
    for the next keystroke, unlike a board's)."""

    ONE_SHOT = 0
    PERIODIC = 1
    made = []  # every Timer, for tests

    def __init__(self, id=-1, mode=ONE_SHOT, period=-1, callback=None):
        self.id = id
        self.mode = self.period = self.callback = None
        self._gen = 0
        Timer.made.append(self)
        if period > 0:
            self.init(mode=mode, period=period, callback=callback)

    def init(self, mode=ONE_SHOT, period=-1, callback=None):
        self.deinit()
        self.mode = mode
        self.period = period
        self.callback = callback
        if callback is not None and os.getenv("VBOARD_WDT"):
            import _thread

            _thread.start_new_thread(self._run, (self._gen,))

    def deinit(self):
        self._gen += 1  # a running thread sees it and ends
        self.period = None

    def _run(self, gen):
        while gen == self._gen:
            end = time.ticks_add(time.ticks_ms(), self.period)
            while gen == self._gen and time.ticks_diff(end, time.ticks_ms()) > 0:
                time.sleep_ms(20)
            if gen == self._gen:
                self.callback(self)
                if self.mode == Timer.ONE_SHOT:
                    return


def reset():
    """Hard reset: on the virtual board the host restarts the process and never
    returns here; anywhere else the process ends."""
    if _send(b"R"):
        while True:
            time.sleep_ms(100)
    raise SystemExit("machine.reset()")


def install():
    sys.modules["machine"] = sys.modules[__name__]
