# Protection: decides ATC / ATD every control tick, with the reason bits for
# every "not allowed", and the gate and output levels that follow from them.
# The verdicts come from the under-voltage table (undervoltage.py), the limit
# table (limits.py), System+ overcurrent (overcurrent.py) and the MOSFET heat
# (fet_thermal.py); this module combines their masks into the outputs, and
# sysport.py turns them into the System+ MOSFETs (the ideal diode). Pure
# logic, integers only, allocates nothing in step(). docs/protection.md.
import micropython
from micropython import const

from bms import reasons as R
from bms.alternator import rating_ma
from bms.limits import Limits
from bms.linkframe import A_LOW_CELL, A_HIGH_CELL, A_LOW_TEMP, A_HIGH_TEMP
from bms.pack import KIND_UNKNOWN
from bms.measure import CH_FET, CH_SYS_I
from bms.fet_thermal import WARN_HYST_DDEGC, MIN_DDEGC, MAX_DDEGC
from bms.overcurrent import Overcurrent, OC_CONT_MA, OC_PEAK_MA
from bms.sysport import SysPort, DIODE_ON_MA, DIODE_OFF_MA
from bms.ticks import AGE_MAX, MASK, diff, hold
from bms.undervoltage import (UnderVoltage, BOOT, PREALARM, LOAD_OFF, LOW_POWER, CHARGER_MV,
                              CHARGER_MA, CHARGER_CHANNELS)

# after a loss, battery data must be good this long before the paths reopen:
# a flaky cable, or a replayed report that matches the scan number once per
# 256 scans, must not pulse the gates for a scan
DATA_RECOVER_MS = const(1000)
_PREALARM_PERIOD_MS = const(2000)  # intermittent pre-alarm: 1 s on, 1 s off
_PREALARM_ON_MS = const(1000)
# -- alternator cap: the port's rating (alternator.rating_ma), tapered near the OV stop
_CELL_HIGH_BAND_MV = const(100)  # taper over the last 100 mV below the OV stop
_CELL_HIGH_FLOOR_PCT = const(10)
_HALF = const(0x20000000)  # ticks.diff's half range
# the current classes of step() (c, 0..9) as the port's bands: >= DIODE_ON_MA 0,
# >= DIODE_OFF_MA 1, > -DIODE_OFF_MA 2, > -DIODE_ON_MA 3, else 4
_PORT_BAND = (4, 4, 4, 3, 2, 1, 1, 0, 0, 0)
# the temperature classes of step() (f, 0..5) as the warning's bands: at or
# above derate 1, below derate less its hysteresis 2, in between 3
_WARN_BAND = (2, 2, 3, 1, 1, 1)
# the channels whose staleness a part of the step asks about
_Q_STALE = CHARGER_CHANNELS | CH_FET  # CH_SYS_I is among the charger's



_CHG = const(1)
_DSG = const(2)
# A battery's own alarm (pack.alarm_kinds) and the paths it blocks
# (product-spec 2.1/2.2): a low cell stops discharge only, a high cell or
# the cold charge only, heat both (charging stops on over-temperature, and
# the system output disconnects on a temperature alarm). A v1 report does
# not say which alarm it raised, so that one blocks both.
BATTERY_ALARMS = (
    (A_LOW_CELL, R.BATTERY_LOW_CELL, _DSG),
    (A_HIGH_CELL, R.BATTERY_HIGH_CELL, _CHG),
    (A_LOW_TEMP, R.BATTERY_LOW_TEMP, _CHG),
    (A_HIGH_TEMP, R.BATTERY_HIGH_TEMP, _CHG | _DSG),
    (KIND_UNKNOWN, R.BATTERY_ALARM, _CHG | _DSG),
)


