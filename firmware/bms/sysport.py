# The System+ switch: which of the two back-to-back MOSFETs conduct, given
# the verdicts of protection (ATC, ATD, the port's own block_sys) and the
# current (docs/protection.md, "System+ MOSFETs").
#
# Ideal diode: with one path blocked, its MOSFET is off and the current of
# the other, allowed direction flows through that MOSFET's body diode:
# about 0.75 V, 150 W at 200 A. While that current flows the blocked MOSFET
# is closed (as LibreSolar bms-firmware does), and opened in the tick the
# current falls below DIODE_OFF_MA, before it can turn round.
#
# One table per MOSFET; the rows of the current state are tried in order,
# the first true condition fires. Pure logic, integers only, allocation-free.
from micropython import const

from bms.measure import CH_SYS_I
from bms.ticks import diff

# -- states (STATE_NAMES order)
OPEN = const(0)
ON = const(1)  # on: its own path is allowed
DIODE = const(2)  # on although its path is blocked: the other direction's current flows
STATE_NAMES = ("open", "on", "diode")

# -- conditions
_C_ALLOWED = const(0)  # its own path allowed (ATC or ATD, and block_sys clear)
_C_DENIED = const(1)
_C_FLOWING = const(2)  # the other path allowed and its current >= DIODE_ON_MA
_C_FLOW_HELD = const(3)  # ... and held for DIODE_ON_MS
_C_NO_FLOW = const(4)  # the other path blocked, or its current < DIODE_OFF_MA

# state, condition, next; the same table for either MOSFET, with the
# current in the direction its body diode conducts
FET_TABLE = (
    (OPEN, _C_ALLOWED, ON),
    (OPEN, _C_FLOW_HELD, DIODE),
    (ON, _C_ALLOWED, ON),
    (ON, _C_FLOWING, DIODE),  # blocked while the other way flows: stays closed for it
    (ON, _C_DENIED, OPEN),
    (DIODE, _C_ALLOWED, ON),
    (DIODE, _C_NO_FLOW, OPEN),
)


def _rows(table):
    return tuple(tuple(r for r in table if r[0] == st) for st in range(len(STATE_NAMES)))


_ROWS = _rows(FET_TABLE)

DIODE_ON_MA = const(2000)  # the body diode carries this much: close the MOSFET ...
DIODE_ON_MS = const(1000)  # ... once it has for a second (no chatter on a current near it)
DIODE_OFF_MA = const(500)  # below this the MOSFET opens again, in the same tick


class _Fet:
    """One MOSFET of the pair and its table."""

    def __init__(self):
        self.state = OPEN
        self._flow = False  # the other direction's current >= DIODE_ON_MA since _flow_ms
        self._flow_ms = 0

    def step(self, now_ms, allowed, other_ok, flow_ma):
        # flow_ma: current in the direction this MOSFET's body diode conducts
        flowing = other_ok and flow_ma >= DIODE_ON_MA
        if not flowing:
            self._flow = False
        elif not self._flow:
            self._flow = True
            self._flow_ms = now_ms
        for row in _ROWS[self.state]:
            c = row[1]
            if c == _C_ALLOWED:
                hit = allowed
            elif c == _C_DENIED:
                hit = not allowed
            elif c == _C_FLOWING:
                hit = flowing
            elif c == _C_FLOW_HELD:
                hit = flowing and diff(now_ms, self._flow_ms) >= DIODE_ON_MS
            else:  # _C_NO_FLOW
                hit = not other_ok or flow_ma < DIODE_OFF_MA
            if hit:
                self.state = row[2]
                return


class SysPort:
    def __init__(self):
        self.chg = _Fet()
        self.dsg = _Fet()
        self.chg_fet = False
        self.dsg_fet = False

    def step(self, now_ms, atc, atd, block_sys, meas):
        ok = block_sys == 0  # the port's own faults (overcurrent, MOSFET heat) open both
        i = 0 if meas.stale & CH_SYS_I else meas.sys_ma  # + = charging the bank
        may_chg = atc and ok
        may_dsg = atd and ok
        self.chg.step(now_ms, may_chg, may_dsg, -i)  # its body diode passes discharge current
        self.dsg.step(now_ms, may_dsg, may_chg, i)  # its body diode passes charge current
        self.chg_fet = self.chg.state != OPEN
        self.dsg_fet = self.dsg.state != OPEN
