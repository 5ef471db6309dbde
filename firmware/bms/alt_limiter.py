# The alternator port's current limiter: the soft-start reference and the
# command to the power stage. The stage is a synchronous buck with its own
# hardware average-current loop (docs/boards.md, "Alternator power stage"):
# the gate PWM is its current reference, 0..DUTY_MAX_CPCT for 0..REF_FULL_MA.
# The stage holds the current through System+ steps and voltage changes in
# microseconds; this loop only trims the stage's gain and offset against the
# port's own current sensor, and holds the starter above its floor. Integers
# only, allocation-free. docs/alternator.md, "The loop", explains every number.
import micropython
from micropython import const

DUTY_MAX_CPCT = const(10000)  # the gate's full duty: 100.00 % in 0.01 % steps
REF_FULL_MA = const(150000)  # the stage's current reference at full duty
_MA_PER_CPCT = const(15)  # REF_FULL_MA // DUTY_MAX_CPCT
_SOFT_START_MA_PER_S = const(25000)  # reference slope: 0 -> 100 A in 4 s
# Current sensor stuck at zero (or a dead stage): below STUCK_MA the loop
# may not command more than STUCK_DUTY (15 A), so a forward voltage with no
# current there is a fault, not a loop that has not got going (alternator.py).
STUCK_DUTY_CPCT = const(1000)
STUCK_MA = const(1000)
_STUCK_CMD_MA = const(15000)  # STUCK_DUTY_CPCT * _MA_PER_CPCT

# -- loop tuning
_FILTER_SHIFT = const(1)  # current filter: y += (x - y) >> 1 per tick
_KI_SHIFT = const(2)  # the trim integrator takes a quarter of the error per tick
_FLOOR_GAIN = const(6)  # mA of error per mV of starter voltage above its floor
# The stage's tolerance (docs/boards.md): gain within +-5 %, offset within
# +-0.5 A. The command stays within 1/16 + 1 A above the reference.
_TRIM_MAX_MA = const(1000)
# The stage cannot give what it is asked (no headroom: a full bank, thin
# wiring) when the current is further below its command than the stage's
# tolerance: the command then stops rising, so the current comes back at
# the target, not above it.
_SAT_MA = const(1000)  # plus 1/16 of the command
# The trim (command minus the current it gives) is learned at the target
# while the current is this close to it (plus 1/64 of it): in control.
_LEARN_MA = const(200)
# ... and while the stage has headroom: with its high-side switch held on
# (100 % duty) the starter, less the drop of its path (2.5 mOhm from the
# port terminal, docs/boards.md; 3 mOhm taken), is above the bank. Closer,
# its current no longer follows its reference.
_PATH_MA_PER_MV = const(333)  # 3 mOhm


