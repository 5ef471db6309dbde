# Alternator/Starter port: the combiner state machine, run from a table like
# protection's UV table. Its parts: the target (Target: port rating, MOSFET
# derating, protection's cap, alternator protection), the plausibility
# checks (PortChecks) and the PWM current limiter (alt_limiter.py). One
# step() per control tick; integers only, allocation-free. Currents are +
# into the lithium bank. docs/alternator.md.
import micropython
from micropython import const

from bms.ticks import MASK
from bms.fet_thermal import MIN_DDEGC, MAX_DDEGC, derate
from bms.measure import CH_BAT, CH_START, CH_ALT_I, CH_SYS_I, CH_FET
from bms.alt_limiter import PiLimiter, STUCK_DUTY_CPCT, STUCK_MA

# -- states
OFF = const(0)  # not allowed (ATC / remote) or MOSFETs too hot
WAITING = const(1)  # waiting for starter voltage (on level + on delay)
RAMPING = const(2)  # soft start: the reference climbs to the target
LIMITING = const(3)  # current held at the target by the loop
FOLLOWING = const(4)  # alternator gives less than the target; starter kept above its floor
REVERSE_BLOCKED = const(5)  # starter at or below the bank, or current reversing
FAULT = const(6)  # implausible measurement or loop failure: gate open
STATE_NAMES = ("off", "waiting", "ramping", "limiting", "following", "reverse_blocked", "fault")
_ANY = const(0x7F)
_RUNNING = const(1 << RAMPING | 1 << LIMITING | 1 << FOLLOWING)

# -- conditions of the table
_C_TRUE = const(0)
_C_IMPLAUSIBLE = const(1)  # a reading no healthy port gives (PortChecks)
_C_FAULT_HELD = const(2)  # not yet 5 s of plausible readings (latched: and not released)
_C_NOT_PERMITTED = const(3)  # protection says no, or the MOSFETs are at the trip level
_C_REVERSE = const(4)  # current out of the bank, or about to reverse (ideal diode)
_C_FORWARD = const(5)  # starter above the bank again, or below the off level (engine stopped)
_C_NOT_ENGAGED = const(6)  # starter not above the on level and the bank for the on delay
_C_SAGGED = const(7)  # starter below the off level for the off delay

# -- actions: every row but a GO row ends the tick with the gate open
_A_STOP = const(0)
_A_GO = const(1)  # go on with the next rows
_A_LATCH = const(2)  # record the faults; no target
_A_HOLD = const(3)  # the faults still hold (no target since the fault)
_A_CLEAR = const(4)  # faults forgotten; go on
_A_BLOCK = const(5)  # no target: protection's or the MOSFET trip's

# from (bit mask of states), condition, to, action. Rows are tried in order
# and every one whose state and condition match fires; a tick that passes
# them all runs the limiter: ramping until the reference reaches the target,
# then limiting, or following while the starter floor or the stuck cap (or
# full duty) keeps the current below the target.
PORT_TABLE = (
    (_ANY, _C_IMPLAUSIBLE, FAULT, _A_LATCH),
    (1 << FAULT, _C_FAULT_HELD, FAULT, _A_HOLD),
    (1 << FAULT, _C_TRUE, WAITING, _A_CLEAR),
    (_ANY, _C_NOT_PERMITTED, OFF, _A_BLOCK),
    (1 << OFF, _C_TRUE, WAITING, _A_GO),
    (_RUNNING, _C_REVERSE, REVERSE_BLOCKED, _A_STOP),  # one way only: no delay
    (1 << REVERSE_BLOCKED, _C_FORWARD, WAITING, _A_GO),
    (1 << REVERSE_BLOCKED, _C_TRUE, REVERSE_BLOCKED, _A_STOP),
    (1 << WAITING, _C_NOT_ENGAGED, WAITING, _A_STOP),
    (1 << WAITING, _C_TRUE, RAMPING, _A_GO),
    (_RUNNING, _C_SAGGED, WAITING, _A_STOP),
)


