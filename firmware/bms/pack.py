# The battery bank as the battery cable reports it: latest per-cell values,
# their age, min/max and whether the data can be trusted. Allocation-free in
# steady state; the per-battery loops run in viper (50 batteries every tick).
import array
import micropython
from micropython import const
from bms import ticks
from bms.linkframe import F_ALARM, PF_KIND_SHIFT

MAX_BATTERIES = const(50)
_CELLS = const(200)
_WRAP = const(0x3FFFFFFF)  # counters wrap at 2**30: small ints on the boards

# `lost` reason bits (0 = link fine). See docs/battery-link.md.
LOST_STALE = const(0x01)  # a configured battery has no data younger than the timeout
LOST_NO_ECHO = const(0x02)  # no scan-request echo within the timeout: ring open / unplugged
LOST_MISSING = const(0x04)  # the echo counted fewer batteries in the ring than configured
LOST_EXTRA = const(0x08)  # more batteries than configured (echo count or a higher address)
LOST_DUPLICATE = const(0x10)  # two reports for one address in the same scan
LOST_NAMES = ("stale", "no echo", "missing", "extra", "duplicate")
# alarm_kinds: linkframe's A_* bits, and this one for a v1 report's alarm
KIND_UNKNOWN = const(0x40 >> 2)  # linkframe PF_KIND_UNKNOWN >> PF_KIND_SHIFT
_MISMATCH = const(LOST_MISSING | LOST_EXTRA)  # count_mismatch: the battery count is wrong

# per-battery state bits
_HAVE = const(1)  # reported at least once since boot
_FRESH = const(2)  # reported since the last timeout (cleared by evaluate)

# slots of the shared int array handed to the viper loops
_P_NOW = const(0)
_P_TIMEOUT = const(1)
_P_COUNT = const(2)
_P_HAVE = const(3)
_P_MIN_MV = const(4)
_P_MIN_AT = const(5)
_P_MAX_MV = const(6)
_P_MAX_AT = const(7)
_P_MIN_T = const(8)
_P_MAX_T = const(9)
_P_SUM_MV = const(10)
_P_ALARM = const(11)


def lost_names(mask):
    out = []
    for i in range(len(LOST_NAMES)):
        if mask & (1 << i):
            out.append(LOST_NAMES[i])
    return out


# ptr8 / ptr16 / ptr32 are viper-only names; tools/typecheck.py declares them for mypy.
@micropython.viper
def _freshness(p: ptr32, last: ptr32, state: ptr8, timeouts: ptr16) -> int:
    # Ages each fresh battery and marks it stale past the limit, counting the
    # fresh->stale transitions; returns the fresh count, p[_P_HAVE] = reported.
    # Stale is latched: only accept() makes a battery fresh again, so last[]
    # is never read once older than the limit (a stamp 2**29 ms old would read
    # as young again, see bms/ticks.py).
    now = int(p[_P_NOW])
    limit = int(p[_P_TIMEOUT])
    count = int(p[_P_COUNT])
    fresh = 0
    have = 0
    i = 0
    while i < count:
        s = int(state[i])
        if s & _HAVE:
            have += 1
            if s & _FRESH:
                age = ((now - int(last[i]) + 0x20000000) & 0x3FFFFFFF) - 0x20000000
                if age <= limit:
                    fresh += 1
                else:
                    timeouts[i] = (int(timeouts[i]) + 1) & 0xFFFF
                    state[i] = _HAVE
        i += 1
    p[_P_HAVE] = have
    return fresh


@micropython.viper
def _extremes(p: ptr32, cells: ptr16, temps: ptr16, flags: ptr8, state: ptr8):
    # Min/max cell and temperature, sum of cell mV and the OR of the flag bytes (alarm kinds) over the
    # fresh batteries; results into p[_P_MIN_MV..]. Temps are s16 in a u16 view.
    count = int(p[_P_COUNT])
    lo = 0x7FFF
    lo_at = -1
    hi = -1
    hi_at = -1
    tlo = 0x7FFF
    thi = -0x8000
    total = 0
    alarms = 0
    b = 0
    while b < count:
        if int(state[b]) & _FRESH:
            j = b * 4
            end = j + 4
            while j < end:
                v = int(cells[j])
                total += v
                if v < lo:
                    lo = v
                    lo_at = j
                if v > hi:
                    hi = v
                    hi_at = j
                j += 1
            t = int(temps[b])
            if t >= 0x8000:
                t -= 0x10000
            if t < tlo:
                tlo = t
            if t > thi:
                thi = t
            alarms |= int(flags[b])
        b += 1
    p[_P_MIN_MV] = lo
    p[_P_MIN_AT] = lo_at
    p[_P_MAX_MV] = hi
    p[_P_MAX_AT] = hi_at
    p[_P_MIN_T] = tlo
    p[_P_MAX_T] = thi
    p[_P_SUM_MV] = total
    p[_P_ALARM] = alarms


