# State of charge of the bank by coulomb counting: seeded once from the bank
# voltage (assumed at rest at boot), re-synchronised to 100 % when a charge
# tails off at a high voltage. The controller counts every control tick
# (count()); the Instant Readout only reads it. Integers only,
# allocation-free, every product kept below 2^30 so it stays a small int on
# the boards.
from array import array

import micropython
from micropython import const
from bms.measure import CH_BAT, CH_ALT_I, CH_SYS_I

_MAMS_PER_MAH = const(3600000)  # mA*ms in one mAh
_CHUNK_MS = const(250)  # current * chunk stays below 2^30 up to 4000 A
_MAX_MA = const(4000000)
_MAX_GAP_MS = const(5000)  # a stalled caller counts at most this much time
_MASK = const(0x3FFFFFFF)  # bms/ticks.py
_HALF = const(0x20000000)
FULL_MV = const(13800)  # bank voltage that, with a tail current, means full
_FULL_HOLD_MS = const(60000)
TAIL_DIV = const(50)  # tail current = capacity / 50 (C/50)
TTG_MIN_MA = const(500)  # below this discharge (sensor noise) time-to-go is unknown

# Resting 4-cell LiFePO4 bank voltage (mV) -> SoC (0.1 %), ascending. The
# curve is flat in the middle: a seed from it is good to a few percent at best.
# The voltages are an array made from a list: frozen, an int beyond +-8191 in
# a constant tuple is a long int, and arithmetic on it allocates
# (drivers/analog.py).
OCV_MV = array("H", [10000, 12000, 12800, 13000, 13100, 13160, 13200, 13240, 13300, 13340,
                     13380, 13480, 13600])
OCV_PM = (0, 30, 100, 200, 300, 400, 500, 600, 700, 800, 900, 950, 1000)


def from_voltage(bank_mv):
    """SoC (0.1 %) of a bank at rest, linear between the OCV points."""
    mv = OCV_MV
    if bank_mv <= mv[0]:
        return 0
    for i in range(1, len(mv)):
        v1 = mv[i]
        if bank_mv < v1:
            v0 = mv[i - 1]
            s0 = OCV_PM[i - 1]
            return s0 + (bank_mv - v0) * (OCV_PM[i] - s0) // (v1 - v0)
    return 1000


_CURRENTS = CH_ALT_I | CH_SYS_I