def _compile():
    # derived once from the table: the rows of each state, each row as
    # (condition, to, action, rows of its new state below it) for a row that
    # goes on, else no rows. step() walks these without indexing the table.
    n = len(PORT_TABLE)
    of = [[i for i in range(n) if PORT_TABLE[i][0] >> st & 1] for st in range(len(STATE_NAMES))]
    built = []  # row i at built[n - 1 - i]
    for i in range(n - 1, -1, -1):  # a row's next rows are below it: built first
        _, c, to, a = PORT_TABLE[i]
        nxt = tuple(built[n - 1 - j] for j in of[to] if j > i) if a == _A_GO or a == _A_CLEAR else ()
        built.append((c, to, a, nxt))
    return tuple(tuple(built[n - 1 - i] for i in rows) for rows in of)


_ROWS_OF = _compile()

_FORWARD_MARGIN_MV = const(50)  # starter must exceed the bank by this to (re)start
_REVERSE_MA = const(1000)  # one raw sample below -1 A blocks at once
# Ideal-diode anticipation: a forward voltage this small (or none) with this
# little current means the next tick may reverse (engine stopping): open now.
_DIODE_MV = const(20)
_DIODE_MA = const(5000)
_FLOOR_MARGIN_MV = const(100)  # starter floor = alt_off_mv + this, held by the loop
_MAX_DT_MS = const(1000)
_HALF = const(0x20000000)  # ticks.diff's half range


# -- the target current: the port rating, MOSFET derating, protection's cap
# and alternator protection (docs/alternator.md, "Target"). The rating is
# computed here and nowhere else. What sets the target (limit reason):
_LR_NONE = const(0)  # port off: no target
_LR_FUSE = const(1)  # 90 % of the fuse rating
_LR_PORT_MAX = const(2)  # the port's 100 A maximum
_LR_FET_TEMP = const(3)  # MOSFET thermal derating
_LR_FET_TRIP = const(4)  # MOSFETs at the trip temperature: port off
_LR_PROTECTION = const(5)  # protection's cap (cell near a limit) or ATC/remote off
_LR_ALT_PROTECT = const(6)  # alternator protection after a long time at full output
LIMIT_NAMES = ("none", "fuse", "port_max", "fet_temp", "fet_trip", "protection", "alt_protect")

_PORT_MAX_MA = const(100000)
_FUSE_PCT = const(90)
_FULL_OUTPUT_PCT = const(95)  # at or above this share of the target counts as full output


def rating_ma(fuse_a):
    """The port's rating: 90 % of the fuse, at most the port's 100 A
    (protection's cap starts from it too)."""
    lim = fuse_a * (10 * _FUSE_PCT)
    return _PORT_MAX_MA if lim > _PORT_MAX_MA else lim


class Target:
    def __init__(self, settings):
        self.settings = settings
        self.ma = 0
        self.reason = _LR_NONE
        self.heat_ms = 0  # alternator-protection timer
        self.reduced = False
        self._rating = 0  # rating_ma of the fuse setting, and what sets it
        self._rating_reason = _LR_NONE
        self._ver = -1  # the settings version they were computed for
        # ma is stale for its other inputs (the port keys the MOSFET reading,
        # the cap and the settings): set by off() and a change of `reduced`
        self.due = True

    @micropython.native
    def update(self, fet, cap):
        """The target at MOSFET temperature fet and protection's cap (0 or
        less: none)."""
        self.due = False
        s = self.settings
        if s.version != self._ver:
            self._ver = s.version
            self._rating = rating_ma(s.alt_fuse_a)
            # no fuse size gives 100 A at 90 %
            self._rating_reason = _LR_PORT_MAX if self._rating == _PORT_MAX_MA else _LR_FUSE
        lim = self._rating
        reason = self._rating_reason
        if fet > s.fet_derate_dc:  # (the curve's start: saves the call below it)
            d = derate(lim, fet, s)
            if d < lim:
                lim = d
                reason = _LR_FET_TEMP
        if 0 < cap < lim:
            lim = cap
            reason = _LR_PROTECTION
        if self.reduced:
            r = lim * s.alt_protect_pct // 100
            if r < lim:
                lim = r
                reason = _LR_ALT_PROTECT
        self.ma = lim
        self.reason = reason

    def off(self, reason):
        self.ma = 0
        self.reason = reason
        self.due = True

    def heat(self, dt, limiting, following, i_ma):
        """Alternator protection: heat_ms counts time at full output
        (limiting, or following at _FULL_OUTPUT_PCT of the target or more)
        and counts down otherwise (the alternator cools)."""
        s = self.settings
        if not s.alt_protect:
            self.heat_ms = 0
            if self.reduced:
                self.reduced = False
                self.due = True
            return
        if limiting or (following and i_ma * 100 >= self.ma * _FULL_OUTPUT_PCT):
            if not self.reduced:
                after_ms = s.alt_protect_after_s * 1000
                self.heat_ms += dt
                if self.heat_ms >= after_ms:
                    self.heat_ms = after_ms
                    self.reduced = True
                    self.due = True
        else:
            self.heat_ms -= dt
            if self.heat_ms <= 0:
                self.heat_ms = 0
                if self.reduced:
                    self.reduced = False
                    self.due = True


