# BMS side of the battery cable: the incremental frame decoder and its
# statistics. Frame format and the scan-request scheduler (LinkMaster):
# bms/linkframe.py; protocol: docs/battery-link.md. Nothing here allocates
# after construction.
import array
import micropython
from micropython import const
from bms import ticks
from bms.linkframe import CRC_TABLE

_SYNC1 = const(0xAA)
_SYNC2 = const(0x55)
_T_REQUEST = const(0x11)
_T_CELLS = const(0x21)
_HEADER = const(4)
_TRAILER = const(2)
_MAX_LEN = const(48)
_LEN_REQUEST = const(2)
_LEN_CELLS = const(13)
_CELLS_BYTES = const(19)
_REQUEST_BYTES = const(8)
_MAX_ADDR = const(50)
_CELL_MV_MAX = const(5000)
_TEMP_DDEGC_MIN = const(-400)
_TEMP_DDEGC_MAX = const(1250)
_F_RESERVED = const(0xFC)

_WINDOW = const(512)  # receive window; holds at most one partial frame between feeds
# A partial frame on a line quiet for this long is abandoned and its bytes
# rescanned, so a false header at the end of a burst cannot hold the bytes
# behind it (a real frame's bytes arrive back to back).
_STALL_MS = const(50)

_CRC = array.array("H", CRC_TABLE)

# Every counter wraps at 2**30 (small ints on the boards; readers take
# differences modulo 2**30). At line rate the fastest one takes weeks to wrap.
_WRAP = const(0x3FFFFFFF)

# ptr8 / ptr16 / ptr32 are viper-only names; tools/typecheck.py declares them for mypy.


@micropython.viper
def _crc_ok(w: ptr8, start: int, end: int, table: ptr16) -> bool:
    # CRC-16/CCITT-FALSE over w[start:end] against the little-endian CRC at w[end]
    c = 0xFFFF
    i = start
    while i < end:
        c = ((c << 8) & 0xFFFF) ^ int(table[((c >> 8) ^ int(w[i])) & 0xFF])
        i += 1
    return c == (int(w[end]) | (int(w[end + 1]) << 8))


@micropython.viper
def _copy(dst: ptr8, d: int, src: ptr8, s: int, n: int):
    # forward byte copy; also safe for moving a region to a lower index
    i = 0
    while i < n:
        dst[d + i] = src[s + i]
        i += 1


@micropython.viper
def _sync_in(w: ptr8, s: int, stop: int, hi: int) -> int:
    # the first possible frame start in w[s:stop] (AA 55, or an AA that is
    # the last byte received), else -1
    while s < stop:
        if w[s] == _SYNC1 and (s + 1 == hi or w[s + 1] == _SYNC2):
            return s
        s += 1
    return -1


@micropython.viper
def _crc_sync(w: ptr8, lo: int, end: int, hi: int, table: ptr16) -> int:
    # the frame at lo with its CRC at w[end]: -1 if the CRC fails, else the
    # first possible frame start inside it (> lo), else 0
    c = 0xFFFF
    i = lo + 2
    while i < end:
        c = ((c << 8) & 0xFFFF) ^ int(table[((c >> 8) ^ int(w[i])) & 0xFF])
        i += 1
    if c != (int(w[end]) | (int(w[end + 1]) << 8)):
        return -1
    i = lo + 1
    while i < end + 2:
        if w[i] == _SYNC1 and (i + 1 == hi or w[i + 1] == _SYNC2):
            return i
        i += 1
    return 0


@micropython.viper
def _cells_valid(w: ptr8, p: int) -> bool:
    # cells 0..5000 mV, temperature -40.0..+125.0 degC, reserved flag bits zero
    j = p + 6
    while j < p + 14:
        if (int(w[j]) | (int(w[j + 1]) << 8)) > _CELL_MV_MAX:
            return False
        j += 2
    t = int(w[p + 14]) | (int(w[p + 15]) << 8)
    if t >= 0x8000:
        t -= 0x10000
    if t < _TEMP_DDEGC_MIN or t > _TEMP_DDEGC_MAX:
        return False
    return (int(w[p + 16]) & _F_RESERVED) == 0


