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
# Current-limited start: an inverter's capacitors on System+ would draw
# thousands of amps through a MOSFET closing onto them (the hardware
# comparator trips, docs/boards.md). Every close of the discharge MOSFET
# from open spends START_MS in its driver's 80 A limit (`dsg_limit`), which
# charges a 3 kVA inverter's capacitors in a few ms; then it is fully on
# (the 400 A peak of the port again). The driver's own SOA timer (50 ms)
# sets the latch if the firmware leaves it in the limit.
#
# One table per MOSFET, its rows grouped by state; the rows of the current
# state are tried in order, the first true condition fires. Pure logic, integers only, allocation-free.
import micropython
from micropython import const

from bms.measure import CH_SYS_I
from bms.ticks import diff

# -- states (STATE_NAMES order)
OPEN = const(0)
START = const(1)  # discharge MOSFET on in its driver's current limit
ON = const(2)  # on: its own path is allowed
DIODE = const(3)  # on although its path is blocked: the other direction's current flows
STATE_NAMES = ("open", "start", "on", "diode")

# -- conditions
_C_ALLOWED = const(0)  # its own path allowed (ATC or ATD, and block_sys clear)
_C_DENIED = const(1)
_C_FLOWING = const(2)  # the other path allowed and its current >= DIODE_ON_MA
_C_FLOW_HELD = const(3)  # ... and held for _DIODE_ON_MS
_C_NO_FLOW = const(4)  # the other path blocked, or its current < DIODE_OFF_MA
_C_STARTED = const(5)  # START_MS in the limited start

# the rows of each state (STATE_NAMES order), each (condition, next);
# "flow" is the current in the direction the MOSFET's body diode conducts.
# Literals only: each table is one constant (in flash when frozen, no heap).
CHG_TABLE = (
    ((_C_ALLOWED, ON), (_C_FLOW_HELD, DIODE)),  # open
    (),  # start: only the discharge MOSFET starts limited
    ((_C_ALLOWED, ON),
     (_C_FLOWING, DIODE),  # blocked while the other way flows: stays closed for it
     (_C_DENIED, OPEN)),  # on
    ((_C_ALLOWED, ON), (_C_NO_FLOW, OPEN)),  # diode
)
# the same for the discharge MOSFET, but a close from open starts limited
DSG_TABLE = (
    ((_C_ALLOWED, START), (_C_FLOW_HELD, DIODE)),  # open
    ((_C_DENIED, OPEN), (_C_STARTED, ON)),  # start
    ((_C_ALLOWED, ON), (_C_FLOWING, DIODE), (_C_DENIED, OPEN)),  # on
    ((_C_ALLOWED, ON),  # charge current was flowing: the port is at the bank already
     (_C_NO_FLOW, OPEN)),  # diode
)

DIODE_ON_MA = const(2000)  # the body diode carries this much: close the MOSFET ...
_DIODE_ON_MS = const(1000)  # ... once it has for a second (no chatter on a current near it)
DIODE_OFF_MA = const(500)  # below this the MOSFET opens again, in the same tick
START_MS = const(30)  # in the driver's current limit before the discharge MOSFET is fully on
_NO_TIMER = const(0x10000000)


class _Fet:
    """One MOSFET of the pair and its table."""

    def __init__(self, table):
        self._rows = table
        self.state = OPEN
        self._since = 0  # entered START (read only there, which lasts START_MS)
        self._flow = False  # the other direction's current >= DIODE_ON_MA since _flow_ms
        self._flow_ms = 0

    def open(self):
        self.state = OPEN
        self._flow = False  # a diode close waits a whole _DIODE_ON_MS again

    @micropython.native
    def step(self, now_ms, allowed, other_ok, flow_ma):
        # flow_ma: current in the direction this MOSFET's body diode conducts
        flowing = other_ok and flow_ma >= DIODE_ON_MA
        if not flowing:
            self._flow = False
        elif not self._flow:
            self._flow = True
            self._flow_ms = now_ms
        for row in self._rows[self.state]:
            c = row[0]
            if c == _C_ALLOWED:
                hit = allowed
            elif c == _C_DENIED:
                hit = not allowed
            elif c == _C_FLOWING:
                hit = flowing
            elif c == _C_STARTED:
                hit = diff(now_ms, self._since) >= START_MS
            elif c == _C_FLOW_HELD:
                hit = flowing and diff(now_ms, self._flow_ms) >= _DIODE_ON_MS
            else:  # _C_NO_FLOW
                hit = not other_ok or flow_ma < DIODE_OFF_MA
            if hit:
                if row[1] != self.state:
                    self.state = row[1]
                    self._since = now_ms
                    return True
                return False
        return False

    def wait_ms(self, now_ms):
        """ms until a timer of this state can fire (<= 0: due now), else _NO_TIMER."""
        if self.state == START:
            return START_MS - diff(now_ms, self._since)
        if self.state == OPEN and self._flow:
            return _DIODE_ON_MS - diff(now_ms, self._flow_ms)
        return _NO_TIMER


class SysPort:
    def __init__(self):
        self.chg = _Fet(CHG_TABLE)
        self.dsg = _Fet(DSG_TABLE)
        self.chg_fet = False
        self.dsg_fet = False
        self.dsg_limit = False  # the discharge MOSFET's driver holds its 80 A limit

    @micropython.native
    def step(self, now_ms, atc, atd, block_sys, meas):
        """True when a MOSFET changed state (its new rows are due next tick)."""
        ok = block_sys == 0  # the port's own faults (overcurrent, MOSFET heat) open both
        i = 0 if meas.stale & CH_SYS_I else meas.sys_ma  # + = charging the bank
        may_chg = atc and ok
        may_dsg = atd and ok
        moved = self.chg.step(now_ms, may_chg, may_dsg, -i)  # its body diode passes discharge current
        if self.dsg.step(now_ms, may_dsg, may_chg, i):  # its body diode passes charge current
            moved = True
        self.chg_fet = self.chg.state != OPEN
        st = self.dsg.state
        self.dsg_fet = st != OPEN
        self.dsg_limit = st == START
        return moved

    def opened(self):
        """Both MOSFETs were opened behind the table's back (the controller's
        safe outputs): they close again from OPEN, the discharge one limited."""
        self.chg.open()
        self.dsg.open()
        self.chg_fet = self.dsg_fet = self.dsg_limit = False

    def wait_ms(self, now_ms):
        """ms until one of the MOSFETs' timers can fire (<= 0: due now)."""
        a = self.chg.wait_ms(now_ms)
        b = self.dsg.wait_ms(now_ms)
        return a if a < b else b
