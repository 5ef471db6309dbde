# The alternator port's plausibility checks: readings no healthy port gives,
# and the fault timers of a broken power path (docs/alternator.md, "Faults").
# Any fault opens the gate at once; the port clears it after _FAULT_CLEAR_MS
# of plausible readings. Integers only, allocation-free.
from micropython import const

from bms.fet_thermal import MIN_DDEGC, MAX_DDEGC
from bms.measure import CH_BAT, CH_START, CH_ALT_I, CH_SYS_I, CH_FET
from bms.alt_limiter import STUCK_DUTY_CPCT, STUCK_MA

# -- fault bits
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
STUCK_MS = const(200)
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
            self._stuck_ms = _held(self._stuck_ms, stuck, dt, STUCK_MS)
            self._oc_ms = _held(self._oc_ms, over, dt, OVERCURRENT_MS)
            f |= ((F_LEAK if self._leak_ms >= LEAK_MS else 0)
                  | (F_STUCK if self._stuck_ms >= STUCK_MS else 0)
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
