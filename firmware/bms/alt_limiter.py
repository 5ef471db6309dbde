# The alternator port's current limiter: the soft-start reference, an
# integer PI loop on the gate duty with gain scheduling, and the
# feed-forward on a System+ step or a lower target. Integers only,
# allocation-free. docs/alternator.md, "The loop", explains every number.
from micropython import const

DUTY_MAX_CPCT = const(10000)  # the gate's full duty: 100.00 % in 0.01 % steps
_SOFT_START_MA_PER_S = const(25000)  # reference slope: 0 -> 100 A in 4 s
# Current sensor stuck at zero (or an open MOSFET): below STUCK_MA the loop
# may not raise the duty past STUCK_DUTY, so a forward voltage with no
# current there is a fault, not a loop that has not got going (alt_faults.py).
STUCK_DUTY_CPCT = const(1000)
STUCK_MA = const(1000)

# -- loop tuning. Duty integrator kept in duty << 8.
_SHIFT = const(8)
_KP = const(12)  # duty units per mA error, / 256
_KI = const(6)  # duty units per mA error per tick, / 256
_FLOOR_GAIN = const(5)  # mA of error per mV of starter voltage above its floor
_FILTER_SHIFT = const(1)  # current filter: y += (x - y) >> 1 per tick
# Feed-forward on a System+ step (see sample()): the System+ current and the
# bank voltage must both move this much from one tick to the next.
_FF_SYS_MA = const(20000)
_FF_BAT_MV = const(10)
_FF_WAIT_TICKS = const(5)  # no new cut for this many ticks after one
_FF_HOLD_TICKS = const(5)  # integrator kept from falling this long after a feed-forward
_FF_DROP_SHIFT = const(5)  # a target drop above 1/32 of the reference is fed forward
# Gain scheduling: the plant gain is the on-current (current at 100 % duty),
# which depends on the bank and the wiring. The error is scaled by
# _ION_REF_MA / on-current so every bank sees the loop of the standard case.
_ION_REF_MA = const(250000)
_ION_MIN_DUTY_CPCT = const(500)  # below this the estimate is too noisy to update
_ION_MIN_MA = const(2000)
_GAIN_MIN = const(64)  # scale limits, / 256
_GAIN_MAX = const(1024)
_ACC_MAX = const(DUTY_MAX_CPCT << _SHIFT)


