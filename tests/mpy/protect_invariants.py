# Safety invariants over a protection trace, checked tick by tick. The rules
# are re-derived from the spec here (not imported from protection.py) so a
# bug in the state machine cannot hide itself.
from bms import reasons as R
from bms.linkframe import A_LOW_CELL, A_HIGH_CELL, A_LOW_TEMP, A_HIGH_TEMP  # the wire's alarm kinds
from bms.pack import KIND_UNKNOWN

CHARGER_HOLD_MS = 2000
CHATTER_MS = 200  # a UV cut must not come back this soon after it cleared


class Invariants:
    def __init__(self, settings):
        self.s = settings
        self.violations = []
        self.uv_latched = False
        self.pre_since = None  # when the pre-alarm warning last came on
        self.charger_since = None
        self.prev_dsg = 0
        self.uv_fell_ms = None
        self.uv_cuts = 0
        self.emergency_cuts = 0

    def _bad(self, now_ms, what):
        if len(self.violations) < 20:
            self.violations.append((now_ms, what))

    def observe(self, now_ms, pack, meas, p):
        s = self.s
        data = pack.full_scan and pack.data_ok
        chg_closed = p.atc or p.chg_fet or p.charge_out or p.alt_allowed
        dsg_closed = p.atd or p.dsg_fet or p.load_out
        if p.load_out != p.atd or p.charge_out != p.atc:
            self._bad(now_ms, "outputs do not follow ATD/ATC")
        if (p.chg_fet and not p.atc) or (p.dsg_fet and not p.atd) or (p.alt_allowed and not p.atc):
            self._bad(now_ms, "a gate closed without permission")
        if not pack.full_scan and (chg_closed or dsg_closed or p.prealarm_out):
            self._bad(now_ms, "something on before the first full scan")
        if pack.full_scan and not pack.data_ok and (chg_closed or dsg_closed):
            self._bad(now_ms, "a path closed with battery data lost")
        if data and chg_closed and pack.max_cell_mv >= s.cell_ov_mv:
            self._bad(now_ms, "charge path closed with a cell at %d mV" % pack.max_cell_mv)
        # temperature window: battery temperatures trip in the same tick
        if data and chg_closed and (pack.min_temp_ddegc < s.temp_charge_low_dc
                                    or pack.max_temp_ddegc > s.temp_charge_high_dc):
            self._bad(now_ms, "charge path closed outside the temperature window")
        if data and dsg_closed and (pack.min_temp_ddegc < s.temp_discharge_low_dc
                                    or pack.max_temp_ddegc > s.temp_discharge_high_dc):
            self._bad(now_ms, "discharge path closed outside the temperature window")
        # a battery's own alarm, by kind (docs/protection.md): low cell, heat or
        # an alarm of unknown kind (v1) no discharge; high cell, cold, heat or
        # unknown no charge
        kinds = pack.alarm_kinds if data else 0
        if kinds & (A_HIGH_CELL | A_LOW_TEMP | A_HIGH_TEMP | KIND_UNKNOWN) and chg_closed:
            self._bad(now_ms, "charge path closed with a battery alarm 0x%x" % kinds)
        if kinds & (A_LOW_CELL | A_HIGH_TEMP | KIND_UNKNOWN) and dsg_closed:
            self._bad(now_ms, "discharge path closed with a battery alarm 0x%x" % kinds)
        # charger seen, re-derived
        if not meas.stale and (meas.sys_mv >= meas.bat_mv + 500 or meas.sys_ma >= 1000 or meas.alt_ma >= 1000):
            if self.charger_since is None:
                self.charger_since = now_ms
        else:
            self.charger_since = None
        charger = self.charger_since is not None and now_ms - self.charger_since >= CHARGER_HOLD_MS
        # pre-alarm must lead a normal UV disconnect by the delay
        if p.warn & R.PREALARM:
            if self.pre_since is None:
                self.pre_since = now_ms
        uv_rise = p.block_dsg & R.CELL_UV and not self.prev_dsg & R.CELL_UV
        if uv_rise and self.uv_fell_ms is not None and now_ms - self.uv_fell_ms < CHATTER_MS:
            self._bad(now_ms, "load disconnect chatters")
        if self.prev_dsg & R.CELL_UV and not p.block_dsg & R.CELL_UV:
            self.uv_fell_ms = now_ms
        if uv_rise and not self.uv_latched:
            self.uv_latched = True
            if p.block_dsg & R.CELL_UV_EMERGENCY:
                self.emergency_cuts += 1
            else:
                self.uv_cuts += 1
                lead = None if self.pre_since is None else now_ms - self.pre_since
                if lead is None or lead < s.uv_disconnect_delay_s * 1000:
                    self._bad(now_ms, "UV disconnect after only %r ms of pre-alarm" % lead)
        if not p.warn & R.PREALARM:
            self.pre_since = None
        if self.uv_latched:
            if (data and pack.min_cell_mv > s.cell_uv_recover_mv) or charger:
                self.uv_latched = False
            elif p.atd:
                self._bad(now_ms, "discharge allowed after a UV disconnect before recovery")
        self.prev_dsg = p.block_dsg
