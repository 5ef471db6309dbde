# Protection: decides ATC / ATD every control tick, with the reason bits for
# every "not allowed", and the gate and output levels that follow from them.
# Pure logic, integers only, allocates nothing in step(). Numbers and tables
# are explained in docs/protection.md.
from array import array

from micropython import const

from bms import reasons as R
from bms.alt_target import rating_ma
from bms.ticks import MASK, diff, hold

# -- under-voltage sequence states (STATE_NAMES order)
BOOT = const(0)
NORMAL = const(1)
PREALARM = const(2)
LOAD_OFF = const(3)
LOW_POWER = const(4)
STATE_NAMES = ("boot", "normal", "prealarm", "load_disconnect", "low_power_off")

# -- conditions of the state table
C_SCANNED = const(0)  # every configured battery has reported once
C_BELOW_EMERGENCY = const(1)  # min cell <= emergency floor
C_BELOW_PREALARM = const(2)  # min cell <= pre-alarm level
C_UV_AFTER_DELAY = const(3)  # min cell <= load disconnect and pre-alarm old enough
C_ABOVE_PREALARM = const(4)  # min cell > pre-alarm + PREALARM_HYST_MV
C_RECOVERED = const(5)  # min cell > recovery level
C_CHARGER = const(6)  # a charger seen for CHARGER_MS, cells above load disconnect,
#                       and no cut since a charger last brought the loads back
#                       (CHARGER_PROBATION_MS): a charger smaller than the load
#                       must not switch the loads on and off for hours
C_NO_CHARGE_LONG = const(7)  # in load disconnect for lowpower_delay_min
C_WAKE = const(8)  # charger voltage, remote toggle, wake() or recovered

# -- actions of the state table
A_NONE = const(0)
A_CUT = const(1)  # load disconnect after the pre-alarm wait
A_CUT_EMERGENCY = const(2)  # load disconnect at once
A_CHARGER_BACK = const(3)  # loads back on a charger: probation starts
A_RECOVERED = const(4)  # cells recovered: a charger may bring loads back again

# state, condition, next state, action. Rows of the current state are tried
# in order; the first true condition fires; at most one transition per tick.
UV_TABLE = (
    (BOOT, C_SCANNED, NORMAL, A_NONE),
    (NORMAL, C_BELOW_EMERGENCY, LOAD_OFF, A_CUT_EMERGENCY),
    (NORMAL, C_BELOW_PREALARM, PREALARM, A_NONE),
    (PREALARM, C_BELOW_EMERGENCY, LOAD_OFF, A_CUT_EMERGENCY),
    (PREALARM, C_UV_AFTER_DELAY, LOAD_OFF, A_CUT),
    (PREALARM, C_ABOVE_PREALARM, NORMAL, A_NONE),
    (LOAD_OFF, C_RECOVERED, NORMAL, A_RECOVERED),
    (LOAD_OFF, C_CHARGER, NORMAL, A_CHARGER_BACK),
    (LOAD_OFF, C_NO_CHARGE_LONG, LOW_POWER, A_NONE),
    (LOW_POWER, C_WAKE, LOAD_OFF, A_NONE),
)

PREALARM_HYST_MV = const(50)
# after a loss, battery data must be good this long before the paths reopen:
# a flaky cable, or a replayed report that matches the scan number once per
# 256 scans, must not pulse the gates for a scan
DATA_RECOVER_MS = const(1000)
CHARGER_MV = const(500)  # System+ this far above the bank: a charger is there
CHARGER_MA = const(1000)  # or this much current into the bank on either port
CHARGER_MS = const(2000)  # held this long
CHARGER_PROBATION_MS = const(600000)  # cut again within 10 min: charger no longer enough
PREALARM_PERIOD_MS = const(2000)  # intermittent pre-alarm: 1 s on, 1 s off
PREALARM_ON_MS = const(1000)

# -- System+ overcurrent
OC_CONT_MA = const(200000)  # above this for OC_CONT_MS: trip
OC_CONT_MS = const(1000)
OC_PEAK_MA = const(400000)  # above this: trip in the same tick
OC_RETRY_MS = const(10000)  # closed again after this
OC_LOCK_TRIPS = const(3)  # the third trip in a row locks out
OC_FORGET_MS = const(60000)  # trips older than this are forgotten
OC_OK = const(0)
OC_TRIPPED = const(1)
OC_LOCKED = const(2)

# -- alternator cap: the port's rating (alt_target.rating_ma), tapered near the OV stop
CELL_HIGH_BAND_MV = const(100)  # taper over the last 100 mV below the OV stop
CELL_HIGH_FLOOR_PCT = const(10)

