# BMS side of the battery cable: the incremental frame decoder and its
# statistics. The byte loops it runs (viper): bms/linkscan.py; the frame
# format and the scan-request scheduler (LinkMaster): bms/linkframe.py;
# protocol: docs/battery-link.md. Nothing here allocates after construction.
import array
import micropython
from micropython import const
from bms import ticks
from bms.linkframe import (CRC_TABLE, T_REQUEST, T_CELLS, T_CELLS2, CRC_LEN, MAX_LEN,
                           LEN_REQUEST, LEN_CELLS, LEN_CELLS2, MAX_BATTERIES)
from bms.linkscan import (WRAP, S_OK, S_GARBAGE, S_RESYNCS, S_SEQ, S_ECHOES, S_TABLE, S_CELLS,
                          S_TEMPS, S_FLAGS, S_SEQS, S_STATE, S_LAST, S_SIZE, NO_SEQ, WINDOW,
                          sync_in, crc_ok, crc_sync, cells_valid, pack_flags, bind, fast_reports)

# What feed() uses every tick, as const() copies (an imported name is a
# dictionary look-up each time; tests/test_linkframe_host.py holds each to
# bms/linkscan.py's or bms/linkframe.py's)
_HEADER = const(4)
_S_LO = const(0)
_S_HI = const(1)
_S_NOW = const(2)
_S_COUNT = const(3)
_S_LIMIT = const(4)
_S_IN = const(9)
_S_HOPS = const(11)
_CANDIDATE = const(1)
_ECHO = const(2)
_STORED = const(4)

# A partial frame on a line quiet for this long is abandoned and its bytes
# rescanned, so a false header at the end of a burst cannot hold the bytes
# behind it (a real frame's bytes arrive back to back).
_STALL_MS = const(50)


def _length_ok(kind, length):
    # a known type has its exact length, any other at most MAX_LEN
    if kind == T_CELLS:
        return length == LEN_CELLS
    if kind == T_CELLS2:
        return length == LEN_CELLS2
    if kind == T_REQUEST:
        return length == LEN_REQUEST
    return length <= MAX_LEN