# -- the plausibility checks: readings no healthy port gives, and the fault
# timers of a broken power path (docs/alternator.md, "Faults"). Any fault
# opens the gate at once; the port clears it after _FAULT_CLEAR_MS of
# plausible readings. Fault bits:
F_INVALID = const(1)  # a reading the port uses is stale
_F_CURRENT_RANGE = const(2)  # current beyond the sensor range
F_VOLTAGE_RANGE = const(4)  # starter or bank voltage reading impossible
_F_TEMP_RANGE = const(8)  # MOSFET temperature reading impossible
F_LEAK = const(16)  # current with the gate open: sensor offset or shorted MOSFET
F_STUCK = const(32)  # no current with the gate driven and a forward voltage
F_OVERCURRENT = const(64)  # filtered current far above the fuse rating: loop failed
FAULT_NAMES = ("invalid", "current_range", "voltage_range", "temp_range", "leak", "stuck",
               "overcurrent")
# Faults that may come from a broken power path rather than a noisy reading:
# they stay latched until the port is switched off or the engine stops.
_LATCHED = const(F_STUCK | F_OVERCURRENT)
# the channels the port reads (the remote terminals are not among them)
PORT_CHANNELS = CH_BAT | CH_START | CH_ALT_I | CH_SYS_I | CH_FET

_SENSOR_MAX_MA = const(200000)
_BAT_MIN_MV = const(8000)
_BAT_MAX_MV = const(17500)
# below the 20 V full scale of the port dividers (docs/boards.md): a divider
# whose low side opened reads full scale, which must not look like an engine
_START_MAX_MV = const(19000)
_LEAK_MA = const(3000)
LEAK_MS = const(500)
# Stuck: at or above the limiter's STUCK_DUTY a forward voltage of
# _STUCK_DV_MV with less than STUCK_MA is impossible. A real current that low
# at 10 % duty needs the starter within ~0.15 V of the bank (10-15 mOhm path).
_STUCK_DV_MV = const(300)
_STUCK_MS = const(200)
_OVERCURRENT_PCT = const(125)  # of the fuse rating: far above any loop transient
OVERCURRENT_MS = const(500)
_FAULT_CLEAR_MS = const(5000)


def _held(ms, cond, dt, limit):
    """How long cond has held; the count stops at its limit (in a lasting
    fault it would otherwise pass the small-int range after 12 days)."""
    if not cond:
        return 0
    return ms + dt if ms < limit else ms