# -- limit comparators: value source, direction, paths, trip delay. Levels
# are in _load() (same row order) because they come from the settings.
SRC_MAX_CELL = const(0)
SRC_MIN_TEMP = const(1)
SRC_MAX_TEMP = const(2)
HIGH = const(0)  # trips at value >= trip, releases at value <= release
LOW = const(1)  # trips at value <= trip, releases at value >= release
TO_CHG = const(1)
TO_DSG = const(2)

# bit, source, direction, paths, trip delay. Battery values trip at once:
# the batteries filter their own readings, and a delay would leave a window
# when the temperature jumps from above the charge window to below it (the
# high row releases at once, the low row would still be waiting).
LIMITS = (
    (R.CELL_OV, SRC_MAX_CELL, HIGH, TO_CHG, 0),
    (R.TEMP_LOW_CHARGE, SRC_MIN_TEMP, LOW, TO_CHG, 0),
    (R.TEMP_HIGH_CHARGE, SRC_MAX_TEMP, HIGH, TO_CHG, 0),
    (R.TEMP_HIGH_DISCHARGE, SRC_MAX_TEMP, HIGH, TO_DSG, 0),
)
_NLIM = const(4)
# The MOSFET temperature's BMS_OVERTEMP block (alternator path) is
# bms/fet_thermal.py's overtemp rule.


