# System+ overcurrent: a continuous and a peak trip, retry after a pause,
# lockout after repeated trips (docs/protection.md, "System+ overcurrent").
# Two tiers feed the same policy: the hardware latch (meas.sys_oc: a
# comparator that opened the System+ MOSFETs within microseconds, reason
# SHORT_CIRCUIT) and these software limits on the shunt reading. The latch
# is re-armed only when the policy lets the port close again (`rearm`).
# Pure logic, integers only, allocation-free.
from micropython import const

from bms import reasons as R
from bms.ticks import AGE_MAX, diff

OC_CONT_MA = const(200000)  # above this for OC_CONT_MS: trip
OC_CONT_MS = const(1000)
OC_PEAK_MA = const(400000)  # above this: trip in the same tick
OC_RETRY_MS = const(10000)  # closed again after this
_OC_LOCK_TRIPS = const(3)  # the third trip in a row locks out
OC_FORGET_MS = const(60000)  # trips older than this are forgotten
_OC_OK = const(0)
_OC_TRIPPED = const(1)
_OC_LOCKED = const(2)


class Overcurrent:
    def __init__(self):
        self.state = _OC_OK
        self.trips = 0  # trips in the current series (lockout at _OC_LOCK_TRIPS)
        self.block = 0  # the System+ reason: OVERCURRENT, SHORT_CIRCUIT, OC_LOCKOUT or 0
        # the port may close again: the board re-arms its latch, then calls
        # rearmed(); until then the latch's old state is not a new trip
        self.rearm = True  # at boot: a latch set at power-up is no trip (the first tick re-arms it)
        self._trip_ms = 0  # last trip
        self._over = False
        self._over_ms = 0

    def clear(self):
        """Forget the trips and the lockout; the port may close again."""
        self.state = _OC_OK
        self.trips = 0
        self.block = 0
        self._over = False
        self.rearm = True

    def rearmed(self):
        """The board has re-armed its latch: from the next reading on, a set
        latch is a trip again."""
        self.rearm = False

    def wait_ms(self, now_ms):
        """ms until a timer of the policy can fire (<= 0: due now), AGE_MAX
        when none runs. Until then a step with the same inputs (sys_oc, the
        System+ current against OC_CONT_MA and OC_PEAK_MA, rearm) changes
        nothing, unless the last one left the tripped state: that one did
        not look at the inputs (Protection.step's quiet gate)."""
        st = self.state
        if st == _OC_TRIPPED:
            return OC_RETRY_MS - diff(now_ms, self._trip_ms)
        if st == _OC_OK:
            if self._over:
                return OC_CONT_MS - diff(now_ms, self._over_ms)
            if self.trips:
                return OC_FORGET_MS - diff(now_ms, self._trip_ms)
        return AGE_MAX

    def step(self, now_ms, meas):
        st = self.state
        if st == _OC_TRIPPED:
            if diff(now_ms, self._trip_ms) >= OC_RETRY_MS:
                self.state = _OC_OK
                self.block = 0
                self.rearm = True
            return
        if st == _OC_LOCKED:
            return
        if self.trips and diff(now_ms, self._trip_ms) >= OC_FORGET_MS:
            self.trips = 0
        if meas.sys_oc and not self.rearm:
            # the first tier has opened the port already: count it, and keep
            # the latch set until the retry (the gates follow block_sys)
            self._trip(now_ms, R.SHORT_CIRCUIT)
            return
        # the System+ shunt is on a native ADC channel read every tick (both
        # boards), so a slow ADC going stale must not blind this trip
        a = meas.sys_ma
        if a < 0:
            a = -a
        if a > OC_PEAK_MA:
            self._trip(now_ms, R.OVERCURRENT)
        elif a > OC_CONT_MA:
            if not self._over:
                self._over = True
                self._over_ms = now_ms
            elif diff(now_ms, self._over_ms) >= OC_CONT_MS:
                self._trip(now_ms, R.OVERCURRENT)
        else:
            self._over = False

    def _trip(self, now_ms, reason):
        self._over = False
        self.trips += 1
        self._trip_ms = now_ms
        if self.trips >= _OC_LOCK_TRIPS:
            self.state = _OC_LOCKED
            self.block = R.OC_LOCKOUT
        else:
            self.state = _OC_TRIPPED
            self.block = reason
