# History: lifetime counters, extremes, alternator Ah and a ring log of the
# last events, counted from the protection masks every control tick (no
# allocation in step) and persisted by the app when `dirty` says so.
#
# Flash wear: an important event (load disconnect, data loss, overcurrent,
# low-power off, BMS over-temperature) asks for a save at once, but at most
# once per SAVE_GAP_MS; anything else at most once per SAVE_PERIOD_MS.
import struct
from array import array

import micropython
from micropython import const

from bms import reasons as R
from bms.measure import CH_ALT_I
from bms.ticks import hold

LOG_LEN = const(32)
SAVE_GAP_MS = const(60000)
SAVE_PERIOD_MS = const(300000)
_MAX_DT_MS = const(1000)  # longer gaps between steps are not integrated
EV_WARN = const(32)  # event code: reason bit number, or EV_WARN + warning bit number
_MAS_PER_MAH = const(3600)
_ALT_MAH_MAX = const(0x3FFFFFFF)  # saturates (over a million Ah) instead of leaving small ints
_UNSEEN_MIN = const(32767)  # min/max before any valid battery data
UNSEEN_MAX = const(-32767)
_MASK = const(0x3FFFFFFF)  # bms/ticks.py, inlined in step()
_HALF = const(0x20000000)
_HOLD_EVERY_MS = const(1000)  # far below ticks.AGE_MAX

IMPORTANT = (R.CELL_UV | R.CELL_UV_EMERGENCY | R.DATA_LOST | R.OVERCURRENT | R.OC_LOCKOUT
             | R.SHORT_CIRCUIT | R.LOW_POWER_OFF | R.BMS_OVERTEMP)
_TEMP_HIGH = R.TEMP_HIGH_CHARGE | R.TEMP_HIGH_DISCHARGE
_OC = R.OVERCURRENT | R.OC_LOCKOUT | R.SHORT_CIRCUIT  # either tier, and the lockout

_MAGIC = b"BH"
_FORMAT = const(1)
_HEAD = "<2sBBB12i"  # magic, format, count, head, the 12 counters of pack_into()
_ENTRY = "<iBii"  # time ms, code, reason mask, value
BLOB_LEN = struct.calcsize(_HEAD) + LOG_LEN * struct.calcsize(_ENTRY) + 2  # the saved blob, with its CRC


def event_name(code):
    if code >= EV_WARN:
        return R.warn_names(1 << (code - EV_WARN))[0]
    return R.names(1 << code)[0]


def crc16(data, n):
    """CRC-16/CCITT-FALSE over data[:n]: small blob, once per save, no need for speed."""
    crc = 0xFFFF
    for i in range(n):
        crc ^= data[i] << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