class Soc:
    def __init__(self):
        self.known = False  # False until the first valid voltage
        self.cap_mah = 0
        self.remaining_mah = 0
        self.soc_pm = 0  # 0.1 %, 0..1000
        self.consumed_mah = 0  # taken out since full, >= 0
        self._frac = 0  # mA*ms not yet rolled into remaining_mah, 0.._MAMS_PER_MAH
        self._last_ms = 0
        self._full_ms = 0  # how long the "full" condition has held

    def _set_pm(self, pm):
        cap = self.cap_mah
        self.remaining_mah = (cap // 1000) * pm + (cap % 1000) * pm // 1000
        self._frac = 0

    def _set_capacity(self, cap_mah):
        pm = self.soc_pm
        self.cap_mah = cap_mah
        if self.known:
            self._set_pm(pm)
            self._publish()

    @micropython.native
    def count(self, now_ms, pack, meas, s):
        """The controller's call, every tick: the bank voltage (the batteries'
        mean once they report, else the Li-ion port) and the current of both
        ports, while those readings are fresh."""
        stale = meas.stale
        if stale & _CURRENTS:
            return
        if pack.seen:
            bank_mv = pack.pack_mv
        elif stale & CH_BAT:
            return
        else:
            bank_mv = meas.bat_mv
        current_ma = meas.alt_ma + meas.sys_ma
        cap = s.battery_capacity_ah * s.battery_count * 1000
        # The usual tick, counted here as step() counts it but without its
        # call and checks: a known charge below full, below the full
        # voltage, one chunk of time and no whole mAh moved (nothing to
        # clamp or publish; a current past _MAX_MA moves one in a
        # millisecond; checked first all the same, as step() clamps before
        # it multiplies: past 2^30 the product is a long int on the boards,
        # an allocation). Anything else goes through step().
        if (bank_mv < FULL_MV and cap == self.cap_mah and self.known
                and -_MAX_MA <= current_ma <= _MAX_MA):
            dt = ((now_ms - self._last_ms + _HALF) & _MASK) - _HALF
            if 0 <= dt <= _CHUNK_MS:
                frac = self._frac + current_ma * dt
                if 0 <= frac < _MAMS_PER_MAH and self.remaining_mah < cap:
                    self._last_ms = now_ms
                    self._frac = frac
                    self._full_ms = 0
                    return
        self.step(now_ms, bank_mv, current_ma, cap)

    def step(self, now_ms, bank_mv, current_ma, cap_mah):
        """Count charge since the last call; current + into the bank."""
        if cap_mah <= 0:
            return
        if cap_mah != self.cap_mah:
            self._set_capacity(cap_mah)
        if not self.known:
            if bank_mv <= 0:
                return
            self._set_pm(from_voltage(bank_mv))
            self.known = True
            self._last_ms = now_ms
            self._publish()
            return
        dt = ((now_ms - self._last_ms + _HALF) & _MASK) - _HALF  # ticks.diff, inlined
        self._last_ms = now_ms
        if dt < 0:
            dt = 0
        elif dt > _MAX_GAP_MS:
            dt = _MAX_GAP_MS
        i = current_ma
        if i > _MAX_MA:
            i = _MAX_MA
        elif i < -_MAX_MA:
            i = -_MAX_MA
        rem = self.remaining_mah
        frac = self._frac
        if dt <= _CHUNK_MS:  # every control tick: one chunk
            frac += i * dt
            if not 0 <= frac < _MAMS_PER_MAH:
                q = frac // _MAMS_PER_MAH  # floor: frac stays in 0.._MAMS_PER_MAH
                frac -= q * _MAMS_PER_MAH
                rem += q
        else:
            left = dt
            while left > 0:
                part = _CHUNK_MS if left > _CHUNK_MS else left
                left -= part
                frac += i * part
                q = frac // _MAMS_PER_MAH
                frac -= q * _MAMS_PER_MAH
                rem += q
        cap = self.cap_mah
        if rem >= cap:
            rem = cap
            frac = 0
        elif rem < 0:
            rem = 0
            frac = 0
        if bank_mv >= FULL_MV and 0 <= current_ma <= cap // TAIL_DIV:
            self._full_ms += dt
            if self._full_ms >= _FULL_HOLD_MS:
                self._full_ms = _FULL_HOLD_MS  # a float charge can last past 2**30 ms
                rem = cap
                frac = 0
        else:
            self._full_ms = 0
        self._frac = frac
        if rem != self.remaining_mah:  # (the figures only move with whole mAh)
            self.remaining_mah = rem
            self._publish()

    def _publish(self):
        # floor(remaining * 1000 / cap) one decimal digit at a time, so no
        # product exceeds 10 * cap (a 50 x 1000 Ah bank: 5e8 < 2^30)
        cap = self.cap_mah
        r = self.remaining_mah
        pm = r // cap
        r -= pm * cap
        for _ in range(3):
            r *= 10
            d = r // cap
            r -= d * cap
            pm = pm * 10 + d
        self.soc_pm = pm
        self.consumed_mah = cap - self.remaining_mah

    def ttg_min(self, current_ma):
        """Minutes until empty at this current; -1 when not discharging."""
        if current_ma > -TTG_MIN_MA or not self.known:
            return -1
        i = -current_ma if current_ma > -_MAX_MA else _MAX_MA
        rem = self.remaining_mah
        return (rem // i) * 60 + (rem % i) * 60 // i
