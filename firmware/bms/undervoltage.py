# The under-voltage sequence of protection: pre-alarm, load disconnect,
# low-power off and the ways back, as a table of transitions, and the
# charger detection its rows ask about. Pure logic, integers only,
# allocation-free. docs/protection.md explains every number.
import micropython
from micropython import const

from bms.measure import CH_BAT, CH_SYS, CH_ALT_I, CH_SYS_I
from bms.ticks import MASK, diff, hold

_HALF = const(0x20000000)  # ticks.diff's half range

# -- states (STATE_NAMES order)
BOOT = const(0)
_NORMAL = const(1)
PREALARM = const(2)
LOAD_OFF = const(3)
LOW_POWER = const(4)
STATE_NAMES = ("boot", "normal", "prealarm", "load_disconnect", "low_power_off")

# -- conditions of the state table
_C_SCANNED = const(0)  # every configured battery has reported once
_C_BELOW_EMERGENCY = const(1)  # min cell <= emergency floor
_C_BELOW_PREALARM = const(2)  # min cell <= pre-alarm level
_C_UV_AFTER_DELAY = const(3)  # min cell <= load disconnect and pre-alarm old enough
_C_ABOVE_PREALARM = const(4)  # min cell > pre-alarm + _PREALARM_HYST_MV
_C_RECOVERED = const(5)  # min cell > recovery level
_C_CHARGER = const(6)  # a charger seen for CHARGER_MS, cells above load disconnect,
#                       and no cut since a charger last brought the loads back
#                       (_CHARGER_PROBATION_MS): a charger smaller than the load
#                       must not switch the loads on and off for hours
_C_NO_CHARGE_LONG = const(7)  # in load disconnect for lowpower_delay_min
_C_WAKE = const(8)  # charger voltage, remote toggle, wake() or recovered

# -- actions of the state table
_A_NONE = const(0)
_A_CUT = const(1)  # load disconnect after the pre-alarm wait
_A_CUT_EMERGENCY = const(2)  # load disconnect at once
_A_CHARGER_BACK = const(3)  # loads back on a charger: probation starts
_A_RECOVERED = const(4)  # cells recovered: a charger may bring loads back again

# The rows of each state (STATE_NAMES order), each (condition, next state,
# action). Rows of the current state are tried in order; the first true
# condition fires; at most one transition per tick. Literals only: the table
# is one constant (in flash when frozen, no heap).
UV_TABLE = (
    ((_C_SCANNED, _NORMAL, _A_NONE),),  # boot
    ((_C_BELOW_EMERGENCY, LOAD_OFF, _A_CUT_EMERGENCY),
     (_C_BELOW_PREALARM, PREALARM, _A_NONE)),  # normal
    ((_C_BELOW_EMERGENCY, LOAD_OFF, _A_CUT_EMERGENCY),
     (_C_UV_AFTER_DELAY, LOAD_OFF, _A_CUT),
     (_C_ABOVE_PREALARM, _NORMAL, _A_NONE)),  # prealarm
    ((_C_RECOVERED, _NORMAL, _A_RECOVERED),
     (_C_CHARGER, _NORMAL, _A_CHARGER_BACK),
     (_C_NO_CHARGE_LONG, LOW_POWER, _A_NONE)),  # load_disconnect
    ((_C_WAKE, LOAD_OFF, _A_NONE),),  # low_power_off
)

_PREALARM_HYST_MV = const(50)
CHARGER_MV = const(500)  # System+ this far above the bank: a charger is there
CHARGER_MA = const(1000)  # or this much current into the bank on either port
CHARGER_MS = const(2000)  # held this long
_CHARGER_PROBATION_MS = const(600000)  # cut again within 10 min: charger no longer enough
CHARGER_CHANNELS = CH_BAT | CH_SYS | CH_ALT_I | CH_SYS_I
# the rows run at least this often even when nothing changed: every stamp is
# held (ticks.hold) long before it could age past AGE_MAX (3 days)
_REFRESH_MS = const(60000)