class History:
    def __init__(self):
        self.log_ms = array("i", [0] * LOG_LEN)
        self.log_code = bytearray(LOG_LEN)
        self.log_mask = array("i", [0] * LOG_LEN)
        self.log_value = array("i", [0] * LOG_LEN)
        self._mask = 0
        self._warn = 0
        self._last_ms = 0
        self._saved_ms = 0
        self._held_ms = 0  # when _saved_ms was last held (bms/ticks.py hold)
        self._started = False
        self.clear()
        self.dirty = False  # nothing worth saving yet
        self._changed = False
        self._urgent = False

    def clear(self):
        self.lvd = 0  # low-voltage (load) disconnects
        self.hv_stops = 0  # charge stops on cell over-voltage
        self.low_temp = 0
        self.high_temp = 0
        self.data_losses = 0
        self.oc_trips = 0
        self.min_cell_mv = _UNSEEN_MIN
        self.max_cell_mv = UNSEEN_MAX
        self.min_temp_ddegc = _UNSEEN_MIN
        self.max_temp_ddegc = UNSEEN_MAX
        self.alt_mah = 0  # charged through the alternator port
        self._alt_mas = 0
        self._alt_mams = 0  # mA*ms below one mAs
        self.count = 0  # log entries in use
        self.head = 0  # next slot to write
        for i in range(LOG_LEN):
            self.log_ms[i] = 0
            self.log_code[i] = 0
            self.log_mask[i] = 0
            self.log_value[i] = 0
        self._changed = True
        self._urgent = True
        self.dirty = True

    def saved(self, now_ms):
        """The app wrote pack_into()'s blob to flash."""
        self.dirty = False
        self._changed = False
        self._urgent = False
        self._saved_ms = now_ms

    def _log(self, now_ms, code, mask, value):
        i = self.head
        self.log_ms[i] = now_ms
        self.log_code[i] = code
        self.log_mask[i] = mask
        self.log_value[i] = value
        self.head = (i + 1) % LOG_LEN
        if self.count < LOG_LEN:
            self.count += 1

    @micropython.native
    def step(self, now_ms, p, pack, meas):
        """Count this tick: p's reason and warning masks (Protection), the
        pack's extremes and the alternator port's charge (Measurements).
        Runs every control tick: each part does its work only when its
        input changed (ticks.diff inlined)."""
        if not self._started:
            self._started = True
            self._last_ms = now_ms
            self._held_ms = now_ms
            self._saved_ms = now_ms - SAVE_GAP_MS
        if ((now_ms - self._held_ms + _HALF) & _MASK) >= _HALF + _HOLD_EVERY_MS:
            self._held_ms = now_ms
            self._saved_ms = hold(now_ms, self._saved_ms)  # a quiet week between saves
        mask = p.block_chg | p.block_dsg | p.block_alt | p.block_sys
        if mask != self._mask:
            rise = mask & ~self._mask
            self._mask = mask
            if mask & R.BOOT:
                # remote debounce etc. at boot are not events; a wrong battery
                # count is (it is why the boot never ends)
                rise &= R.BOOT | R.COUNT_MISMATCH
            if rise:
                self._events(now_ms, rise, mask, pack, meas)
        warn = p.warn
        if warn != self._warn:
            wrise = warn & ~self._warn
            self._warn = warn
            if wrise & R.PREALARM:
                self._log(now_ms, EV_WARN, mask, pack.min_cell_mv)
                self._changed = True
        if (pack.full_scan and pack.data_ok
                and (pack.min_cell_mv < self.min_cell_mv or pack.max_cell_mv > self.max_cell_mv
                     or pack.min_temp_ddegc < self.min_temp_ddegc
                     or pack.max_temp_ddegc > self.max_temp_ddegc)):
            self._extremes(pack)
        alt_ma = meas.alt_ma
        if alt_ma > 0 and not meas.stale & CH_ALT_I:  # dt only when there is charge to count
            dt = ((now_ms - self._last_ms + _HALF) & _MASK) - _HALF
            if dt > 0:
                self._integrate(dt, alt_ma)
        self._last_ms = now_ms
        if self._changed and not self.dirty:
            gap = ((now_ms - self._saved_ms + _HALF) & _MASK) - _HALF
            if gap >= SAVE_PERIOD_MS or (self._urgent and gap >= SAVE_GAP_MS):
                self.dirty = True

    def _events(self, now_ms, rise, mask, pack, meas):
        if rise & R.CELL_UV:
            self.lvd += 1
        if rise & R.CELL_OV:
            self.hv_stops += 1
        if rise & (R.TEMP_LOW_CHARGE | R.TEMP_LOW_DISCHARGE):
            self.low_temp += 1
        if rise & _TEMP_HIGH:
            self.high_temp += 1
        if rise & R.DATA_LOST:
            self.data_losses += 1
        if rise & _OC:
            self.oc_trips += 1
        if rise & IMPORTANT:
            self._urgent = True
        self._changed = True
        bit = 0
        while rise:
            if rise & 1:
                b = 1 << bit
                if b & (R.CELL_UV | R.CELL_UV_EMERGENCY | R.BATTERY_LOW_CELL):
                    v = pack.min_cell_mv
                elif b == R.CELL_OV or b == R.BATTERY_HIGH_CELL:
                    v = pack.max_cell_mv
                elif b == R.TEMP_LOW_CHARGE or b == R.TEMP_LOW_DISCHARGE or b == R.BATTERY_LOW_TEMP:
                    v = pack.min_temp_ddegc
                elif b & _TEMP_HIGH or b == R.BATTERY_HIGH_TEMP:
                    v = pack.max_temp_ddegc
                elif b == R.BMS_OVERTEMP:
                    v = meas.fet_ddegc
                elif b & _OC:
                    v = meas.sys_ma
                else:
                    v = pack.min_cell_mv
                self._log(now_ms, bit, mask, v)
            rise >>= 1
            bit += 1

    def _extremes(self, pack):
        self.min_cell_mv = min(self.min_cell_mv, pack.min_cell_mv)
        self.max_cell_mv = max(self.max_cell_mv, pack.max_cell_mv)
        self.min_temp_ddegc = min(self.min_temp_ddegc, pack.min_temp_ddegc)
        self.max_temp_ddegc = max(self.max_temp_ddegc, pack.max_temp_ddegc)
        self._changed = True

    def _integrate(self, dt, alt_ma):
        if dt > _MAX_DT_MS:
            dt = _MAX_DT_MS
        # mA*ms -> mAs -> mAh: every stage stays far below 2^30
        acc = self._alt_mams + alt_ma * dt
        self._alt_mas += acc // 1000
        self._alt_mams = acc % 1000
        if self._alt_mas >= _MAS_PER_MAH:
            mah = self.alt_mah + self._alt_mas // _MAS_PER_MAH
            self.alt_mah = mah if mah < _ALT_MAH_MAX else _ALT_MAH_MAX
            self._alt_mas %= _MAS_PER_MAH
            self._changed = True

    def counters(self):
        """The lifetime counters and extremes, in protocol.HISTORY_COUNTERS
        order (history page 0 and the saved blob). Allocates."""
        return (self.lvd, self.hv_stops, self.low_temp, self.high_temp, self.data_losses,
                self.oc_trips, self.min_cell_mv, self.max_cell_mv, self.min_temp_ddegc,
                self.max_temp_ddegc, self.alt_mah)

    def events(self):
        """Log entries oldest first: (time_ms, code, reason mask, value). Allocates."""
        out = []
        start = (self.head - self.count) % LOG_LEN
        for k in range(self.count):
            i = (start + k) % LOG_LEN
            out.append((self.log_ms[i], self.log_code[i], self.log_mask[i], self.log_value[i]))
        return out

    # -- persistence
    def pack_into(self, buf):
        """The blob into buf[:BLOB_LEN] (a save's buffer, taken at boot: no
        block of its size in a fragmented heap); returns BLOB_LEN."""
        hs = struct.calcsize(_HEAD)
        es = struct.calcsize(_ENTRY)
        struct.pack_into(_HEAD, buf, 0, _MAGIC, _FORMAT, self.count, self.head,
                         *self.counters(), self._alt_mas)
        for i in range(LOG_LEN):
            struct.pack_into(_ENTRY, buf, hs + i * es, self.log_ms[i], self.log_code[i],
                             self.log_mask[i], self.log_value[i])
        n = BLOB_LEN - 2
        struct.pack_into("<H", buf, n, crc16(buf, n))
        return BLOB_LEN

    def from_bytes(self, data):
        """Load a saved blob. False (and nothing changed) if it is corrupt."""
        hs = struct.calcsize(_HEAD)
        es = struct.calcsize(_ENTRY)
        n = BLOB_LEN - 2
        if data is None or len(data) != BLOB_LEN:
            return False
        if struct.unpack_from("<H", data, n)[0] != crc16(data, n):
            return False
        h = struct.unpack_from(_HEAD, data, 0)
        if h[0] != _MAGIC or h[1] != _FORMAT or h[2] > LOG_LEN or h[3] >= LOG_LEN:
            return False
        c = h[4:]
        if min(c[:6]) < 0 or c[10] < 0 or not 0 <= c[11] < _MAS_PER_MAH:
            return False
        self.count = h[2]
        self.head = h[3]
        (self.lvd, self.hv_stops, self.low_temp, self.high_temp, self.data_losses,
         self.oc_trips, self.min_cell_mv, self.max_cell_mv, self.min_temp_ddegc,
         self.max_temp_ddegc, self.alt_mah, self._alt_mas) = c
        self._alt_mams = 0
        for i in range(LOG_LEN):
            e = struct.unpack_from(_ENTRY, data, hs + i * es)
            self.log_ms[i] = e[0]
            self.log_code[i] = e[1]
            self.log_mask[i] = e[2]
            self.log_value[i] = e[3]
        self.dirty = False
        self._changed = False
        self._urgent = False
        return True
