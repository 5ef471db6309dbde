# The battery bank as the battery cable reports it: latest per-cell values,
# their age, min/max and whether the data can be trusted. Allocation-free in
# steady state; the per-battery loops run in viper (50 batteries every tick).
import array
import micropython
from micropython import const
from bms import ticks
from bms.linkframe import F_ALARM, PF_KIND_SHIFT

_MAX_BATTERIES = const(50)
_CELLS = const(200)
_WRAP = const(0x3FFFFFFF)  # counters wrap at 2**30: small ints on the boards
_MASK = const(0x3FFFFFFF)  # bms/ticks.py, inlined in evaluate()
_HALF = const(0x20000000)

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
_NEW = const(4)  # reported since evaluate() last merged it (the decoder sets it with the two above)
_IN = const(8)  # counted in the extremes, sum and alarms (evaluate's own)
_COUNTED = const(16)  # counted in the reported total (evaluate's own)
_DECODER_BITS = const(_HAVE | _FRESH | _NEW)  # what a stored report sets (linkscan.fast_reports)

# slots of the shared int array handed to the viper loops
_P_NOW = const(0)
_P_TIMEOUT = const(1)
_P_COUNT = const(2)
_P_HAVE = const(3)
_P_MIN_MV = const(4)
_P_MIN_AT = const(5)  # 1 + cell index of the first lowest cell, 0 for none
_P_MAX_MV = const(6)
_P_MAX_AT = const(7)
_P_MIN_T = const(8)  # a temperature as its u16 view ^ 0x8000 (see _extremes)
_P_MAX_T = const(9)
_P_SUM_MV = const(10)
_P_ALARM = const(11)
_P_SEEN = const(12)  # fresh batteries
_P_OLDEST = const(13)  # no fresh battery's stamp is older (when _P_SEEN > 0)
_P_MIN_T_AT = const(14)  # 1 + a battery holding the lowest temperature, 0 for none
_P_MAX_T_AT = const(15)
_P_SIZE = const(16)

# what _extremes changed, so _publish copies only that and evaluate knows
# whether the link's verdict can have moved (it reads only the counts)
_CH_CELLS = const(1)  # min/max cell and where
_CH_TEMPS = const(2)
_CH_SUM = const(4)
_CH_ALARM = const(8)
_CH_COUNT = const(16)  # fresh batteries (seen) or reported ones (have)


def lost_names(mask):
    out = []
    for i in range(len(LOST_NAMES)):
        if mask & (1 << i):
            out.append(LOST_NAMES[i])
    return out


# ptr8 / ptr16 / ptr32 are viper-only names; tools/typecheck.py declares them for mypy.
@micropython.viper
def _freshness(p: ptr32, last: ptr32, state: ptr8, timeouts: ptr16):
    # Ages each fresh battery and marks it stale past the limit, counting the
    # fresh->stale transitions; p[_P_HAVE] = reported, p[_P_OLDEST] = the
    # oldest fresh stamp. Stale is latched: only a report makes a battery
    # fresh again, so last[] is never read once older than the limit (a
    # stamp 2**29 ms old would read as young again, see bms/ticks.py).
    now = int(p[_P_NOW])
    limit = int(p[_P_TIMEOUT])
    count = int(p[_P_COUNT])
    have = 0
    oldest = now
    oldest_age = 0
    i = 0
    while i < count:
        s = int(state[i])
        if s & _HAVE:
            have += 1
            state[i] = s | _COUNTED
            if s & _FRESH:
                age = ((now - int(last[i]) + 0x20000000) & 0x3FFFFFFF) - 0x20000000
                if age <= limit:
                    if age > oldest_age:
                        oldest_age = age
                        oldest = int(last[i])
                else:
                    timeouts[i] = (int(timeouts[i]) + 1) & 0xFFFF
                    state[i] = _HAVE | _COUNTED
        i += 1
    p[_P_HAVE] = have
    p[_P_OLDEST] = oldest