class Protection:
    def __init__(self, settings, fet):
        self.settings = settings
        self.fet = fet  # bms/fet_thermal.py, shared with the alternator port
        self.uv = UnderVoltage(settings)
        self.limits = Limits(settings)
        self.oc = Overcurrent()
        self.port = SysPort()  # the System+ MOSFETs
        self.atc = False
        self.atd = False
        self.block_chg = R.BOOT
        self.block_dsg = R.BOOT
        self.block_alt = R.BOOT  # block_chg plus alternator-only reasons
        self.block_sys = 0  # System+ port-only reasons (overcurrent, MOSFET heat)
        self.warn = 0
        self.chg_fet = False
        self.dsg_fet = False
        self.dsg_limit = False  # discharge MOSFET in its driver's current limit (start)
        self.alt_allowed = False
        self.alt_limit_ma = 0
        self.load_out = False
        self.charge_out = False
        self.prealarm_out = False
        self.data_held = False  # battery data good (after a loss: for DATA_RECOVER_MS)
        self._recovering = False
        self._data_bad_ms = 0  # last tick the data was not good
        self._uv_shown = BOOT  # the UV state the pre-alarm phase belongs to
        self._blink_ms = 0  # start of the current intermittent pre-alarm period
        # the decision's gate (step): its inputs at the last run, and
        # when a timer (port, blink edge) is due
        self._key = -1
        self._ver = -1
        self._cell_key = 0
        self._due_ms = 0
        # the quiet gate of the whole step (step): its inputs, and when due
        self._q = -1
        self._q_max = 0
        self._q_min = 0
        self._q_tlo = 0
        self._q_thi = 0
        self._q_ver = -1
        self._q_due = 0

    # -- commands (BLE)
    def clear_alarms(self):
        """Forget overcurrent trips and the lockout; the port may close again."""
        self.oc.clear()
        self.uv.charger_spent = False
        self._q = -1  # the next step runs

    def wake(self):
        """Leave low-power off on the next step."""
        self.uv.wake()
        self._q = -1

    def outputs_opened(self):
        """The controller opened every gate (safe outputs): the System+
        MOSFETs start again from open, so the discharge one closes through
        its limited start, and the next step runs whole."""
        self.port.opened()
        self.chg_fet = self.dsg_fet = self.dsg_limit = False
        self._q = self._key = -1

    # -- control step
    @micropython.native
    def step(self, now_ms, pack, meas, remote):
        # The quiet gate: the whole step is skipped when its last run left
        # nothing in motion (data recovery, a limit row that flipped, the
        # overtemp delay, the charger detector's delay, an overcurrent
        # state change) and every input is
        # as it was, each as far as a threshold of the parts tells it apart:
        # the pack's values, the channels' staleness, the System+ current
        # (c) and the MOSFET temperature (f) as classes, the charger
        # detector's voltage and port current tests, sys_oc, oc.rearm (the
        # controller re-arms between steps), remote on and its edge, the
        # settings. It is due with the first timer of the decision, the UV
        # rows (those refresh their held stamps every undervoltage._REFRESH_MS) and
        # overcurrent (retry, forget, the continuous trip's delay). The
        # commands (clear_alarms, wake) reopen it.
        s = self.settings
        stale = meas.stale
        # the System+ current between the thresholds of the port (DIODE_ON/
        # OFF_MA), the charger detector (CHARGER_MA) and overcurrent
        # (OC_CONT/PEAK_MA, on the magnitude)
        c = meas.sys_ma
        if c < DIODE_OFF_MA:
            if c > -DIODE_OFF_MA:
                c = 4
            elif c > -DIODE_ON_MA:
                c = 3
            elif c >= -OC_CONT_MA:
                c = 2
            else:
                c = 1 if c >= -OC_PEAK_MA else 0
        elif c < CHARGER_MA:
            c = 5
        elif c < DIODE_ON_MA:
            c = 6
        elif c <= OC_CONT_MA:
            c = 7
        else:
            c = 8 if c <= OC_PEAK_MA else 9
        # the MOSFET temperature between the levels of overtemp (plausible
        # range, derate, trip) and the warning (derate, its hysteresis)
        t = meas.fet_ddegc
        if t < MIN_DDEGC:
            f = 0
        elif t < s.fet_derate_dc:
            f = 1 if t < s.fet_derate_dc - WARN_HYST_DDEGC else 2
        elif t < s.fet_trip_dc:
            f = 3
        else:
            f = 4 if t <= MAX_DDEGC else 5
        rose = remote.rose
        q = (stale & _Q_STALE | c << 6 | f << 10
             | (meas.sys_mv < meas.bat_mv + CHARGER_MV) << 13 | (meas.alt_ma < CHARGER_MA) << 14
             | meas.sys_oc << 15 | self.oc.rearm << 16 | remote.on << 17 | rose << 18
             | pack.count_mismatch << 19 | pack.alarm_kinds << 20 | pack.data_ok << 25
             | pack.full_scan << 26)
        mc = pack.max_cell_mv
        lo = pack.min_cell_mv
        tlo = pack.min_temp_ddegc
        thi = pack.max_temp_ddegc
        # diff(now_ms, _q_due) < 0, inlined
        if (q == self._q and mc == self._q_max and lo == self._q_min and tlo == self._q_tlo
                and thi == self._q_thi and s.version == self._q_ver
                and ((now_ms - self._q_due + _HALF) & MASK) < _HALF):
            return
        self._q_max = mc
        self._q_min = lo
        self._q_tlo = tlo
        self._q_thi = thi
        self._q_ver = s.version
        data_ok = pack.full_scan and pack.data_ok
        if not data_ok or self._recovering or not self.data_held:  # else a no-op: the usual tick
            self._data_recovery(now_ms, data_ok)
        self.limits.step(pack, data_ok)
        fet = self.fet
        fet.overtemp_step(now_ms, meas)
        if rose:
            self.clear_alarms()
        oc = self.oc
        oc_st = oc.state
        oc.step(now_ms, meas)
        uv = self.uv
        uv.step(now_ms, pack, meas, data_ok, rose)
        # _decide runs again only when it can come out differently from its
        # last run. Its inputs, every one: uv.state, uv.emergency, data_held,
        # pack.count_mismatch, pack.alarm_kinds, remote.on, the settings
        # (version: remote_function, prealarm_mode, alt_fuse_a, cell_ov_mv,
        # fet_derate_dc), limits.chg/dsg, fet.overtemp, oc.block; the System+
        # current (and its staleness) as far as the port's thresholds tell it
        # apart; the max cell while inside the alternator cap's taper band;
        # the MOSFET temperature (and its staleness) against the warning's
        # levels. Its timers (_due_ms): the port's (limited start, diode
        # hold) and the pre-alarm's next blink edge. It holds no stamp that
        # ages (the blink stamp matters only in the pre-alarm, whose edges
        # keep it new), so with no timer running it waits for an input.
        remote_on = remote.on
        # the port's current band and the warning's temperature band, from
        # the classes above
        band = 2 if stale & CH_SYS_I else _PORT_BAND[c]
        hot = 0 if stale & CH_FET else _WARN_BAND[f]
        # limits.chg/dsg follow from limits.active (5 bits); oc.block is one of
        # OVERCURRENT, OC_LOCKOUT, SHORT_CIRCUIT (bits 9, 10, 14) or 0: the
        # key stays below 2**29, a small int on the boards
        key = (uv.state | uv.emergency << 3 | self.data_held << 4 | pack.count_mismatch << 5
               | remote_on << 6 | fet.overtemp << 7 | band << 8 | hot << 11 | pack.alarm_kinds << 13
               | self.limits.active << 18 | oc.block >> 9 << 23)
        cell = mc if s.cell_ov_mv - mc < _CELL_HIGH_BAND_MV else -1
        # diff(now_ms, _due_ms) < 0, inlined
        if (key != self._key or s.version != self._ver or cell != self._cell_key
                or ((now_ms - self._due_ms + _HALF) & MASK) >= _HALF):
            self._key = key
            self._ver = s.version
            self._cell_key = cell
            self._decide(now_ms, pack, meas, remote_on)
        # quiet from here on while the inputs stay: no part has a timer running
        if (data_ok and not rose and self.data_held and not self._recovering and self.limits.settled
                and fet.overtemp_idle() and oc.state == oc_st and uv.charger_idle()):
            self._q = q
            # diff(_due_ms, now_ms) and diff(uv.due_ms, now_ms), inlined
            w = ((self._due_ms - now_ms + _HALF) & MASK) - _HALF
            a = ((uv.due_ms - now_ms + _HALF) & MASK) - _HALF
            if a < w:
                w = a
            a = oc.wait_ms(now_ms)
            if a < w:
                w = a if a > 0 else 0
            self._q_due = (now_ms + w) & MASK
        else:
            self._q = -1

    def _data_recovery(self, now_ms, data_ok):
        # verdicts use fresh data at once (a cut is never delayed); only the
        # data_lost block waits for the data to stay good
        if not data_ok:
            self.data_held = False
            self._recovering = self.uv.state != BOOT
            self._data_bad_ms = now_ms
        elif not self._recovering:
            self.data_held = True
        else:
            self._data_bad_ms = hold(now_ms, self._data_bad_ms)
            if diff(now_ms, self._data_bad_ms) >= DATA_RECOVER_MS:
                self._recovering = False
                self.data_held = True

    @micropython.native
    def _decide(self, now_ms, pack, meas, remote_on):
        s = self.settings
        st = self.uv.state
        both = 0  # reasons against charge and discharge
        if st == BOOT:
            both |= R.BOOT
        elif not self.data_held:
            both |= R.DATA_LOST
        if pack.count_mismatch:  # at boot too: the first full scan would never come
            both |= R.COUNT_MISMATCH
        if st == LOW_POWER:
            both |= R.LOW_POWER_OFF
        fn = s.remote_function
        if not remote_on and fn != 0:
            both |= R.REMOTE_OFF
        chg = both | self.limits.chg
        dsg = both | self.limits.dsg
        kinds = pack.alarm_kinds if st != BOOT else 0
        if kinds:
            for row in BATTERY_ALARMS:
                if kinds & row[0]:
                    if row[2] & _CHG:
                        chg |= row[1]
                    if row[2] & _DSG:
                        dsg |= row[1]
        alt = R.BMS_OVERTEMP if self.fet.overtemp else 0
        if st == LOAD_OFF or st == LOW_POWER:
            dsg |= R.CELL_UV
            if self.uv.emergency:
                dsg |= R.CELL_UV_EMERGENCY
        if not remote_on and fn == 0:
            alt |= R.REMOTE_OFF
        alt |= chg
        sysb = self.oc.block
        if self.fet.overtemp:  # the System+ MOSFETs share the heatsink: both ways open
            sysb |= R.BMS_OVERTEMP
        self.block_chg = chg
        self.block_dsg = dsg
        self.block_alt = alt
        self.block_sys = sysb
        self.atc = chg == 0
        self.atd = dsg == 0
        port = self.port
        wait = AGE_MAX  # no timer: due again only after days (harmless)
        if port.step(now_ms, self.atc, self.atd, sysb, meas):
            wait = 0  # a MOSFET moved: its new state's rows run on the next tick
        else:
            w = port.wait_ms(now_ms)
            if w < wait:
                wait = w if w > 0 else 0
        self.chg_fet = port.chg_fet
        self.dsg_fet = port.dsg_fet
        self.dsg_limit = port.dsg_limit
        self.alt_allowed = alt == 0
        self.charge_out = self.atc
        self.load_out = self.atd
        # intermittent pre-alarm phase: a new period with every UV state,
        # and its stamp moves on by whole periods, so it never ages
        if st != self._uv_shown:
            self._uv_shown = st
            self._blink_ms = now_ms
        phase = diff(now_ms, self._blink_ms)
        if phase >= _PREALARM_PERIOD_MS:
            phase %= _PREALARM_PERIOD_MS
            self._blink_ms = (now_ms - phase) & MASK
        if st == PREALARM:  # the next blink edge
            w = (_PREALARM_ON_MS if phase < _PREALARM_ON_MS else _PREALARM_PERIOD_MS) - phase
            if w < wait:
                wait = w
        self._due_ms = (now_ms + wait) & MASK
        warn = 0
        pre = st == PREALARM
        if pre:
            warn = R.PREALARM
        if pre and (remote_on or fn != 2):  # full_off silences everything
            pre = s.prealarm_mode == 0 or phase < _PREALARM_ON_MS
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
        if room < _CELL_HIGH_BAND_MV:
            warn |= R.CELL_HIGH
            cap = full * room // _CELL_HIGH_BAND_MV
            floor = full * _CELL_HIGH_FLOOR_PCT // 100
            if cap < floor:
                cap = floor
        if self.fet.warn(meas):
            # the alternator port derates the current itself (fet_thermal.derate)
            warn |= R.FET_DERATE
        self.alt_limit_ma = cap
        self.warn = warn