class PortChecks:
    def __init__(self, settings):
        self.settings = settings
        self._leak_ms = 0
        self._stuck_ms = 0
        self._oc_ms = 0
        self._timing = False  # a fault timer above is running
        self._ok_ms = 0  # plausible readings since the last fault

    @micropython.native
    def check(self, stale, alt_ma, bat, start, fet, dt, i_ma, duty_cpct):
        """Fault bits found this tick, 0 when plausible. The readings come
        as the port read them (stale: its channels' stale bits); i_ma: the
        filtered port current; duty: the gate duty of the last tick."""
        if stale:
            self._ok_ms = 0
            return F_INVALID
        f = 0
        if alt_ma > _SENSOR_MAX_MA or alt_ma < -_SENSOR_MAX_MA:
            f = _F_CURRENT_RANGE
        if bat < _BAT_MIN_MV or bat > _BAT_MAX_MV or start < 0 or start > _START_MAX_MV:
            f |= F_VOLTAGE_RANGE
        if fet < MIN_DDEGC or fet > MAX_DDEGC:  # fet_thermal's plausible range
            f |= _F_TEMP_RANGE
        if duty_cpct == 0:
            leak = i_ma > _LEAK_MA or i_ma < -_LEAK_MA
            stuck = False
        else:
            leak = False
            stuck = (duty_cpct >= STUCK_DUTY_CPCT and -STUCK_MA < i_ma < STUCK_MA
                     and start - bat >= _STUCK_DV_MV)
        over = i_ma > self.settings.alt_fuse_a * (10 * _OVERCURRENT_PCT)
        if leak or stuck or over:
            self._timing = True
            self._leak_ms = _held(self._leak_ms, leak, dt, LEAK_MS)
            self._stuck_ms = _held(self._stuck_ms, stuck, dt, _STUCK_MS)
            self._oc_ms = _held(self._oc_ms, over, dt, OVERCURRENT_MS)
            f |= ((F_LEAK if self._leak_ms >= LEAK_MS else 0)
                  | (F_STUCK if self._stuck_ms >= _STUCK_MS else 0)
                  | (F_OVERCURRENT if self._oc_ms >= OVERCURRENT_MS else 0))
        elif self._timing:  # (the usual tick: no timer runs, none to stop)
            self._timing = False
            self._leak_ms = self._stuck_ms = self._oc_ms = 0
        if f:
            self._ok_ms = 0
        return f

    def held(self, fault, dt, released):
        """True while the faults in `fault` must keep the gate open:
        _FAULT_CLEAR_MS of plausible readings, and for a latched fault the
        port `released` (switched off, or the engine stopped) as well."""
        if not fault & _LATCHED or released:
            self._ok_ms += dt
        return self._ok_ms < _FAULT_CLEAR_MS