class PiLimiter:
    """update(target_ma, dt, headroom_mv, forward_mv) -> duty, once per
    running tick; sample(alt_ma) on every tick with plausible port readings;
    stop() when the gate opens. `reached`: the reference is at the target;
    `follows`: the starter floor, the stuck cap or the stage's headroom
    holds the current below the target (the port follows the alternator)."""

    def __init__(self):
        self.duty_cpct = 0
        self.ref_ma = 0  # reference the loop follows (ramps up, drops at once)
        self.cmd_ma = 0  # the stage's current reference: ref_ma + trim
        self.filtered_ma = 0  # port current, filtered (and moved with the reference)
        self.reached = False
        self.follows = False
        self._trim = 0  # command - current at the target: the stage's error
        self._trim_ref = 0  # the reference it was learned at, 0: none yet

    def stop(self):
        """Gate open: duty, command and reference from zero (a new soft start)."""
        self.duty_cpct = 0
        self.cmd_ma = 0
        self.ref_ma = 0
        self._trim = 0
        self._trim_ref = 0

    def sample(self, alt_ma):
        self.filtered_ma += (alt_ma - self.filtered_ma) >> _FILTER_SHIFT

    @micropython.native
    def update(self, target_ma, dt, headroom_mv, forward_mv):
        """The duty for this tick; headroom_mv: starter voltage above its
        floor; forward_mv: starter less bank (this tick's sample)."""
        # the stage's headroom at its highest duty, from this tick's sample
        room_mv = forward_mv - self.filtered_ma // _PATH_MA_PER_MV
        ref = self.ref_ma + _SOFT_START_MA_PER_S * dt // 1000
        self.reached = ref >= target_ma
        if self.reached:
            ref = target_ma  # a lower target at once, a higher one at the slope
        # feed-forward: the stage follows its reference within a tick, so a
        # reference step (the ramp, a lower target) moves the command and the
        # expected current at once; the integrator only trims what is left
        old = self.ref_ma
        d = ref - old
        self.ref_ma = ref
        floor_e = headroom_mv * _FLOOR_GAIN
        if d > 0 and floor_e < ref - self.filtered_ma:
            # the starter floor is the smaller error: the ramp may push the
            # command no faster than the floor's own integrator would
            f = floor_e >> _KI_SHIFT
            d = 0 if f < 0 else (f if f < d else d)
        cmd = self.cmd_ma
        if d < -(old >> 5) and old > 0:
            # a lower target: scale the command (the stage's gain error
            # scales with it); cmd and the targets >> 4 keep it below 2**30
            cmd = (cmd >> 4) * (ref >> 4) // (old >> 4) << 4
        else:
            cmd += d
        i = self.filtered_ma + d
        self.filtered_ma = i
        e = ref - i
        # the starter floor: a second error, the smaller wins (a min-select
        # on one integrator: current and voltage control switch bumplessly)
        on_floor = floor_e < e
        if on_floor:
            e = floor_e
        # short: the stage gives less than asked, or, for want of headroom,
        # less than the target (beyond the learning band); sat: or it may
        # (then the command does not rise either)
        band = _LEARN_MA + (ref >> 6)
        sat = e > 0 and room_mv <= 0
        short = e > 0 and (i < cmd - (cmd >> 4) - _SAT_MA or (sat and e > band))
        sat = sat or short
        if e < 0 or not sat:
            cmd += e >> _KI_SHIFT
        if sat:
            # no headroom: the command the stage held this target with, so
            # the current comes back at the target when the headroom does;
            # without one learned near this target, one the stage's
            # tolerance cannot carry above it (the loop then brings it up)
            tr = self._trim_ref - ref
            if self._trim_ref and -(ref >> 4) <= tr <= ref >> 4:
                top = ref + self._trim
            else:
                top = ref - (ref >> 4) - _TRIM_MAX_MA
            if cmd > top:
                cmd = top
        elif self.reached and not on_floor and -band < e < band:
            # at the target and in control: the stage's error is what the
            # command needs above the current it gives (low-passed against
            # the sensor's noise)
            if self._trim_ref:
                self._trim += (cmd - i - self._trim) >> 2
            else:
                self._trim = cmd - i
            self._trim_ref = ref
        hi = ref + (ref >> 4) + _TRIM_MAX_MA
        tr = self._trim_ref - ref
        if self._trim_ref and -(ref >> 4) <= tr <= ref >> 4:
            # with a trim learned at this target the command needs no more
            # than it and the learning band: a headroom that shrinks slowly
            # (a bank filling) cannot wind it up for when it comes back
            top = ref + self._trim + band
            if top < hi:
                hi = top
        if cmd > hi:
            cmd = hi
        elif cmd < 0:
            cmd = 0
        # no current confirmed: the command stays low (a sensor stuck at
        # zero would otherwise take it to the top of the trim); a real
        # current this low means the alternator gives nothing or the bank
        # is full, so the port follows
        capped = i < STUCK_MA and cmd > _STUCK_CMD_MA
        if capped:
            cmd = _STUCK_CMD_MA
        self.cmd_ma = cmd
        u = cmd // _MA_PER_CPCT  # <= 107 A / 15: far below 2**30
        if u > DUTY_MAX_CPCT:
            u = DUTY_MAX_CPCT
        self.duty_cpct = u
        self.follows = on_floor or capped or short
        return u