class PiLimiter:
    """update(target_ma, dt, headroom_mv) -> duty, once per running tick;
    sample(meas) on every tick with plausible port readings; stop() when the
    gate opens. `reached`: the reference is at the target; `follows`: the
    starter floor or the stuck cap holds the duty below what the current
    error asks (the port follows the alternator)."""

    def __init__(self):
        self.duty_cpct = 0
        self.ref_ma = 0  # reference the loop follows (ramps up, drops at once)
        self.filtered_ma = 0  # port current, filtered (and set by the feed-forward)
        self.reached = False
        self.follows = False
        self._acc = 0
        self._gain = 256  # error scale, / 256
        self._ff_cut = False  # feed-forward cut on a System+ step this tick
        self._ff_hold = 0  # ticks left with the integrator held from falling
        self._ff_wait = 0  # ticks left before another cut
        self._sys_ma = 0  # System+ current of the last tick
        self._start_mv = 0  # starter and bank voltages of the last tick
        self._bat_mv = 0
        self._ff_mv = 0  # feed-forward: gate headroom before a System+ step
        self._ff_new_mv = 0  # and with the bank voltage after it

    def stop(self):
        """Gate open: duty, integrator and reference from zero (a new soft start)."""
        self.duty_cpct = 0
        self._acc = 0
        self.ref_ma = 0

    def sample(self, meas):
        self.filtered_ma += (meas.alt_ma - self.filtered_ma) >> _FILTER_SHIFT
        # a System+ load step (or a charger dropping out) that pulled the
        # bank down: the feed-forward cuts the duty in this tick. Only this
        # direction (a rise lowers the current: harmless, left to the loop)
        # and at most every _FF_WAIT_TICKS: a load that comes and goes can
        # only lower the current, never raise it.
        ds = meas.sys_ma - self._sys_ma
        dv = meas.bat_mv - self._bat_mv
        self._sys_ma = meas.sys_ma
        self._ff_cut = False
        if self._ff_wait:
            self._ff_wait -= 1
        elif ds < -_FF_SYS_MA and dv < -_FF_BAT_MV:
            self._ff_cut = True
            self._ff_wait = _FF_WAIT_TICKS
            self._ff_hold = _FF_HOLD_TICKS + 1  # (counted down below)
            # headroom before the step, and with the new bank voltage
            self._ff_mv = self._start_mv - self._bat_mv
            self._ff_new_mv = self._start_mv - meas.bat_mv
        if self._ff_hold:
            self._ff_hold -= 1
        self._start_mv = meas.start_mv
        self._bat_mv = meas.bat_mv

    def update(self, target_ma, dt, headroom_mv):
        """The duty for this tick; headroom_mv: starter voltage above its floor."""
        ref = self.ref_ma + _SOFT_START_MA_PER_S * dt // 1000
        self.reached = ref >= target_ma
        if self.reached:
            old = self.ref_ma >> 4
            if target_ma < self.ref_ma - (self.ref_ma >> _FF_DROP_SHIFT) and old > 0:
                # a lower target: scale the duty and the current it predicts
                # with it at once (the gate's current is about proportional
                # to its duty) instead of a P kick that undershoots
                new = target_ma >> 4
                self._acc = (self._acc >> _SHIFT) * new // old << _SHIFT
                self.filtered_ma = (self.filtered_ma >> 4) * new // old << 4
                self._ff_hold = _FF_HOLD_TICKS
            ref = target_ma
        self.ref_ma = ref
        # -- the PI loop
        i = self.filtered_ma
        h = self._ff_mv
        if self._ff_cut and h > _FF_BAT_MV:
            # The gate's current is duty x headroom / path resistance and the
            # alternator's regulator brings the starter back to where it was:
            # scale the duty by the old headroom over the new one at once
            # (at most down to 1/8) and go on from the current it predicts.
            hn = self._ff_new_mv
            if hn > 8 * h:
                hn = 8 * h
            self._acc = (self._acc >> _SHIFT) * h // hn << _SHIFT
            self.filtered_ma = i = self.ref_ma
        else:
            d = self.duty_cpct
            if d >= _ION_MIN_DUTY_CPCT and i >= _ION_MIN_MA:
                # on-current = i * DUTY_MAX / d; gain = ION_REF / on-current
                g = _ION_REF_MA // (i // 64) * d // (DUTY_MAX_CPCT // 4)
                if g < _GAIN_MIN:
                    g = _GAIN_MIN
                elif g > _GAIN_MAX:
                    g = _GAIN_MAX
                self._gain = g
        e = self.ref_ma - i
        floor_e = headroom_mv * _FLOOR_GAIN
        on_floor = floor_e < e
        if on_floor:
            e = floor_e
        e = e * self._gain >> _SHIFT
        p = (e * _KP) >> _SHIFT
        # right after a feed-forward the plant is still settling toward the
        # new duty (the regulator's lag): the integrator may rise, not fall
        acc = self._acc + e * _KI
        if self._ff_hold and e < 0:
            acc = self._acc
        if self._ff_wait:
            # after a System+ cut the headroom model may be off either way
            # (an alternator at its limit does not bring the starter back):
            # a gentler proportional step, so its error is not overdone
            p >>= 1
        if acc > _ACC_MAX:
            acc = _ACC_MAX
        elif acc < 0:
            acc = 0
        u = (acc >> _SHIFT) + p
        # anti-windup: keep the old integrator when the output saturates in
        # the direction the error pushes
        if u >= DUTY_MAX_CPCT:
            u = DUTY_MAX_CPCT
            if e > 0:
                acc = self._acc
        elif u <= 0:
            u = 0
            if e < 0:
                acc = self._acc
        # no current confirmed: the duty stays low (a sensor stuck at zero
        # would otherwise take it to 100 %, 150 A and more on a stiff path,
        # before any voltage shows it); a real current this low means the
        # alternator gives nothing or the bank is full, so the port follows
        capped = i < STUCK_MA and u > STUCK_DUTY_CPCT
        if capped:
            u = STUCK_DUTY_CPCT
            if acc > STUCK_DUTY_CPCT << _SHIFT:
                acc = STUCK_DUTY_CPCT << _SHIFT
        self._acc = acc
        self.duty_cpct = u
        self.follows = on_floor or capped
        return u
