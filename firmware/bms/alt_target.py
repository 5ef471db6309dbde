# The alternator port's target current: the port rating, MOSFET derating,
# protection's cap and alternator protection (docs/alternator.md, "Target").
# The rating is computed here and nowhere else. Integers, allocation-free.
from micropython import const

from bms.fet_thermal import derate

# -- what sets the target (limit reason)
LR_NONE = const(0)  # port off: no target
_LR_FUSE = const(1)  # 90 % of the fuse rating
_LR_PORT_MAX = const(2)  # the port's 100 A maximum
_LR_FET_TEMP = const(3)  # MOSFET thermal derating
LR_FET_TRIP = const(4)  # MOSFETs at the trip temperature: port off
LR_PROTECTION = const(5)  # protection's cap (cell near a limit) or ATC/remote off
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
        self.reason = LR_NONE
        self.heat_ms = 0  # alternator-protection timer
        self.reduced = False
        self._rating = 0  # rating_ma of the fuse setting, and what sets it
        self._rating_reason = LR_NONE
        self._ver = -1  # the settings version they were computed for
        # ma is stale for its other inputs (the port keys the MOSFET reading,
        # the cap and the settings): set by off() and a change of `reduced`
        self.due = True

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
            reason = LR_PROTECTION
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
