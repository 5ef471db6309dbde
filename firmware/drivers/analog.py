# Analog sense: scaled integer channels and the Sense object that fills the
# Measurements each tick. A source is anything with read_u16() -> 0..65535 over
# the 0..3.3 V ADC range (machine.ADC on both ports, or a channel of an
# external ADC, whose `ads` says which one: its values can go stale).
from array import array

import micropython
from micropython import const

_OVERSAMPLE = const(4)


class Linear:
    """value = (sum of 4 12-bit samples - zero) * num // den * mul.

    num, den and mul are chosen per channel so that every product stays below
    2**30 (16380 * num < 2**30): no bigint on the boards.
    """

    def __init__(self, source, num, den, zero=0, mul=1):
        self.ads = getattr(source, "ads", None)  # the external ADC it is on, or None
        self._read = source.read_u16  # bound once: calling it allocates nothing
        self._num = num
        self._den = den
        self._zero = zero
        self._mul = mul

    def read(self):
        r = self._read
        acc = 0
        for _ in range(_OVERSAMPLE):
            acc += r() >> 4
        return (acc - self._zero) * self._num // self._den * self._mul


def voltage(source, full_scale_mv):
    """A divider whose 3.3 V tap means full_scale_mv at the terminal."""
    return Linear(source, full_scale_mv, 4 * 4095)


def current(source, full_scale_a):
    """A bidirectional current sensor centred at half scale: +-full_scale_a.

    Result in mA, in 10 mA steps (keeps the product below 2**30).
    """
    return Linear(source, full_scale_a * 100, 2 * 4095, zero=2 * 4095, mul=10)


# 10k B3950 NTC to ground with a 10k pull-up: read_u16 and 0.1 degC, falling.
# The readings are an array made from a list, not a tuple: frozen into a
# firmware image, an int beyond +-8191 in a constant tuple is a long int
# (tools/mpy-tool.py freezes for the smallest target), and arithmetic on it
# allocates, every tick (tests/test_frozen_ints.py).
_NTC_RAW = array("H", [63944, 62417, 59855, 55932, 50511, 43816, 36454, 29202, 22706,
                       17306, 13049, 9807, 7387, 5596, 4273, 3293, 2563, 2015])
_NTC_DDEGC = (-400, -300, -200, -100, 0, 100, 200, 300, 400, 500, 600, 700, 800, 900,
              1000, 1100, 1200, 1300)

# Beyond the table ends the sensor is open (pulled to 3.3 V) or shorted: the
# reading is one no MOSFET can have, so every range check rejects it.
NTC_OPEN_DDEGC = const(-1000)
NTC_SHORT_DDEGC = const(3000)


class Ntc:
    """Thermistor channel: piecewise-linear over the table, in 0.1 degC."""

    def __init__(self, source):
        self.ads = getattr(source, "ads", None)
        self._read = source.read_u16

    @micropython.native
    def read(self):
        raw = self._read()
        t = _NTC_RAW
        if raw > t[0]:
            return NTC_OPEN_DDEGC
        for i in range(1, len(t)):
            hi_raw = t[i]
            if raw >= hi_raw:
                lo_raw = t[i - 1]
                lo = _NTC_DDEGC[i - 1]
                return lo + (lo_raw - raw) * (_NTC_DDEGC[i] - lo) // (lo_raw - hi_raw)
        return NTC_SHORT_DDEGC


class Sense:
    """Fills a Measurements from eight channels (bms/measure.py CH_* order);
    `poll` advances the board's external ADCs once per read. A channel on an
    external ADC is stale while that ADC's values are (Ads1115.fresh): its
    bit in meas.stale is set, and only the logic that reads it reacts."""

    def __init__(self, bat, start, sys, alt_i, sys_i, fet, remote_l, remote_h, poll=None):
        chans = (bat, start, sys, alt_i, sys_i, fet, remote_l, remote_h)
        adcs = []
        masks = []
        for i in range(len(chans)):
            a = chans[i].ads
            if a is None:
                continue
            if a not in adcs:
                adcs.append(a)
                masks.append(0)
            masks[adcs.index(a)] |= 1 << i
        self._adcs = tuple(adcs)
        self._masks = tuple(masks)
        self.bat = bat
        self.start = start
        self.sys = sys
        self.alt_i = alt_i
        self.sys_i = sys_i
        self.fet = fet
        self.remote_l = remote_l
        self.remote_h = remote_h
        self._poll = poll

    def read(self, m):
        if self._poll is not None:
            self._poll()
        m.bat_mv = self.bat.read()
        m.start_mv = self.start.read()
        m.sys_mv = self.sys.read()
        m.alt_ma = self.alt_i.read()
        m.sys_ma = self.sys_i.read()
        m.fet_ddegc = self.fet.read()
        m.remote_l_mv = self.remote_l.read()
        m.remote_h_mv = self.remote_h.read()
        stale = 0
        for k in range(len(self._adcs)):
            if not self._adcs[k].fresh:
                stale |= self._masks[k]
        m.stale = stale