@micropython.viper
def _extremes(p: ptr32, cells: ptr16, temps: ptr16, flags: ptr8, state: ptr8, counted: ptr32,
              full: int) -> int:
    # The fresh batteries' min/max cell (the first of equals, as a cell
    # index), min/max temperature, sum of cell mV, OR of the flag bytes
    # (alarm kinds) and count, into p[_P_MIN_MV..]. full=0 merges only the
    # batteries reported since the last call (_NEW) into the standing
    # figures, which holds because a report only replaces its own battery's
    # values; it starts over as full=1 when a battery that held an extreme
    # moved away from it or cleared a flag bit. counted[] is each battery's
    # cell sum and flag byte (<< 16) as counted. Every slot read back here is
    # >= 0 (a ptr32 load does not sign-extend on 64-bit ports): holders are
    # index + 1 (0: none) and a temperature is its u16 view ^ 0x8000, which
    # orders like the s16. Returns the _CH_* bits of the figures that changed.
    count = int(p[_P_COUNT])
    lo = int(p[_P_MIN_MV])
    lo_at = int(p[_P_MIN_AT])
    hi = int(p[_P_MAX_MV])
    hi_at = int(p[_P_MAX_AT])
    tlo = int(p[_P_MIN_T])
    tlo_at = int(p[_P_MIN_T_AT])
    thi = int(p[_P_MAX_T])
    thi_at = int(p[_P_MAX_T_AT])
    total = int(p[_P_SUM_MV])
    alarms = int(p[_P_ALARM])
    seen = int(p[_P_SEEN])
    have = int(p[_P_HAVE])
    while True:
        if full:
            lo_at = 0
            hi_at = 0
            tlo_at = 0
            thi_at = 0
            total = 0
            alarms = 0
            seen = 0
        redo = 0
        b = 0
        while b < count:
            s = int(state[b])
            if full:
                if not s & _FRESH:
                    state[b] = s & ~(_NEW | _IN)
                    b += 1
                    continue
            elif not s & _NEW:
                b += 1
                continue
            was_in = 0
            if not full:
                was_in = s & _IN
            if was_in:
                total -= int(counted[b]) & 0xFFFF
            else:
                seen += 1
            if not s & _COUNTED:
                have += 1
            state[b] = (s | _IN | _COUNTED) & ~_NEW
            j = b * 4
            bl = int(cells[j])
            bl_at = j + 1
            bh = bl
            bh_at = j + 1
            bs = bl
            k = j + 1
            while k < j + 4:
                v = int(cells[k])
                bs += v
                if v < bl:
                    bl = v
                    bl_at = k + 1
                if v > bh:
                    bh = v
                    bh_at = k + 1
                k += 1
            total += bs
            if lo_at and ((lo_at - 1) >> 2) == b:  # it held the lowest cell
                if bl < lo or (bl == lo and bl_at <= lo_at):
                    lo = bl
                    lo_at = bl_at
                else:
                    redo = 1
            elif not lo_at or bl < lo or (bl == lo and bl_at < lo_at):
                lo = bl
                lo_at = bl_at
            if hi_at and ((hi_at - 1) >> 2) == b:
                if bh > hi or (bh == hi and bh_at <= hi_at):
                    hi = bh
                    hi_at = bh_at
                else:
                    redo = 1
            elif not hi_at or bh > hi or (bh == hi and bh_at < hi_at):
                hi = bh
                hi_at = bh_at
            t = int(temps[b]) ^ 0x8000
            if tlo_at == b + 1:
                if t <= tlo:
                    tlo = t
                else:
                    redo = 1
            elif not tlo_at or t < tlo:
                tlo = t
                tlo_at = b + 1
            if thi_at == b + 1:
                if t >= thi:
                    thi = t
                else:
                    redo = 1
            elif not thi_at or t > thi:
                thi = t
                thi_at = b + 1
            f = int(flags[b])
            if was_in and (int(counted[b]) >> 16) & ~f:
                redo = 1  # a flag bit cleared: another battery may still set it
            alarms |= f
            counted[b] = bs | (f << 16)
            b += 1
        if not redo:
            break
        full = 1
    changed = 0
    if (lo != int(p[_P_MIN_MV]) or lo_at != int(p[_P_MIN_AT]) or hi != int(p[_P_MAX_MV])
            or hi_at != int(p[_P_MAX_AT])):
        changed = _CH_CELLS
    if tlo != int(p[_P_MIN_T]) or thi != int(p[_P_MAX_T]):
        changed |= _CH_TEMPS
    if total != int(p[_P_SUM_MV]):
        changed |= _CH_SUM
    if alarms != int(p[_P_ALARM]):
        changed |= _CH_ALARM
    if seen != int(p[_P_SEEN]) or have != int(p[_P_HAVE]):
        changed |= _CH_COUNT
    p[_P_MIN_MV] = lo
    p[_P_MIN_AT] = lo_at
    p[_P_MAX_MV] = hi
    p[_P_MAX_AT] = hi_at
    p[_P_MIN_T] = tlo
    p[_P_MIN_T_AT] = tlo_at
    p[_P_MAX_T] = thi
    p[_P_MAX_T_AT] = thi_at
    p[_P_SUM_MV] = total
    p[_P_ALARM] = alarms
    p[_P_SEEN] = seen
    p[_P_HAVE] = have
    return changed


