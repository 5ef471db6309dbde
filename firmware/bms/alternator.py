# Alternator/Starter port: the combiner state machine and the PWM current
# limiter. One step() per control tick; integers only, allocation-free.
# Currents are + into the lithium bank. docs/alternator.md explains the design.
from micropython import const

from bms import ticks
from bms import fet_thermal

DUTY_MAX = const(10000)  # 100.00 %

# -- states
OFF = const(0)  # not allowed (ATC / remote) or MOSFETs too hot
WAITING = const(1)  # waiting for starter voltage (on level + on delay)
RAMPING = const(2)  # soft start: the reference climbs to the target
LIMITING = const(3)  # current held at the target by the loop
FOLLOWING = const(4)  # alternator gives less than the target; starter kept above its floor
REVERSE_BLOCKED = const(5)  # starter at or below the bank, or current reversing
FAULT = const(6)  # implausible measurement or loop failure: gate open
STATE_NAMES = ("off", "waiting", "ramping", "limiting", "following", "reverse_blocked", "fault")

# -- what sets target_ma
LR_NONE = const(0)  # port off: no target
LR_FUSE = const(1)  # 90 % of the fuse rating
LR_PORT_MAX = const(2)  # the port's 100 A maximum
LR_FET_TEMP = const(3)  # MOSFET thermal derating
LR_FET_TRIP = const(4)  # MOSFETs at the trip temperature: port off
LR_PROTECTION = const(5)  # protection's cap (cell near a limit) or ATC/remote off
LR_ALT_PROTECT = const(6)  # alternator protection after a long time at full output
LIMIT_NAMES = ("none", "fuse", "port_max", "fet_temp", "fet_trip", "protection", "alt_protect")

# -- fault bits
F_INVALID = const(1)  # measurements not valid
F_CURRENT_RANGE = const(2)  # current beyond the sensor range
F_VOLTAGE_RANGE = const(4)  # starter or bank voltage reading impossible
F_TEMP_RANGE = const(8)  # MOSFET temperature reading impossible
F_LEAK = const(16)  # current with the gate open: sensor offset or shorted MOSFET
F_STUCK = const(32)  # no current with the gate driven and a forward voltage
F_OVERCURRENT = const(64)  # filtered current far above the fuse rating: loop failed
FAULT_NAMES = ("invalid", "current_range", "voltage_range", "temp_range", "leak", "stuck",
               "overcurrent")
# Faults that may come from a broken power path rather than a noisy reading:
# they stay latched until the port is switched off or the engine stops.
_LATCHED = const(F_STUCK | F_OVERCURRENT)

# -- thresholds
PORT_MAX_MA = const(100000)
FUSE_PCT = const(90)
FORWARD_MARGIN_MV = const(50)  # starter must exceed the bank by this to (re)start
REVERSE_MA = const(1000)  # one raw sample below -1 A blocks at once
# Ideal-diode anticipation: a forward voltage this small with this little
# current means the next tick may reverse (engine stopping), so open now.
DIODE_MV = const(20)
DIODE_MA = const(5000)
FLOOR_MARGIN_MV = const(100)  # starter floor = alt_off_mv + this, held by the loop
SOFT_START_MA_PER_S = const(25000)  # reference slope: 0 -> 100 A in 4 s
SENSOR_MAX_MA = const(200000)
BAT_MIN_MV = const(8000)
BAT_MAX_MV = const(17500)
# below the 20 V full scale of the port dividers (docs/boards.md): a divider
# whose low side opened reads full scale, which must not look like an engine
START_MAX_MV = const(19000)
LEAK_MA = const(3000)
LEAK_MS = const(500)
# Current sensor stuck at zero (or an open MOSFET): below STUCK_MA the loop
# may not raise the duty past STUCK_DUTY, and there a forward voltage of
# STUCK_DV_MV with no current is impossible. A real current that low at 10 %
# duty needs the starter within ~0.15 V of the bank (10-15 mOhm path).
STUCK_DUTY = const(1000)
STUCK_DV_MV = const(300)
STUCK_MA = const(1000)
STUCK_MS = const(200)
OVERCURRENT_PCT = const(125)  # of the fuse rating: far above any loop transient
OVERCURRENT_MS = const(500)
FAULT_CLEAR_MS = const(5000)
FULL_OUTPUT_PCT = const(95)  # at or above this share of the limit counts as full output


def rating_ma(fuse_a):
    """The port's rating, the one place it is computed: 90 % of the fuse,
    at most the port's 100 A (protection's cap starts from it too)."""
    lim = fuse_a * (10 * FUSE_PCT)
    return PORT_MAX_MA if lim > PORT_MAX_MA else lim