class Pack:
    def __init__(self, count=1):
        self.cell_mv = array.array("H", bytes(2 * _CELLS))
        self.temp_ddegc = array.array("h", bytes(2 * MAX_BATTERIES))
        self.flags = bytearray(MAX_BATTERIES)
        self.last_ms = array.array("i", bytes(4 * MAX_BATTERIES))
        self.seq = bytearray(MAX_BATTERIES)  # scan sequence of the last report
        self.timeouts = array.array("H", bytes(2 * MAX_BATTERIES))  # fresh->stale per battery
        self.state = bytearray(MAX_BATTERIES)  # _HAVE | _FRESH bits, per battery
        self._p = array.array("i", bytes(4 * 12))
        self.timeout_ms = 1000  # staleness limit, from the last evaluate()
        self.ring_count = 0  # batteries counted by the last request echo
        self.echo_ms = 0
        self._echoed = False
        self.extra_ms = 0
        self._extra = False
        self.dup_ms = 0
        self._dup = False
        self.extras = 0  # reports from addresses above the configured count
        self.duplicates = 0  # second reports for one address in one scan
        self.configured = 0
        self.seen = 0
        self.data_ok = False
        self.lost = LOST_STALE | LOST_NO_ECHO
        self.count_mismatch = False  # lost has missing or extra: battery_count is wrong
        self.full_scan = False
        self._no_extremes()
        self.configure(count)

    def _no_extremes(self):
        self.min_cell_mv = 0
        self.min_cell_at = -1
        self.max_cell_mv = 0
        self.max_cell_at = -1
        self.min_temp_ddegc = 0
        self.max_temp_ddegc = 0
        self.pack_mv = 0
        self.battery_alarm = False
        self.alarm_kinds = 0  # OR of the fresh batteries' alarm kinds (linkframe A_*, KIND_UNKNOWN)

    def configure(self, count):
        """Set the configured battery count (1..50); data already held stays,
        but batteries above the count are stale until they report again."""
        if not 1 <= count <= MAX_BATTERIES:
            raise ValueError("battery count outside 1..50")
        self.configured = count
        # evaluate() stops ageing batteries above the count: they go stale now
        for b in range(count, MAX_BATTERIES):
            self.state[b] &= ~_FRESH

    def accept(self, addr, seq, mv1, mv2, mv3, mv4, temp_ddegc, flags, now_ms):
        """Store one battery report the decoder has already range-checked;
        flags is the byte the decoder made of it (linkframe PF_*: the
        report's flags and alarm kinds)."""
        if addr > self.configured:
            self.extras = (self.extras + 1) & _WRAP
            self.extra_ms = now_ms
            self._extra = True
            return
        b = addr - 1
        if (self.state[b] & _FRESH and self.seq[b] == seq
                and ticks.diff(now_ms, self.last_ms[b]) <= self.timeout_ms):
            self.duplicates = (self.duplicates + 1) & _WRAP
            self.dup_ms = now_ms
            self._dup = True
        c = b * 4
        cells = self.cell_mv
        cells[c] = mv1
        cells[c + 1] = mv2
        cells[c + 2] = mv3
        cells[c + 3] = mv4
        self.temp_ddegc[b] = temp_ddegc
        self.flags[b] = flags
        self.seq[b] = seq
        self.last_ms[b] = now_ms
        self.state[b] |= _HAVE | _FRESH

    def echo(self, hops, now_ms):
        """The scan request came back round the ring after `hops` batteries."""
        self.ring_count = hops
        self.echo_ms = now_ms
        self._echoed = True

    def evaluate(self, now_ms, timeout_ms):
        self.timeout_ms = timeout_ms
        p = self._p
        p[_P_NOW] = now_ms
        p[_P_TIMEOUT] = timeout_ms
        p[_P_COUNT] = self.configured
        seen = _freshness(p, self.last_ms, self.state, self.timeouts)
        self.seen = seen
        self.full_scan = p[_P_HAVE] == self.configured
        if seen:
            _extremes(p, self.cell_mv, self.temp_ddegc, self.flags, self.state)
            self.min_cell_mv = p[_P_MIN_MV]
            self.min_cell_at = p[_P_MIN_AT]
            self.max_cell_mv = p[_P_MAX_MV]
            self.max_cell_at = p[_P_MAX_AT]
            self.min_temp_ddegc = p[_P_MIN_T]
            self.max_temp_ddegc = p[_P_MAX_T]
            self.pack_mv = p[_P_SUM_MV] // seen
            a = p[_P_ALARM]
            self.battery_alarm = a & F_ALARM != 0
            self.alarm_kinds = a >> PF_KIND_SHIFT
        else:  # nothing trustworthy: no extremes (callers check data_ok first)
            self._no_extremes()
        # each window (echo, extra, duplicate) closes for good on the first
        # tick past it: its stamp is not read again until the next event
        if self._echoed and ticks.diff(now_ms, self.echo_ms) > timeout_ms:
            self._echoed = False
        if self._extra and ticks.diff(now_ms, self.extra_ms) > timeout_ms:
            self._extra = False
        if self._dup and ticks.diff(now_ms, self.dup_ms) > timeout_ms:
            self._dup = False
        lost = 0
        if seen < self.configured:
            lost |= LOST_STALE
        if not self._echoed:
            lost |= LOST_NO_ECHO
        elif self.ring_count < self.configured:
            lost |= LOST_MISSING
        elif self.ring_count > self.configured:
            lost |= LOST_EXTRA
        if self._extra:
            lost |= LOST_EXTRA
        if self._dup:
            lost |= LOST_DUPLICATE
        self.lost = lost
        self.count_mismatch = lost & _MISMATCH != 0
        self.data_ok = lost == 0