class AlternatorPort:
    def __init__(self, settings, fet):
        self.settings = settings
        self.fet = fet  # bms/fet_thermal.py, shared with protection
        self.state = OFF
        self.fault = 0  # latched fault bits (F_*)
        self.target = Target(settings)
        self.limiter = PiLimiter()
        self.checks = PortChecks(settings)
        self._last_ms = 0
        self._started = False
        self._on_ms = 0  # how long the enable condition has held
        self._off_ms = 0  # how long the starter has been below the off level
        # the inputs fet.trip() and the target were last worked out from
        self._fet = 0
        self._ver = -1
        self._cap = 0

    def _enter(self, state):
        # every state but ramping has the gate open; ramping starts from zero
        self.state = state
        self.limiter.stop()
        self._on_ms = 0
        self._off_ms = 0

    def reset(self):
        """Gate open, integrator cleared: after a failed control tick the next
        run starts from waiting with a new soft start (a fault stays latched)."""
        if self.state != OFF and self.state != FAULT:
            self._enter(WAITING)

    @micropython.native
    def step(self, now_ms, meas, protection):
        """Advance one control tick; returns the gate duty, 0..DUTY_MAX_CPCT."""
        if self._started:
            dt = ((now_ms - self._last_ms + _HALF) & MASK) - _HALF  # ticks.diff, inlined
            if dt < 0:
                dt = 0
            elif dt > _MAX_DT_MS:
                dt = _MAX_DT_MS
        else:
            dt = 0
            self._started = True
        self._last_ms = now_ms
        # each reading read once (attribute reads are the cost of a tick)
        stale = meas.stale & PORT_CHANNELS
        alt = meas.alt_ma
        start = meas.start_mv
        bat = meas.bat_mv
        fet = meas.fet_ddegc
        lim = self.limiter
        if not stale:
            lim.sample(alt)
        t = self.target
        s = self.settings
        st = self.state
        rows = _ROWS_OF[st]
        while rows:
            for c, to, a, nxt in rows:
                # the conditions, most frequent first
                if c == _C_IMPLAUSIBLE:
                    found = self.checks.check(stale, alt, bat, start, fet, dt, lim.filtered_ma,
                                              lim.duty_cpct)
                    hit = found != 0
                elif c == _C_NOT_PERMITTED:
                    # trip() and the target give the same on the same
                    # inputs: worked out again only when one moved
                    ver = s.version
                    moved = fet != self._fet or ver != self._ver
                    if moved:
                        self._fet = fet
                        self._ver = ver
                        self.fet.trip(fet)
                    hit = self.fet.tripped or not protection.alt_allowed
                    if not hit:  # a permitted port has a target
                        cap = protection.alt_limit_ma
                        if moved or cap != self._cap or t.due:
                            self._cap = cap
                            t.update(fet, cap)
                elif c == _C_NOT_ENGAGED:
                    if start <= s.alt_on_mv or start < bat + _FORWARD_MARGIN_MV:
                        self._on_ms = 0
                        hit = True
                    else:
                        self._on_ms += dt
                        hit = self._on_ms < s.alt_on_delay_ms
                elif c == _C_REVERSE:
                    # direction from the fast current reading; the voltages
                    # only while little flows: the bank's may be 40 ms old
                    # (a slow ADC), and a buck that carries 5 A forward has
                    # the starter above the bank whatever an old reading says
                    hit = (alt < -_REVERSE_MA
                           or (lim.filtered_ma < _DIODE_MA and start < bat + _DIODE_MV))
                elif c == _C_SAGGED:
                    if start < s.alt_off_mv:
                        self._off_ms += dt
                        hit = self._off_ms >= s.alt_off_delay_ms
                    else:
                        self._off_ms = 0
                        hit = False
                elif c == _C_FORWARD:
                    hit = start > bat or start < s.alt_off_mv
                elif c == _C_FAULT_HELD:
                    released = not protection.alt_allowed or start < s.alt_off_mv
                    hit = self.checks.held(self.fault, dt, released)
                else:
                    hit = True  # _C_TRUE
                if not hit:
                    continue
                heat_st = to
                if a != _A_STOP:  # (the usual row, waiting, stops: no action)
                    if a == _A_LATCH:
                        self.fault |= found
                        t.off(_LR_NONE)
                    elif a == _A_CLEAR:
                        self.fault = 0
                    elif a == _A_BLOCK:
                        t.off(_LR_FET_TRIP if self.fet.tripped else _LR_PROTECTION)
                        heat_st = st  # this tick still counts in the state it had
                if to != st:
                    self._enter(to)
                    st = to
                if a != _A_GO and a != _A_CLEAR:
                    # heat() with the port neither limiting nor following
                    # only counts a timer down: nothing to do at zero
                    if (heat_st == LIMITING or heat_st == FOLLOWING or t.heat_ms
                            or t.reduced):
                        t.heat(dt, heat_st == LIMITING, heat_st == FOLLOWING, lim.filtered_ma)
                    return 0
                rows = nxt  # go on with the new state's rows below this one
                break
            else:
                break
        # the starter's floor: its own level above the off level, and the
        # engage margin above the bank, so that the port's own load never
        # drags the starter into the off or the reverse rules (no chatter)
        headroom = start - s.alt_off_mv - _FLOOR_MARGIN_MV
        over_bank = start - bat - _FORWARD_MARGIN_MV
        if over_bank < headroom:
            headroom = over_bank
        duty_cpct = lim.update(t.ma, dt, headroom, start - bat)
        if lim.reached or st != RAMPING:
            st = FOLLOWING if lim.follows else LIMITING
        self.state = st
        t.heat(dt, st == LIMITING, st == FOLLOWING, lim.filtered_ma)
        return duty_cpct