# -- loop tuning (see docs/alternator.md). Duty integrator kept in duty << 8.
_SHIFT = const(8)
KP = const(12)  # duty units per mA error, / 256
KI = const(6)  # duty units per mA error per tick, / 256
FLOOR_GAIN = const(5)  # mA of error per mV of starter voltage above its floor
FILTER_SHIFT = const(1)  # current filter: y += (x - y) >> 1 per tick
# Feed-forward on a System+ step (see _loop): the System+ current and the
# bank voltage must both move this much from one tick to the next.
FF_SYS_MA = const(20000)
FF_BAT_MV = const(10)
FF_WAIT_TICKS = const(5)  # no new cut for this many ticks after one
FF_HOLD_TICKS = const(5)  # integrator kept from falling this long after a feed-forward
FF_DROP_SHIFT = const(5)  # a target drop above 1/32 of the reference is fed forward
# Gain scheduling: the plant gain is the on-current (current at 100 % duty),
# which depends on the bank and the wiring. The error is scaled by
# ION_REF_MA / on-current so every bank sees the loop of the standard case.
ION_REF_MA = const(250000)
ION_MIN_DUTY = const(500)  # below this the estimate is too noisy to update
ION_MIN_MA = const(2000)
GAIN_MIN = const(64)  # scale limits, / 256
GAIN_MAX = const(1024)
_ACC_MAX = const(DUTY_MAX << _SHIFT)
_MAX_DT_MS = const(1000)


