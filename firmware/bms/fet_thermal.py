# MOSFET heat: the one owner of what the BMS MOSFET temperature means. Its
# levels are the settings fet_derate_dc and fet_trip_dc. Each rule guards a
# different thing, so each keeps the hysteresis it was designed with
# (docs/protection.md, docs/alternator.md):
#
#   rule      on                              off                  acts on
#   derate    above derate: the port target   (no state)           alternator target
#             falls linearly to 0 A at trip
#   warning   at derate                       2 degC below derate  FET_DERATE warning (protection)
#   trip      at trip, one reading            5 degC below trip    alternator gate opens at once (port)
#   overtemp  at trip for 500 ms              below derate         BMS_OVERTEMP: alternator path, System+
#   level     derating / at trip, no state    -                    Instant Readout's alarm pair
#
# A reading outside MIN_DDEGC..MAX_DDEGC is no temperature (an open or
# shorted NTC): the port faults on it, and overtemp counts it, like a stale
# one, as at the trip level (the MOSFETs may be hot). Unifying the
# hysteresis would change what each guard does, so the rules stay apart and
# share one comparator.
from micropython import const

from bms.measure import CH_FET
from bms.ticks import diff, hold

MIN_DDEGC = const(-400)
MAX_DDEGC = const(1500)
WARN_HYST_DDEGC = const(20)  # the warning ends 2 degC below where it began (no chatter on noise)
_REARM_DDEGC = const(50)  # the port's trip re-arms 5 degC below it
OVERTEMP_MS = const(500)  # our own sensor on a noisy ADC: confirmed before it blocks


def derate(lim_ma, t, s):
    """The port's limit at MOSFET temperature t: lim_ma up to the derate
    level, then linear to 0 at the trip level."""
    if t > s.fet_derate_dc:
        d = lim_ma * (s.fet_trip_dc - t) // (s.fet_trip_dc - s.fet_derate_dc) if t < s.fet_trip_dc else 0
        if d < lim_ma:
            return d
    return lim_ma


def _hysteresis(on, t, at, below):
    """A comparator with hysteresis: on at t >= at, off at t < below."""
    if t >= at:
        return True
    if t < below:
        return False
    return on


def level(t, s):
    """0 below derate, 1 derating, 2 at the trip level (no hysteresis: the
    Instant Readout's alarm pair)."""
    if t >= s.fet_trip_dc:
        return 2
    if t >= s.fet_derate_dc:
        return 1
    return 0


class FetThermal:
    """The stateful rules of the table above; each consumer steps its own
    rule where it needs the verdict."""

    def __init__(self, settings):
        self.settings = settings
        self.warning = False
        self.tripped = False
        self.overtemp = False
        self._hot = False  # at the trip level, overtemp delay running
        self._hot_ms = 0

    def warn(self, meas):
        """FET_DERATE warning; a stale reading keeps the last verdict."""
        if not meas.stale & CH_FET:
            d = self.settings.fet_derate_dc
            self.warning = _hysteresis(self.warning, meas.fet_ddegc, d, d - WARN_HYST_DDEGC)
        return self.warning

    def trip(self, t):
        """The port's own trip, on a plausible reading."""
        # _hysteresis(tripped, t, trip, trip - _REARM_DDEGC), inlined: every tick
        trip = self.settings.fet_trip_dc
        if t >= trip:
            self.tripped = True
            return True
        if t < trip - _REARM_DDEGC:
            self.tripped = False
            return False
        return self.tripped

    def overtemp_idle(self):
        """The overtemp delay is not running: a step with the reading on the
        same side of each level (MIN/MAX_DDEGC, derate, trip) changes nothing."""
        return not self._hot

    def overtemp_step(self, now_ms, meas):
        """BMS_OVERTEMP: at the trip level for OVERTEMP_MS, held until below
        the derate level."""
        s = self.settings
        t = meas.fet_ddegc
        if meas.stale & CH_FET or t < MIN_DDEGC or t > MAX_DDEGC:
            t = s.fet_trip_dc
        if self.overtemp:
            if t < s.fet_derate_dc:
                self.overtemp = False
        elif t >= s.fet_trip_dc:
            if not self._hot:
                self._hot = True
                self._hot_ms = now_ms
            self._hot_ms = hold(now_ms, self._hot_ms)  # may wait out a data gap of any length
            if diff(now_ms, self._hot_ms) >= OVERTEMP_MS:
                self.overtemp = True
                self._hot = False
        else:
            self._hot = False
        return self.overtemp