def _sooner(due, stamp_ms, timeout_ms):
    # due, or the first tick past stamp_ms + timeout_ms if that comes first
    t = ticks.add(stamp_ms, timeout_ms + 1)
    return t if ticks.diff(t, due) < 0 else due


class Pack:
    def __init__(self, count=1):
        self.cell_mv = array.array("H", bytes(2 * _CELLS))
        self.temp_ddegc = array.array("h", bytes(2 * _MAX_BATTERIES))
        self.flags = bytearray(_MAX_BATTERIES)
        self.last_ms = array.array("i", bytes(4 * _MAX_BATTERIES))
        self.seq = bytearray(_MAX_BATTERIES)  # scan sequence of the last report
        self.timeouts = array.array("H", bytes(2 * _MAX_BATTERIES))  # fresh->stale per battery
        self.state = bytearray(_MAX_BATTERIES)  # _HAVE | _FRESH | _NEW ... bits, per battery
        self._counted = array.array("i", bytes(4 * _MAX_BATTERIES))  # see _extremes
        self._p = array.array("i", bytes(4 * _P_SIZE))
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
        # evaluate() works only when something happened (dirty: a report,
        # which the decoder's fast path stores too; _events: an echo, an
        # extra or duplicate report, configure()) or when a battery or a
        # window can time out (_due_ms, a lower bound)
        self.dirty = True
        self._events = True
        self._rescan = True
        self._due_ms = 0
        self._no_extremes()
        self.configure(count)
    def _publish(self, p, changed):
        # copies the figures that changed; all of them when the count did
        # (the attributes then held nothing, or a mean over another count)
        if changed & _CH_COUNT:
            seen = p[_P_SEEN]
            self.seen = seen
            self.full_scan = p[_P_HAVE] == self.configured
            if not seen:  # nothing trustworthy: no extremes (callers check data_ok first)
                self._no_extremes()
                return
            changed = _CH_CELLS | _CH_TEMPS | _CH_SUM | _CH_ALARM
        if changed & _CH_CELLS:
            self.min_cell_mv = p[_P_MIN_MV]
            self.min_cell_at = p[_P_MIN_AT] - 1
            self.max_cell_mv = p[_P_MAX_MV]
            self.max_cell_at = p[_P_MAX_AT] - 1
        if changed & _CH_TEMPS:
            self.min_temp_ddegc = p[_P_MIN_T] - 0x8000
            self.max_temp_ddegc = p[_P_MAX_T] - 0x8000
        if changed & _CH_SUM:
            self.pack_mv = p[_P_SUM_MV] // self.seen
        if changed & _CH_ALARM:
            a = p[_P_ALARM]
            self.battery_alarm = a & F_ALARM != 0
            self.alarm_kinds = a >> PF_KIND_SHIFT

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
        if not 1 <= count <= _MAX_BATTERIES:
            raise ValueError("battery count outside 1..50")
        self.configured = count
        # evaluate() stops ageing batteries above the count: they go stale now
        for b in range(count, _MAX_BATTERIES):
            self.state[b] &= ~(_FRESH | _NEW | _IN)
        self._rescan = True
        self.dirty = True
        self._events = True

    def accept(self, addr, seq, mv1, mv2, mv3, mv4, temp_ddegc, flags, now_ms):
        """Store one battery report the decoder has already range-checked;
        flags is the byte the decoder made of it (linkframe PF_*: the
        report's flags and alarm kinds)."""
        if addr > self.configured:
            self.extras = (self.extras + 1) & _WRAP
            self.extra_ms = now_ms
            self._extra = True
            self._events = True
            return
        b = addr - 1
        if (self.state[b] & _FRESH and self.seq[b] == seq
                and ticks.diff(now_ms, self.last_ms[b]) <= self.timeout_ms):
            self.duplicates = (self.duplicates + 1) & _WRAP
            self.dup_ms = now_ms
            self._dup = True
            self._events = True
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
        self.state[b] |= _DECODER_BITS
        self.dirty = True

    def echo(self, hops, now_ms):
        """The scan request came back round the ring after `hops` batteries."""
        self.ring_count = hops
        self.echo_ms = now_ms
        self._echoed = True
        self._events = True

    @micropython.native
    def evaluate(self, now_ms, timeout_ms):
        # ticks.diff inlined: this runs every control tick
        due = ((now_ms - self._due_ms + _HALF) & _MASK) - _HALF >= 0
        if timeout_ms != self.timeout_ms:
            self.timeout_ms = timeout_ms
            self._rescan = due = True
        if self.dirty or due:
            self.dirty = False
            p = self._p
            p[_P_NOW] = now_ms
            full = (self._rescan or not self.seen
                    or ((now_ms - p[_P_OLDEST] + _HALF) & _MASK) - _HALF > timeout_ms)
            if full:  # a battery may have gone stale: age them all, count them again
                self._rescan = False
                p[_P_TIMEOUT] = timeout_ms
                p[_P_COUNT] = self.configured
                _freshness(p, self.last_ms, self.state, self.timeouts)
            changed = _extremes(p, self.cell_mv, self.temp_ddegc, self.flags, self.state,
                                self._counted, full)
            if changed:
                self._publish(p, changed)
            if not (due or self._events or changed & _CH_COUNT):
                return  # the verdict below reads no figure but the counts
        elif not self._events:
            return  # nothing reported, nothing happened, nothing can have timed out
        p = self._p
        self._events = False
        # configure() moves the count to compare with and _freshness recounts
        # in place, with no count change for _publish to see
        self.full_scan = p[_P_HAVE] == self.configured
        # each window (echo, extra, duplicate) closes for good on the first
        # tick past it: its stamp is not read again until the next event.
        # due: the first tick at which a window or a battery can time out
        due = ticks.add(now_ms, timeout_ms)
        if self._echoed:
            if ticks.diff(now_ms, self.echo_ms) > timeout_ms:
                self._echoed = False
            else:
                due = _sooner(due, self.echo_ms, timeout_ms)
        if self._extra:
            if ticks.diff(now_ms, self.extra_ms) > timeout_ms:
                self._extra = False
            else:
                due = _sooner(due, self.extra_ms, timeout_ms)
        if self._dup:
            if ticks.diff(now_ms, self.dup_ms) > timeout_ms:
                self._dup = False
            else:
                due = _sooner(due, self.dup_ms, timeout_ms)
        if self.seen:
            due = _sooner(due, p[_P_OLDEST], timeout_ms)
        self._due_ms = due
        lost = 0
        if self.seen < self.configured:
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