# slots of the decoder's int array shared with _fast_reports
_S_LO = const(0)
_S_HI = const(1)
_S_NOW = const(2)
_S_COUNT = const(3)  # configured batteries
_S_LIMIT = const(4)  # staleness timeout, for the duplicate test
_S_OK = const(5)  # frames_ok
_S_GARBAGE = const(6)
_S_RESYNCS = const(7)
_S_SEQ = const(8)  # sequence of the latest request sent
_S_SIZE = const(9)
# _S_SEQ before the first request; not -1: a ptr32 load does not
# sign-extend on 64-bit ports
_NO_SEQ = const(0x100)


@micropython.viper
def _fast_reports(w: ptr8, st: ptr32, table: ptr16, cells: ptr16, temps: ptr16,
                  flags: ptr8, seqs: ptr8, state: ptr8, last: ptr32) -> int:
    # The common case at line rate: skip to each frame start and store every
    # plain good battery report straight into the pack. Returns 0 when it
    # needs more bytes, 2 for a good request echo at st[_S_LO] (the caller
    # stores its hop count), 1 when the candidate there is anything else
    # (other type, bad length or CRC, rejected, extra, duplicate, a frame
    # start inside an echo): the Python path then handles and counts that
    # one candidate, and also a report that does not answer the latest
    # request or the one before.
    lo = int(st[_S_LO])
    hi = int(st[_S_HI])
    now = int(st[_S_NOW])
    count = int(st[_S_COUNT])
    limit = int(st[_S_LIMIT])
    expect = int(st[_S_SEQ])
    result = 0
    while True:
        s = lo
        while s < hi:
            if w[s] == _SYNC1 and (s + 1 == hi or w[s + 1] == _SYNC2):
                break
            s += 1
        if s != lo:
            st[_S_GARBAGE] = (int(st[_S_GARBAGE]) + s - lo) & _WRAP
            st[_S_RESYNCS] = (int(st[_S_RESYNCS]) + 1) & _WRAP
            lo = s
        if hi - lo < _HEADER:
            break
        if w[lo + 2] != _T_CELLS or w[lo + 3] != _LEN_CELLS:
            result = 1
            if w[lo + 2] == _T_REQUEST and w[lo + 3] == _LEN_REQUEST:
                if hi - lo < _REQUEST_BYTES:
                    result = 0
                    break
                c = 0xFFFF
                i = lo + 2
                while i < lo + 6:
                    c = ((c << 8) & 0xFFFF) ^ int(table[((c >> 8) ^ int(w[i])) & 0xFF])
                    i += 1
                if c == (int(w[lo + 6]) | (int(w[lo + 7]) << 8)):
                    result = 2
                    i = lo + 1
                    while i < lo + _REQUEST_BYTES:
                        if w[i] == _SYNC1 and (i + 1 == hi or w[i + 1] == _SYNC2):
                            result = 1  # may hide a frame start: the Python path looks
                        i += 1
            break
        if hi - lo < _CELLS_BYTES:
            break
        c = 0xFFFF
        i = lo + 2
        while i < lo + 17:
            c = ((c << 8) & 0xFFFF) ^ int(table[((c >> 8) ^ int(w[i])) & 0xFF])
            i += 1
        if c != (int(w[lo + 17]) | (int(w[lo + 18]) << 8)):
            result = 1
            break
        addr = int(w[lo + 4])
        if addr < 1 or addr > count:
            result = 1
            break
        j = lo + 6
        bad = 0
        while j < lo + 14:
            if (int(w[j]) | (int(w[j + 1]) << 8)) > _CELL_MV_MAX:
                bad = 1
            j += 2
        t = int(w[lo + 14]) | (int(w[lo + 15]) << 8)
        if t >= 0x8000:
            t -= 0x10000
        if bad or t < _TEMP_DDEGC_MIN or t > _TEMP_DDEGC_MAX or (int(w[lo + 16]) & _F_RESERVED):
            result = 1
            break
        seq = int(w[lo + 5])
        if expect == _NO_SEQ or ((expect - seq) & 0xFF) > 1:
            result = 1
            break
        b = addr - 1
        if int(state[b]) & 2 and int(seqs[b]) == seq:  # fresh, same scan
            age = ((now - int(last[b]) + 0x20000000) & 0x3FFFFFFF) - 0x20000000
            if age <= limit:
                result = 1
                break
        k = b * 4
        j = lo + 6
        while j < lo + 14:
            cells[k] = int(w[j]) | (int(w[j + 1]) << 8)
            k += 1
            j += 2
        temps[b] = int(w[lo + 14]) | (int(w[lo + 15]) << 8)
        flags[b] = w[lo + 16]
        seqs[b] = seq
        state[b] = int(state[b]) | 3  # reported once, fresh (bms.pack)
        last[b] = now
        st[_S_OK] = (int(st[_S_OK]) + 1) & _WRAP
        lo += _CELLS_BYTES
    st[_S_LO] = lo
    return result