class Protection:
    STATE_NAMES = STATE_NAMES

    def __init__(self, settings, fet):
        self.settings = settings
        self.fet = fet  # bms/fet_thermal.py, shared with the alternator port
        self.state = BOOT
        self.atc = False
        self.atd = False
        self.block_chg = R.BOOT
        self.block_dsg = R.BOOT
        self.block_alt = R.BOOT  # block_chg plus alternator-only reasons
        self.block_sys = 0  # System+ port-only reasons (overcurrent)
        self.warn = 0
        self.chg_fet = False
        self.dsg_fet = False
        self.alt_allowed = False
        self.alt_limit_ma = 0
        self.load_out = False
        self.charge_out = False
        self.prealarm_out = False
        self.oc_trips = 0  # trips in the current series (lockout at OC_LOCK_TRIPS)
        self.charger = False  # a charger seen for CHARGER_MS
        self.charger_spent = False  # loads cut again soon after a charger brought them back
        self._charger_back = False
        self._charger_back_ms = 0
        self._since = 0  # when the current UV state was entered
        self._blink_ms = 0  # start of the current intermittent pre-alarm period
        self._emergency = False
        self._wake_req = False
        self._remote_prev = False
        self._remote_rise = False
        self._chg_raw = False
        self._chg_raw_ms = 0
        self.data_held = False  # battery data good (after a loss: for DATA_RECOVER_MS)
        self._recovering = False
        self._data_bad_ms = 0  # last tick the data was not good
        self._oc = OC_OK
        self._oc_ms = 0  # last trip
        self._over = False
        self._over_ms = 0
        self._lim_active = 0  # bits of LIMITS rows that tripped
        self._lim_pending = 0  # rows past their trip level, delay running
        self._lim_ms = array("i", [0] * _NLIM)
        self._trip = array("i", [0] * _NLIM)
        self._rel = array("i", [0] * _NLIM)
        self._ver = -1

    # -- commands (BLE)
    def clear_alarms(self):
        """Forget overcurrent trips and the lockout; the port may close again."""
        self._oc = OC_OK
        self.oc_trips = 0
        self._over = False
        self.charger_spent = False

    def wake(self):
        """Leave low-power off on the next step."""
        self._wake_req = True

    # -- control step
    def _load(self):
        s = self.settings
        t = self._trip
        r = self._rel
        h = s.temp_hyst_dc
        t[0] = s.cell_ov_mv  # at 3.75 V stop
        r[0] = s.cell_ov_release_mv - 1  # all cells below 3.60 V resume
        t[1] = s.temp_charge_low_dc - 1  # below 5.0 degC stop
        r[1] = s.temp_charge_low_dc + h
        t[2] = s.temp_charge_high_dc + 1  # above the limit stop
        r[2] = s.temp_charge_high_dc - h
        t[3] = s.temp_discharge_high_dc + 1
        r[3] = s.temp_discharge_high_dc - h
        self._ver = s.version

    def step(self, now_ms, pack, meas, remote):
        s = self.settings
        if s.version != self._ver:
            self._load()
        data_ok = pack.full_scan and pack.data_ok
        self._data_recovery(now_ms, data_ok)
        self._limits(now_ms, pack, data_ok)
        self.fet.overtemp_step(now_ms, meas)
        self._charger_seen(now_ms, meas)
        on = remote.on
        self._remote_rise = on and not self._remote_prev
        self._remote_prev = on
        if self._remote_rise:
            self.clear_alarms()
        self._overcurrent(now_ms, meas)
        self._uv_step(now_ms, pack, data_ok)
        self._wake_req = False
        self._decide(now_ms, pack, meas, on)

    def _data_recovery(self, now_ms, data_ok):
        # verdicts use fresh data at once (a cut is never delayed); only the
        # data_lost block waits for the data to stay good
        if not data_ok:
            self.data_held = False
            self._recovering = self.state != BOOT
            self._data_bad_ms = now_ms
        elif not self._recovering:
            self.data_held = True
        else:
            self._data_bad_ms = hold(now_ms, self._data_bad_ms)
            if diff(now_ms, self._data_bad_ms) >= DATA_RECOVER_MS:
                self._recovering = False
                self.data_held = True

    def _limits(self, now_ms, pack, data_ok):
        trip = self._trip
        rel = self._rel
        for i in range(_NLIM):
            row = LIMITS[i]
            bit = 1 << i
            if self._lim_pending & bit:  # may wait out a data gap of any length
                self._lim_ms[i] = hold(now_ms, self._lim_ms[i])
            src = row[1]
            if not data_ok:
                continue  # keep the last verdict; data_lost blocks anyway
            elif src == SRC_MAX_CELL:
                v = pack.max_cell_mv
            elif src == SRC_MIN_TEMP:
                v = pack.min_temp_dc
            else:
                v = pack.max_temp_dc
            if row[2] == HIGH:
                over = v >= trip[i]
                clear = v <= rel[i]
            else:
                over = v <= trip[i]
                clear = v >= rel[i]
            if self._lim_active & bit:
                if clear:
                    self._lim_active &= ~bit
            elif over:
                if not self._lim_pending & bit:
                    self._lim_pending |= bit
                    self._lim_ms[i] = now_ms
                if diff(now_ms, self._lim_ms[i]) >= row[4]:
                    self._lim_active |= bit
                    self._lim_pending &= ~bit
            else:
                self._lim_pending &= ~bit

    def _charger_seen(self, now_ms, meas):
        raw = meas.valid and (meas.sys_mv >= meas.bat_mv + CHARGER_MV
                              or meas.sys_ma >= CHARGER_MA or meas.alt_ma >= CHARGER_MA)
        if not raw:
            self._chg_raw = False
            self.charger = False
            return
        if not self._chg_raw:
            self._chg_raw = True
            self._chg_raw_ms = now_ms
        self._chg_raw_ms = hold(now_ms, self._chg_raw_ms)  # charging may last weeks
        self.charger = diff(now_ms, self._chg_raw_ms) >= CHARGER_MS

    def _overcurrent(self, now_ms, meas):
        if self._oc == OC_TRIPPED:
            if diff(now_ms, self._oc_ms) >= OC_RETRY_MS:
                self._oc = OC_OK
            return
        if self._oc == OC_LOCKED:
            return
        if self.oc_trips and diff(now_ms, self._oc_ms) >= OC_FORGET_MS:
            self.oc_trips = 0
        # the System+ shunt is on a native ADC channel read every tick (both
        # boards), so a slow ADC going stale must not blind this trip
        a = meas.sys_ma
        if a < 0:
            a = -a
        if a > OC_PEAK_MA:
            self._trip_oc(now_ms)
        elif a > OC_CONT_MA:
            if not self._over:
                self._over = True
                self._over_ms = now_ms
            elif diff(now_ms, self._over_ms) >= OC_CONT_MS:
                self._trip_oc(now_ms)
        else:
            self._over = False

    def _trip_oc(self, now_ms):
        self._over = False
        self.oc_trips += 1
        self._oc_ms = now_ms
        self._oc = OC_LOCKED if self.oc_trips >= OC_LOCK_TRIPS else OC_TRIPPED

    def _cond(self, c, now_ms, pack, data_ok):
        s = self.settings
        if c == C_SCANNED:
            return pack.full_scan
        if c == C_NO_CHARGE_LONG:
            return diff(now_ms, self._since) >= s.lowpower_delay_min * 60000
        if c == C_WAKE:
            if self._wake_req or self._remote_rise or self.charger:
                return True
        if not data_ok:
            return False  # no verdict on cell voltages without fresh data
        v = pack.min_cell_mv
        if c == C_BELOW_EMERGENCY:
            return v <= s.cell_uv_emergency_mv
        if c == C_BELOW_PREALARM:
            return v <= s.cell_prealarm_mv
        if c == C_UV_AFTER_DELAY:
            return v <= s.cell_uv_mv and diff(now_ms, self._since) >= s.uv_disconnect_delay_s * 1000
        if c == C_ABOVE_PREALARM:
            return v > s.cell_prealarm_mv + PREALARM_HYST_MV
        if c == C_CHARGER:
            # the charger must hold the cells above the cut level, or the
            # loads would be switched back onto a cell that is cut again
            return self.charger and v > s.cell_uv_mv and not self.charger_spent
        # C_RECOVERED, and C_WAKE on recovered cells
        return v > s.cell_uv_recover_mv

    def _uv_step(self, now_ms, pack, data_ok):
        # a state and a charger's probation can last for weeks
        self._since = hold(now_ms, self._since)
        if self._charger_back:
            self._charger_back_ms = hold(now_ms, self._charger_back_ms)
        st = self.state
        for row in UV_TABLE:
            if row[0] == st and self._cond(row[1], now_ms, pack, data_ok):
                self.state = row[2]
                self._since = now_ms
                self._blink_ms = now_ms
                a = row[3]
                if a == A_CUT or a == A_CUT_EMERGENCY:
                    self._emergency = a == A_CUT_EMERGENCY
                    if self._charger_back and diff(now_ms, self._charger_back_ms) < CHARGER_PROBATION_MS:
                        self.charger_spent = True
                    self._charger_back = False
                elif a == A_CHARGER_BACK:
                    self._charger_back = True
                    self._charger_back_ms = now_ms
                elif a == A_RECOVERED:
                    self.charger_spent = False
                    self._charger_back = False
                return

    def _decide(self, now_ms, pack, meas, remote_on):
        s = self.settings
        st = self.state
        both = 0  # reasons against charge and discharge
        if st == BOOT:
            both |= R.BOOT
        elif not self.data_held:
            both |= R.DATA_LOST
        if st != BOOT and pack.battery_alarm:
            both |= R.BATTERY_ALARM
        if st == LOW_POWER:
            both |= R.LOW_POWER_OFF
        fn = s.remote_function
        if not remote_on and fn != 0:
            both |= R.REMOTE_OFF
        chg = both
        dsg = both
        alt = 0
        active = self._lim_active
        for i in range(_NLIM):
            if active & (1 << i):
                row = LIMITS[i]
                if row[3] & TO_CHG:
                    chg |= row[0]
                if row[3] & TO_DSG:
                    dsg |= row[0]
        if self.fet.overtemp:
            alt |= R.BMS_OVERTEMP
        if st == LOAD_OFF or st == LOW_POWER:
            dsg |= R.CELL_UV
            if self._emergency:
                dsg |= R.CELL_UV_EMERGENCY
        if not remote_on and fn == 0:
            alt |= R.REMOTE_OFF
        alt |= chg
        sysb = 0
        if self._oc == OC_TRIPPED:
            sysb = R.OVERCURRENT
        elif self._oc == OC_LOCKED:
            sysb = R.OC_LOCKOUT
        self.block_chg = chg
        self.block_dsg = dsg
        self.block_alt = alt
        self.block_sys = sysb
        self.atc = chg == 0
        self.atd = dsg == 0
        self.chg_fet = self.atc and sysb == 0
        self.dsg_fet = self.atd and sysb == 0
        self.alt_allowed = alt == 0
        self.charge_out = self.atc
        self.load_out = self.atd
        # intermittent pre-alarm phase: its stamp moves on by whole periods,
        # so it never ages (the held _since would freeze the phase)
        phase = diff(now_ms, self._blink_ms)
        if phase >= PREALARM_PERIOD_MS:
            phase %= PREALARM_PERIOD_MS
            self._blink_ms = (now_ms - phase) & MASK
        warn = 0
        pre = st == PREALARM
        if pre:
            warn = R.PREALARM
        if pre and (remote_on or fn != 2):  # full_off silences everything
            pre = s.prealarm_mode == 0 or phase < PREALARM_ON_MS
        else:
            pre = False
        self.prealarm_out = pre
        # alternator cap: port rating, reduced near the OV stop
        if not self.alt_allowed:
            self.alt_limit_ma = 0
            self.warn = warn
            return
        full = rating_ma(s.alt_fuse_a)
        cap = full
        room = s.cell_ov_mv - pack.max_cell_mv
        if room < CELL_HIGH_BAND_MV:
            warn |= R.CELL_HIGH
            cap = full * room // CELL_HIGH_BAND_MV
            floor = full * CELL_HIGH_FLOOR_PCT // 100
            if cap < floor:
                cap = floor
        if self.fet.warn(meas):
            # the alternator port derates the current itself (fet_thermal.derate)
            warn |= R.FET_DERATE
        self.alt_limit_ma = cap
        self.warn = warn