class UnderVoltage:
    def __init__(self, settings):
        self.settings = settings
        self.state = BOOT
        self.emergency = False  # the last cut was an emergency one
        self.charger = False  # a charger seen for CHARGER_MS
        self.charger_spent = False  # loads cut again soon after a charger brought them back
        self._charger_back = False
        self._charger_back_ms = 0
        self._since = 0  # when the current state was entered
        self._wake_req = False
        self._chg_raw = False
        self._chg_raw_ms = 0
        # the rows' gate: the inputs of the last run of the rows, and when a
        # timer of the current state (or the refresh) is due
        self._key = -1  # the inputs of the last run, packed (step)
        self._ver = -1
        self.due_ms = 0

    def wake(self):
        """Leave low-power off on the next step."""
        self._wake_req = True

    def charger_idle(self):
        """The charger detector's timer is not running (Protection.step's
        quiet gate): with the same inputs its verdict stands."""
        return self.charger or not self._chg_raw

    @micropython.native
    def step(self, now_ms, pack, meas, data_ok, remote_rose):
        # the charger detector, every tick: a charger seen for CHARGER_MS
        if meas.stale & CHARGER_CHANNELS or (meas.sys_mv < meas.bat_mv + CHARGER_MV
                                               and meas.sys_ma < CHARGER_MA
                                               and meas.alt_ma < CHARGER_MA):
            self._chg_raw = False
            self.charger = False
        else:
            if not self._chg_raw:
                self._chg_raw = True
                self._chg_raw_ms = now_ms
            self._chg_raw_ms = hold(now_ms, self._chg_raw_ms)  # charging may last weeks
            self.charger = diff(now_ms, self._chg_raw_ms) >= CHARGER_MS
        # The rows run again only when one of their inputs changed or a timer
        # is due; otherwise they would give the same verdict (no transition).
        # Inputs (key): the min cell, data_ok, pack.full_scan (boot), the
        # charger verdict, charger_spent (clear_alarms), a wake request or
        # remote edge; the settings (version); the state itself (a transition
        # makes the next tick due). Timers (due_ms): the pre-alarm's
        # disconnect delay, low-power off's delay and a refresh each
        # _REFRESH_MS. A delay already served stays served (the stamp is held),
        # so its row then depends on the inputs alone.
        v = pack.min_cell_mv  # a u16 of the battery reports: the key stays a small int
        key = (v << 6 | data_ok | pack.full_scan << 1 | self.charger << 2
               | self.charger_spent << 3 | remote_rose << 4 | self._wake_req << 5)
        s = self.settings
        # ticks.diff(now_ms, due_ms) < 0, inlined (this runs every tick)
        if (key == self._key and s.version == self._ver
                and ((now_ms - self.due_ms + _HALF) & MASK) < _HALF):
            return
        self._key = key
        self._ver = s.version
        # a state and a charger's probation can last for weeks
        self._since = hold(now_ms, self._since)
        if self._charger_back:
            self._charger_back_ms = hold(now_ms, self._charger_back_ms)
        wait = _REFRESH_MS
        st = self.state
        for row in UV_TABLE[st]:
            if self._cond(row[0], now_ms, pack, data_ok, remote_rose):
                self._fire(row[1], row[2], now_ms)
                wait = 0  # the new state's rows run on the next tick
                break
        else:
            if st == PREALARM:
                left = s.uv_disconnect_delay_s * 1000 - diff(now_ms, self._since)
            elif st == LOAD_OFF:
                left = s.lowpower_delay_min * 60000 - diff(now_ms, self._since)
            else:
                left = 0
            if 0 < left < wait:
                wait = left
        self.due_ms = (now_ms + wait) & MASK
        if self._wake_req or remote_rose:  # one-tick inputs: the next tick runs again
            self._wake_req = False
            self._key = -1

    def _cond(self, c, now_ms, pack, data_ok, remote_rose):
        s = self.settings
        if c == _C_SCANNED:
            return pack.full_scan
        if c == _C_NO_CHARGE_LONG:
            return diff(now_ms, self._since) >= s.lowpower_delay_min * 60000
        if c == _C_WAKE:
            if self._wake_req or remote_rose or self.charger:
                return True
        if not data_ok:
            return False  # no verdict on cell voltages without fresh data
        v = pack.min_cell_mv
        if c == _C_BELOW_EMERGENCY:
            return v <= s.cell_uv_emergency_mv
        if c == _C_BELOW_PREALARM:
            return v <= s.cell_prealarm_mv
        if c == _C_UV_AFTER_DELAY:
            return v <= s.cell_uv_mv and diff(now_ms, self._since) >= s.uv_disconnect_delay_s * 1000
        if c == _C_ABOVE_PREALARM:
            return v > s.cell_prealarm_mv + _PREALARM_HYST_MV
        if c == _C_CHARGER:
            # the charger must hold the cells above the cut level, or the
            # loads would be switched back onto a cell that is cut again
            return self.charger and v > s.cell_uv_mv and not self.charger_spent
        # _C_RECOVERED, and _C_WAKE on recovered cells
        return v > s.cell_uv_recover_mv

    def _fire(self, state, a, now_ms):
        self.state = state
        self._since = now_ms
        if a == _A_CUT or a == _A_CUT_EMERGENCY:
            self.emergency = a == _A_CUT_EMERGENCY
            if self._charger_back and diff(now_ms, self._charger_back_ms) < _CHARGER_PROBATION_MS:
                self.charger_spent = True
            self._charger_back = False
        elif a == _A_CHARGER_BACK:
            self._charger_back = True
            self._charger_back_ms = now_ms
        elif a == _A_RECOVERED:
            self.charger_spent = False
            self._charger_back = False