def _length_ok(kind, length):
    # a known type has its exact length, any other at most _MAX_LEN
    if kind == _T_CELLS:
        return length == _LEN_CELLS
    if kind == _T_REQUEST:
        return length == _LEN_REQUEST
    return length <= _MAX_LEN


class Decoder:
    """Feed it whatever the UART returned; whole frames go into the Pack.

    Every byte that is not part of an accepted frame is counted somewhere.
    A failed candidate frame gives up only its first byte: the bytes after it
    are scanned again, so a real frame behind garbage is found at once; a
    frame that passes its CRC is taken whole only if no frame that passes its
    own CRC starts inside it (else it was a false header that matched by
    chance, and would swallow the real frame's start).
    Plain good battery reports take the viper fast path; everything else goes
    through _candidate(), which keeps the rules readable and counts them.
    """

    def __init__(self, pack):
        self.pack = pack
        self.win = bytearray(_WINDOW)
        self.lo = 0  # first byte not yet decoded
        self.hi = 0  # end of received bytes
        self._st = array.array("i", bytes(4 * _S_SIZE))
        self._st[_S_SEQ] = _NO_SEQ  # no report answers a request not sent
        self._rx_ms = 0  # when bytes last arrived
        self.frames_ok = 0  # battery reports stored in the pack
        self.echoes = 0  # own scan requests back round the ring
        self.crc_errors = 0
        self.bad_length = 0  # length byte impossible for its type
        self.rejected = 0  # CRC good but a value out of range / bad address
        self.stale_seq = 0  # good reports answering no recent request (replays)
        self.unknown_type = 0  # CRC good, type not known to this version
        self.stalled = 0  # partial frames abandoned after the line went quiet
        self.false_frames = 0  # CRC good by chance, a real frame starts inside
        self.garbage_bytes = 0  # bytes dropped while looking for a frame start
        self.resyncs = 0  # times bytes had to be dropped to find a frame start

    def expect(self, seq):
        """A scan request with sequence `seq` was just sent. From now on only
        reports of this scan, or of the one before (its tail may still be
        in the UART), are stored."""
        self._st[_S_SEQ] = seq

    def feed(self, buf, n, now_ms):
        w = self.win
        i = 0
        if n > 0:
            self._rx_ms = now_ms
        while i < n:
            if self.lo == self.hi:
                self.lo = self.hi = 0
            elif _WINDOW - self.hi < n - i and self.lo:
                _copy(w, 0, w, self.lo, self.hi - self.lo)
                self.hi -= self.lo
                self.lo = 0
            take = _WINDOW - self.hi
            if take > n - i:
                take = n - i
            _copy(w, self.hi, buf, i, take)
            self.hi += take
            i += take
            self._decode(now_ms)
        if n <= 0:
            self._decode(now_ms)  # lets a stalled partial frame time out

    def _decode(self, now_ms):
        w = self.win
        st = self._st
        pack = self.pack
        st[_S_LO] = self.lo
        st[_S_HI] = self.hi
        st[_S_NOW] = now_ms
        st[_S_COUNT] = pack.configured
        st[_S_LIMIT] = pack.timeout_ms
        while True:
            r = _fast_reports(w, st, _CRC, pack.cell_mv, pack.temp_ddegc, pack.flags,
                              pack.seq, pack.state, pack.last_ms)
            if r == 2:  # a request echo
                lo = st[_S_LO]
                self.echoes = (self.echoes + 1) & _WRAP
                pack.echo(w[lo + 4], now_ms)
                st[_S_LO] = lo + _REQUEST_BYTES
                continue
            if r and self._candidate(w, st[_S_LO], now_ms):
                continue
            # waiting for bytes; a partial frame on a quiet line is given up
            if (st[_S_HI] - st[_S_LO] >= _HEADER
                    and ticks.diff(now_ms, self._rx_ms) > _STALL_MS):
                self.stalled = (self.stalled + 1) & _WRAP
                self._drop(st[_S_LO])
                continue
            break
        self.lo = st[_S_LO]
        self.frames_ok = st[_S_OK]
        self.garbage_bytes = st[_S_GARBAGE]
        self.resyncs = st[_S_RESYNCS]

    def _drop(self, lo):
        # the candidate at lo failed: give up its first byte only
        st = self._st
        st[_S_GARBAGE] = (st[_S_GARBAGE] + 1) & _WRAP
        st[_S_LO] = lo + 1

    def _candidate(self, w, lo, now_ms):
        """Handle the one frame candidate at lo; False if it needs more bytes."""
        kind = w[lo + 2]
        length = w[lo + 3]
        if (length > _MAX_LEN or (kind == _T_CELLS and length != _LEN_CELLS)
                or (kind == _T_REQUEST and length != _LEN_REQUEST)):
            self.bad_length = (self.bad_length + 1) & _WRAP
            self._drop(lo)
            return True
        end = lo + _HEADER + length
        if end + _TRAILER > self.hi:
            return False
        inner = _crc_sync(w, lo, end, self.hi, _CRC)
        if inner < 0:
            self.crc_errors = (self.crc_errors + 1) & _WRAP
            self._drop(lo)
            return True
        if inner:  # a frame may start inside it (rare: look closer)
            inner = self._inner(w, inner, end + _TRAILER,
                                ticks.diff(now_ms, self._rx_ms) > _STALL_MS)
            if inner < 0:
                return False
        if inner:  # a false header that passed its CRC by chance
            self.false_frames = (self.false_frames + 1) & _WRAP
            st = self._st
            st[_S_GARBAGE] = (st[_S_GARBAGE] + inner - lo) & _WRAP
            st[_S_RESYNCS] = (st[_S_RESYNCS] + 1) & _WRAP
            st[_S_LO] = inner
            return True
        if kind == _T_CELLS:
            self._cells(w, lo, now_ms)
        elif kind == _T_REQUEST:
            self._echo(w, lo, now_ms)
        else:
            self.unknown_type = (self.unknown_type + 1) & _WRAP
        self._st[_S_LO] = end + _TRAILER
        return True

    def _inner(self, w, p, stop, quiet):
        """Where a frame that passes its own CRC starts in w[p:stop] (inside
        a frame that passed its CRC): 0 if none, -1 if that needs bytes not
        received yet. A real frame inside means the outer one is a false
        header whose CRC matched by chance (1 in 65536): taking it whole
        would swallow the real frame's start. On a quiet line an incomplete
        one is no frame (a real frame's bytes arrive back to back)."""
        hi = self.hi
        while True:
            p = _sync_in(w, p, stop, hi)
            if p < 0:
                return 0
            if p + _HEADER > hi:
                if not quiet:
                    return -1
            elif _length_ok(w[p + 2], w[p + 3]):
                end = p + _HEADER + w[p + 3]
                if end + _TRAILER > hi:
                    if not quiet:
                        return -1
                elif _crc_ok(w, p + 2, end, _CRC):
                    return p
            p += 1

    def _echo(self, w, p, now_ms):
        self.echoes = (self.echoes + 1) & _WRAP
        self.pack.echo(w[p + 4], now_ms)

    def _cells(self, w, p, now_ms):
        addr = w[p + 4]
        if addr < 1 or addr > _MAX_ADDR or not _cells_valid(w, p):
            self.rejected = (self.rejected + 1) & _WRAP
            return
        expect = self._st[_S_SEQ]
        if expect == _NO_SEQ or (expect - w[p + 5]) & 0xFF > 1:  # as in _fast_reports
            self.stale_seq = (self.stale_seq + 1) & _WRAP
            return
        t = w[p + 14] | w[p + 15] << 8
        if t >= 0x8000:
            t -= 0x10000
        self.pack.accept(addr, w[p + 5],
                         w[p + 6] | w[p + 7] << 8, w[p + 8] | w[p + 9] << 8,
                         w[p + 10] | w[p + 11] << 8, w[p + 12] | w[p + 13] << 8,
                         t, w[p + 16], now_ms)
        if addr <= self.pack.configured:
            st = self._st
            st[_S_OK] = (st[_S_OK] + 1) & _WRAP