class AlternatorPort:
    def __init__(self, settings, fet):
        self.settings = settings
        self.fet = fet  # bms/fet_thermal.py, shared with protection
        self.state = OFF
        self.duty = 0
        self.target_ma = 0
        self.limit_ma = 0  # target before the soft-start reference
        self.ref_ma = 0  # reference the loop follows (ramps up, drops at once)
        self.alt_ma = 0  # filtered current
        self.limit_reason = LR_NONE
        self.fault = 0
        self.heat_ms = 0  # alternator-protection timer
        self.reduced = False
        self._acc = 0
        self._last_ms = 0
        self._started = False
        self._on_ms = 0  # how long the enable condition has held
        self._off_ms = 0  # how long the starter has been below the off level
        self._leak_ms = 0
        self._stuck_ms = 0
        self._oc_ms = 0
        self._ok_ms = 0  # plausible readings since the last fault
        self._gain = 256  # error scale, / 256
        self._ff_cut = False  # feed-forward cut on a System+ step this tick
        self._ff_hold = 0  # ticks left with the integrator held from falling
        self._ff_wait = 0  # ticks left before another cut
        self._sys_ma = 0  # System+ current of the last tick
        self._start_mv = 0  # starter and bank voltages of the last tick
        self._bat_mv = 0
        self._ff_mv = 0  # feed-forward: gate headroom before a System+ step
        self._ff_new_mv = 0  # and with the bank voltage after it

    # -- target
    def _limit(self, meas, protection):
        s = self.settings
        lim = rating_ma(s.alt_fuse_a)
        reason = LR_PORT_MAX if lim == PORT_MAX_MA else LR_FUSE  # no fuse size gives 100 A at 90 %
        d = fet_thermal.derate(lim, meas.fet_dc, s)
        if d < lim:
            lim = d
            reason = LR_FET_TEMP
        cap = protection.alt_limit_ma
        if 0 < cap < lim:
            lim = cap
            reason = LR_PROTECTION
        if self.reduced:
            r = lim * s.alt_protect_pct // 100
            if r < lim:
                lim = r
                reason = LR_ALT_PROTECT
        self.limit_reason = reason
        return lim

    def _protect_timer(self, dt, full_ma):
        """Alternator protection: heat_ms counts time at full output."""
        s = self.settings
        if not s.alt_protect:
            self.heat_ms = 0
            self.reduced = False
            return
        after_ms = s.alt_protect_after_s * 1000
        st = self.state
        if st == LIMITING or (st == FOLLOWING and self.alt_ma * 100 >= full_ma * FULL_OUTPUT_PCT):
            if not self.reduced:
                self.heat_ms += dt
                if self.heat_ms >= after_ms:
                    self.heat_ms = after_ms
                    self.reduced = True
        else:
            self.heat_ms -= dt
            if self.heat_ms <= 0:
                self.heat_ms = 0
                self.reduced = False

    # -- plausibility
    def _check(self, meas, dt):
        """Fault bits found this tick (0 when plausible)."""
        f = 0
        if not meas.valid:
            return F_INVALID
        if meas.alt_ma > SENSOR_MAX_MA or meas.alt_ma < -SENSOR_MAX_MA:
            f |= F_CURRENT_RANGE
        if not (BAT_MIN_MV <= meas.bat_mv <= BAT_MAX_MV and 0 <= meas.start_mv <= START_MAX_MV):
            f |= F_VOLTAGE_RANGE
        if not fet_thermal.plausible(meas.fet_dc):
            f |= F_TEMP_RANGE
        i = self.alt_ma
        # the fault timers stop at their limit: in a lasting fault they would
        # otherwise pass the small-int range after 12 days
        if self.duty == 0 and (i > LEAK_MA or i < -LEAK_MA):
            if self._leak_ms < LEAK_MS:
                self._leak_ms += dt
            if self._leak_ms >= LEAK_MS:
                f |= F_LEAK
        else:
            self._leak_ms = 0
        if (self.duty >= STUCK_DUTY and meas.start_mv - meas.bat_mv >= STUCK_DV_MV
                and -STUCK_MA < i < STUCK_MA):
            if self._stuck_ms < STUCK_MS:
                self._stuck_ms += dt
            if self._stuck_ms >= STUCK_MS:
                f |= F_STUCK
        else:
            self._stuck_ms = 0
        if i > self.settings.alt_fuse_a * (10 * OVERCURRENT_PCT):
            if self._oc_ms < OVERCURRENT_MS:
                self._oc_ms += dt
            if self._oc_ms >= OVERCURRENT_MS:
                f |= F_OVERCURRENT
        else:
            self._oc_ms = 0
        return f

    # -- loop
    def _loop(self, meas):
        i = self.alt_ma
        h = self._ff_mv
        if self._ff_cut and h > FF_BAT_MV:
            # The gate's current is duty x headroom / path resistance and the
            # alternator's regulator brings the starter back to where it was:
            # scale the duty by the old headroom over the new one at once
            # (at most down to 1/8) and go on from the current it predicts.
            hn = self._ff_new_mv
            if hn > 8 * h:
                hn = 8 * h
            self._acc = (self._acc >> _SHIFT) * h // hn << _SHIFT
            self.alt_ma = i = self.ref_ma
        else:
            d = self.duty
            if d >= ION_MIN_DUTY and i >= ION_MIN_MA:
                # on-current = i * DUTY_MAX / d; gain = ION_REF / on-current
                g = ION_REF_MA // (i // 64) * d // (DUTY_MAX // 4)
                if g < GAIN_MIN:
                    g = GAIN_MIN
                elif g > GAIN_MAX:
                    g = GAIN_MAX
                self._gain = g
        e = self.ref_ma - i
        floor_e = (meas.start_mv - self.settings.alt_off_mv - FLOOR_MARGIN_MV) * FLOOR_GAIN
        on_floor = floor_e < e
        if on_floor:
            e = floor_e
        e = e * self._gain >> _SHIFT
        p = (e * KP) >> _SHIFT
        # right after a feed-forward the plant is still settling toward the
        # new duty (the regulator's lag): the integrator may rise, not fall
        acc = self._acc + e * KI
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
        if u >= DUTY_MAX:
            u = DUTY_MAX
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
        capped = i < STUCK_MA and u > STUCK_DUTY
        if capped:
            u = STUCK_DUTY
            if acc > STUCK_DUTY << _SHIFT:
                acc = STUCK_DUTY << _SHIFT
        self._acc = acc
        self.duty = u
        return on_floor or capped

    def _open(self, state):
        self.state = state
        self.duty = 0
        self._acc = 0
        self.ref_ma = 0
        self._on_ms = 0
        self._off_ms = 0

    def reset(self):
        """Gate open, integrator cleared: after a failed control tick the next
        run starts from waiting with a new soft start (a fault stays latched)."""
        if self.state != OFF and self.state != FAULT:
            self._open(WAITING)

    def step(self, now_ms, meas, protection):
        """Advance one control tick; returns the gate duty 0..DUTY_MAX."""
        if self._started:
            dt = ticks.diff(now_ms, self._last_ms)
            if dt < 0:
                dt = 0
            elif dt > _MAX_DT_MS:
                dt = _MAX_DT_MS
        else:
            dt = 0
            self._started = True
        self._last_ms = now_ms
        s = self.settings
        if meas.valid:
            self.alt_ma += (meas.alt_ma - self.alt_ma) >> FILTER_SHIFT
            # a System+ load step (or a charger dropping out) that pulled the
            # bank down: the loop's feed-forward cuts the duty in this tick.
            # Only this direction (a rise lowers the current: harmless, left
            # to the loop) and at most every FF_WAIT_TICKS: a load that comes
            # and goes can only lower the current, never raise it.
            ds = meas.sys_ma - self._sys_ma
            dv = meas.bat_mv - self._bat_mv
            self._sys_ma = meas.sys_ma
            self._ff_cut = False
            if self._ff_wait:
                self._ff_wait -= 1
            elif ds < -FF_SYS_MA and dv < -FF_BAT_MV:
                self._ff_cut = True
                self._ff_wait = FF_WAIT_TICKS
                self._ff_hold = FF_HOLD_TICKS + 1  # (counted down below)
                # headroom before the step, and with the new bank voltage
                self._ff_mv = self._start_mv - self._bat_mv
                self._ff_new_mv = self._start_mv - meas.bat_mv
            if self._ff_hold:
                self._ff_hold -= 1
            self._start_mv = meas.start_mv
            self._bat_mv = meas.bat_mv
        st = self.state

        # faults first: any implausible reading opens the gate at once
        f = self._check(meas, dt)
        if f:
            self.fault |= f
            self._ok_ms = 0
            self.target_ma = 0
            self.limit_reason = LR_NONE
            if st != FAULT:
                self._open(FAULT)
            self._protect_timer(dt, 0)  # the alternator cools while the gate is open
            return 0
        if st == FAULT:
            latched = self.fault & _LATCHED
            if latched and (not protection.alt_allowed or meas.start_mv < s.alt_off_mv):
                latched = 0
            if not latched:
                self._ok_ms += dt
            if self._ok_ms < FAULT_CLEAR_MS:
                self._protect_timer(dt, 0)
                return 0
            self.fault = 0
            self._open(WAITING)
            st = WAITING

        tripped = self.fet.trip(meas.fet_dc)  # the MOSFET trip, re-armed below it
        if not protection.alt_allowed or tripped:
            self.target_ma = 0
            self.limit_reason = LR_FET_TRIP if tripped else LR_PROTECTION
            self._protect_timer(dt, 0)
            if st != OFF:
                self._open(OFF)
            return 0
        if st == OFF:
            self._open(WAITING)
            st = WAITING

        lim = self._limit(meas, protection)
        self.limit_ma = lim
        self.target_ma = lim
        start = meas.start_mv
        bat = meas.bat_mv
        running = st == RAMPING or st == LIMITING or st == FOLLOWING

        # one way only: no waiting, no delay
        if running and (start <= bat or meas.alt_ma < -REVERSE_MA
                        or (start < bat + DIODE_MV and self.alt_ma < DIODE_MA)):
            self._open(REVERSE_BLOCKED)
            self._protect_timer(dt, lim)
            return 0
        if st == REVERSE_BLOCKED:
            if start > bat or start < s.alt_off_mv:
                self._open(WAITING)
                st = WAITING
            else:
                self._protect_timer(dt, lim)
                return 0

        if st == WAITING:
            if start < s.alt_on_mv or start < bat + FORWARD_MARGIN_MV:
                self._on_ms = 0
                self._protect_timer(dt, lim)
                return 0
            self._on_ms += dt
            if self._on_ms < s.alt_on_delay_ms:
                self._protect_timer(dt, lim)
                return 0
            self.state = st = RAMPING
            self._off_ms = 0
            self.ref_ma = 0
            self._acc = 0

        # running: starter sagging below the off level for the off delay
        if start < s.alt_off_mv:
            self._off_ms += dt
            if self._off_ms >= s.alt_off_delay_ms:
                self._open(WAITING)
                self._protect_timer(dt, lim)
                return 0
        else:
            self._off_ms = 0

        # reference: rises at the soft-start slope, drops to the target at once
        ref = self.ref_ma + SOFT_START_MA_PER_S * dt // 1000
        if ref >= lim:
            old = self.ref_ma >> 4
            if lim < self.ref_ma - (self.ref_ma >> FF_DROP_SHIFT) and old > 0:
                # a lower target: scale the duty and the current it predicts
                # with it at once (the gate's current is about proportional
                # to its duty) instead of a P kick that undershoots
                new = lim >> 4
                self._acc = (self._acc >> _SHIFT) * new // old << _SHIFT
                self.alt_ma = (self.alt_ma >> 4) * new // old << 4
                self._ff_hold = FF_HOLD_TICKS
            ref = lim
            if st == RAMPING:
                st = LIMITING
        self.ref_ma = ref
        follows = self._loop(meas)
        if st != RAMPING:
            st = FOLLOWING if follows or self.duty == DUTY_MAX else LIMITING
        self.state = st
        self._protect_timer(dt, lim)
        return self.duty
