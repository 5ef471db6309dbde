# Protection's limit table: the battery values (max cell, min and max
# temperature) against their trip and release levels, with the path each
# one blocks. Pure logic, integers only, allocation-free. docs/protection.md.
from array import array

import micropython
from micropython import const

from bms import reasons as R

_SRC_MAX_CELL = const(0)
_SRC_MIN_TEMP = const(1)
_SRC_MAX_TEMP = const(2)
_HIGH = const(0)  # trips at value >= trip, releases at value <= release
_LOW = const(1)  # trips at value <= trip, releases at value >= release
_TO_CHG = const(1)
_TO_DSG = const(2)

# bit, source, direction, paths. Levels are in _load() (same row order)
# because they come from the settings. Every row trips at once: the
# batteries filter their own readings, and a delay would leave a window when
# the temperature jumps from above the charge window to below it (the high
# row releases at once, the low row would still be waiting). The MOSFET
# temperature's block is bms/fet_thermal.py's.
LIMITS = (
    (R.CELL_OV, _SRC_MAX_CELL, _HIGH, _TO_CHG),
    (R.TEMP_LOW_CHARGE, _SRC_MIN_TEMP, _LOW, _TO_CHG),
    (R.TEMP_HIGH_CHARGE, _SRC_MAX_TEMP, _HIGH, _TO_CHG),
    (R.TEMP_HIGH_DISCHARGE, _SRC_MAX_TEMP, _HIGH, _TO_DSG),
    (R.TEMP_LOW_DISCHARGE, _SRC_MIN_TEMP, _LOW, _TO_DSG),
)
_NLIM = const(5)


class Limits:
    def __init__(self, settings):
        self.settings = settings
        self.active = 0  # bits of LIMITS rows that tripped
        self.chg = 0  # their reasons against charging
        self.dsg = 0  # and against discharging
        self._trip = array("i", [0] * _NLIM)
        self._rel = array("i", [0] * _NLIM)
        self._ver = -1
        # the values of the last pass, and whether it left every row as it
        # was: the same values again then give the same verdicts (a pass
        # that flipped a row runs again, as with release above trip it would)
        self._max_cell = -1
        self._min_temp = 0
        self._max_temp = 0
        self.settled = False

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
        t[4] = s.temp_discharge_low_dc - 1  # below -20.0 degC stop
        r[4] = s.temp_discharge_low_dc + h
        self._ver = s.version
        self.settled = False

    @micropython.native
    def step(self, pack, data_ok):
        """Without fresh data the last verdicts stand (data_lost blocks anyway)."""
        if self.settings.version != self._ver:
            self._load()
        if not data_ok:
            return
        mc = pack.max_cell_mv
        tlo = pack.min_temp_ddegc
        thi = pack.max_temp_ddegc
        if self.settled and mc == self._max_cell and tlo == self._min_temp and thi == self._max_temp:
            return
        self._max_cell = mc
        self._min_temp = tlo
        self._max_temp = thi
        trip = self._trip
        rel = self._rel
        active = self.active
        chg = 0
        dsg = 0
        for i in range(_NLIM):
            row = LIMITS[i]
            src = row[1]
            if src == _SRC_MAX_CELL:
                v = mc
            elif src == _SRC_MIN_TEMP:
                v = tlo
            else:
                v = thi
            bit = 1 << i
            if row[2] == _HIGH:
                over = v >= trip[i]
                clear = v <= rel[i]
            else:
                over = v <= trip[i]
                clear = v >= rel[i]
            if active & bit:
                if clear:
                    active &= ~bit
            elif over:
                active |= bit
            if active & bit:
                if row[3] & _TO_CHG:
                    chg |= row[0]
                else:
                    dsg |= row[0]
        self.settled = active == self.active
        self.active = active
        self.chg = chg
        self.dsg = dsg