class Decoder:
    """Feed it whatever the UART returned; whole frames go into the Pack.

    Every byte that is not part of an accepted frame is counted somewhere.
    A failed candidate frame gives up only its first byte: the bytes after it
    are scanned again, so a real frame behind garbage is found at once; a
    frame that passes its CRC is taken whole only if no frame that passes its
    own CRC starts inside it (else it was a false header that matched by
    chance, and would swallow the real frame's start).
    Plain good battery reports and request echoes take the viper fast path;
    everything else goes through _candidate(), which keeps the rules
    readable and counts them.

    The fast path writes the pack's arrays at the addresses bind() took of
    them here, once: a Pack allocates them in its constructor and never
    rebinds them (tests/test_link.py holds it to that). self._arrays keeps
    them alive whatever the pack does.
    """

    def __init__(self, pack):
        self.pack = pack
        self.win = bytearray(WINDOW)  # bytes st[_S_LO] to st[_S_HI] not yet decoded
        self._st = array.array("i", bytes(4 * S_SIZE))
        st = self._st
        st[S_SEQ] = NO_SEQ  # no report answers a request not sent
        self._arrays = (CRC_TABLE, pack.cell_mv, pack.temp_ddegc, pack.flags, pack.seq,
                        pack.state, pack.last_ms)
        for slot, a in zip((S_TABLE, S_CELLS, S_TEMPS, S_FLAGS, S_SEQS, S_STATE, S_LAST),
                           self._arrays):
            bind(st, slot, a)
        self._rx_ms = 0  # when bytes last arrived
        self.partial = False  # bytes of an incomplete frame are held (feed)
        self.crc_errors = 0
        self.bad_length = 0  # length byte impossible for its type
        self.rejected = 0  # CRC good but a value out of range / bad address
        self.stale_seq = 0  # good reports answering no recent request (replays)
        self.unknown_type = 0  # CRC good, type not known to this version
        self.stalled = 0  # partial frames abandoned after the line went quiet
        self.false_frames = 0  # CRC good by chance, a real frame starts inside

    # counted in the int array, by the fast path too
    @property
    def frames_ok(self):  # battery reports stored in the pack
        return self._st[S_OK]

    @property
    def echoes(self):  # own scan requests back round the ring
        return self._st[S_ECHOES]

    @property
    def garbage_bytes(self):  # bytes dropped while looking for a frame start
        return self._st[S_GARBAGE]

    @property
    def resyncs(self):  # times bytes had to be dropped to find a frame start
        return self._st[S_RESYNCS]

    def expect(self, seq):
        """A scan request with sequence `seq` was just sent. From now on only
        reports of this scan, or of the one before (its tail may still be
        in the UART), are stored."""
        self._st[S_SEQ] = seq

    @micropython.native
    def feed(self, buf, n, now_ms):
        st = self._st
        pack = self.pack
        st[_S_NOW] = now_ms
        st[_S_COUNT] = pack.configured
        st[_S_LIMIT] = pack.timeout_ms
        st[_S_IN] = 0
        if n > 0:
            self._rx_ms = now_ms  # the line is not quiet
        w = self.win
        while True:
            r = fast_reports(w, st, buf, n)
            if r & _STORED:  # the pack merges them
                pack.dirty = True
            if r & _ECHO:
                pack.echo(st[_S_HOPS], now_ms)
            if not r & _CANDIDATE:
                break  # all of buf taken, waiting for bytes
            if not self._candidate(w, st[_S_LO], now_ms) and st[_S_IN] >= n:
                break
        if n <= 0 and st[_S_HI] - st[_S_LO] >= _HEADER:
            self._quiet(w, st, now_ms)
        # a partial frame waits for bytes or a quiet line: the controller
        # feeds the decoder on a silent tick too while this holds
        self.partial = st[_S_HI] - st[_S_LO] >= _HEADER

    def _quiet(self, w, st, now_ms):
        # no bytes: a partial frame on a quiet line is given up, the bytes
        # after its first rescanned
        pack = self.pack
        while (st[_S_HI] - st[_S_LO] >= _HEADER
               and ticks.diff(now_ms, self._rx_ms) > _STALL_MS):
            self.stalled = (self.stalled + 1) & WRAP
            self._drop(st[_S_LO])
            while True:
                r = fast_reports(w, st, w, 0)
                if r & _STORED:
                    pack.dirty = True
                if r & _ECHO:
                    pack.echo(st[_S_HOPS], now_ms)
                if not (r & _CANDIDATE and self._candidate(w, st[_S_LO], now_ms)):
                    break

    def _drop(self, lo):
        # the candidate at lo failed: give up its first byte only
        st = self._st
        st[S_GARBAGE] = (st[S_GARBAGE] + 1) & WRAP
        st[_S_LO] = lo + 1

    def _candidate(self, w, lo, now_ms):
        """Handle the one frame candidate at lo; False if it needs more bytes."""
        kind = w[lo + 2]
        length = w[lo + 3]
        if not _length_ok(kind, length):
            self.bad_length = (self.bad_length + 1) & WRAP
            self._drop(lo)
            return True
        end = lo + _HEADER + length
        hi = self._st[_S_HI]
        if end + CRC_LEN > hi:
            return False
        inner = crc_sync(w, lo, end, hi, CRC_TABLE)
        if inner < 0:
            self.crc_errors = (self.crc_errors + 1) & WRAP
            self._drop(lo)
            return True
        if inner:  # a frame may start inside it (rare: look closer)
            inner = self._inner(w, inner, end + CRC_LEN,
                                ticks.diff(now_ms, self._rx_ms) > _STALL_MS)
            if inner < 0:
                return False
        if inner:  # a false header that passed its CRC by chance
            self.false_frames = (self.false_frames + 1) & WRAP
            st = self._st
            st[S_GARBAGE] = (st[S_GARBAGE] + inner - lo) & WRAP
            st[S_RESYNCS] = (st[S_RESYNCS] + 1) & WRAP
            st[_S_LO] = inner
            return True
        if kind == T_CELLS or kind == T_CELLS2:
            self._cells(w, lo, now_ms)
        elif kind == T_REQUEST:
            self._echo(w, lo, now_ms)
        else:
            self.unknown_type = (self.unknown_type + 1) & WRAP
        self._st[_S_LO] = end + CRC_LEN
        return True

    def _inner(self, w, p, stop, quiet):
        """Where a frame that passes its own CRC starts in w[p:stop] (inside
        a frame that passed its CRC): 0 if none, -1 if that needs bytes not
        received yet. A real frame inside means the outer one is a false
        header whose CRC matched by chance (1 in 65536): taking it whole
        would swallow the real frame's start. On a quiet line an incomplete
        one is no frame (a real frame's bytes arrive back to back)."""
        hi = self._st[_S_HI]
        while True:
            p = sync_in(w, p, stop, hi)
            if p < 0:
                return 0
            if p + _HEADER > hi:
                if not quiet:
                    return -1
            elif _length_ok(w[p + 2], w[p + 3]):
                end = p + _HEADER + w[p + 3]
                if end + CRC_LEN > hi:
                    if not quiet:
                        return -1
                elif crc_ok(w, p + 2, end, CRC_TABLE):
                    return p
            p += 1

    def _echo(self, w, p, now_ms):
        st = self._st
        st[S_ECHOES] = (st[S_ECHOES] + 1) & WRAP
        self.pack.echo(w[p + 4], now_ms)

    def _cells(self, w, p, now_ms):
        addr = w[p + 4]
        pf = pack_flags(w, p)
        if addr < 1 or addr > MAX_BATTERIES or not cells_valid(w, p) or pf < 0:
            self.rejected = (self.rejected + 1) & WRAP
            return
        expect = self._st[S_SEQ]
        if expect == NO_SEQ or (expect - w[p + 5]) & 0xFF > 1:  # as in fast_reports
            self.stale_seq = (self.stale_seq + 1) & WRAP
            return
        t = w[p + 14] | w[p + 15] << 8
        if t >= 0x8000:
            t -= 0x10000
        self.pack.accept(addr, w[p + 5],
                         w[p + 6] | w[p + 7] << 8, w[p + 8] | w[p + 9] << 8,
                         w[p + 10] | w[p + 11] << 8, w[p + 12] | w[p + 13] << 8,
                         t, pf, now_ms)
        if addr <= self.pack.configured:
            st = self._st
            st[S_OK] = (st[S_OK] + 1) & WRAP
