# micropython
# The decoder's viper fast path (bms/linkscan.py fast_reports: window,
# two-byte CRC, range checks, reports stored straight into the pack, echoes
# counted) and its Python path, held to a plain decoder written from the
# rules alone (docs/battery-link.md, bms/link.py Decoder): every received
# byte kept, one candidate at a time, CRC by linkframe.crc16. Both get the
# same long random streams in random chunks (good and bad reports of both
# versions, echoes, garbage, cut and bit-flipped frames, unknown types, bad
# lengths, sync bytes inside payloads, quiet lines, new requests, pack
# evaluations and count changes), and after every feed every counter, every
# pack array and figure and the undecoded bytes must be equal.
from bms import linkframe as F
from bms import ticks
from bms.link import Decoder
from bms.linkscan import S_LO, S_HI
from bms.pack import Pack
from linkgen import Rng

SEEDS = (1, 5, 9, 2026)
EVENTS = 4000
_NO_SEQ = 0x100
_FRESH = 2  # bms/pack.py state bit: reported within the timeout
_STALL_MS = 50  # bms/link.py
_HOP_CRC_AA55 = 235  # a request with this hop and seq ends in CRC bytes AA 55
_SEQ_CRC_AA55 = 118


def _length_ok(kind, length):
    if kind == F.T_CELLS:
        return length == F.LEN_CELLS
    if kind == F.T_CELLS2:
        return length == F.LEN_CELLS2
    if kind == F.T_REQUEST:
        return length == F.LEN_REQUEST
    return length <= F.MAX_LEN


def _u16(b, p):
    return b[p] | b[p + 1] << 8


class PlainDecoder:
    COUNTERS = ("frames_ok", "echoes", "crc_errors", "bad_length", "rejected", "stale_seq",
                "unknown_type", "stalled", "false_frames", "garbage_bytes", "resyncs")

    def __init__(self, pack):
        self.pack = pack
        self.b = bytearray()  # every byte received
        self.lo = 0  # first byte not decoded
        self.seq = _NO_SEQ
        self.rx_ms = 0
        for k in self.COUNTERS:
            setattr(self, k, 0)

    def expect(self, seq):
        self.seq = seq

    def feed(self, buf, n, now):
        if self.lo > 4096:  # decoded bytes are never looked at again
            self.b = self.b[self.lo:]
            self.lo = 0
        self.b += bytes(buf[:n])
        if n > 0:
            self.rx_ms = now
        quiet = ticks.diff(now, self.rx_ms) > _STALL_MS
        while self._step(now, quiet):
            pass

    def pending(self):
        return bytes(self.b[self.lo:])

    def _sync(self, p):
        # AA 55, or an AA that is the last byte received
        b = self.b
        return b[p] == 0xAA and (p + 1 == len(b) or b[p + 1] == 0x55)

    def _drop(self):
        self.garbage_bytes += 1
        self.lo += 1

    def _wait(self, quiet):
        # a partial frame: on a quiet line it is given up
        if quiet:
            self.stalled += 1
            self._drop()
            return True
        return False

    def _step(self, now, quiet):
        """Decode the candidate at lo; False while it waits for bytes."""
        b = self.b
        hi = len(b)
        s = self.lo
        while s < hi and not self._sync(s):
            s += 1
        if s != self.lo:
            self.garbage_bytes += s - self.lo
            self.resyncs += 1
            self.lo = s
        lo = s
        if hi - lo < F.HEADER:
            return False
        kind = b[lo + 2]
        length = b[lo + 3]
        if not _length_ok(kind, length):
            self.bad_length += 1
            self._drop()
            return True
        end = lo + F.HEADER + length
        if end + F.CRC_LEN > hi:
            return self._wait(quiet)
        if F.crc16(b, lo + 2, end) != _u16(b, end):
            self.crc_errors += 1
            self._drop()
            return True
        cells = kind == F.T_CELLS or kind == F.T_CELLS2
        fields = self._fields(lo) if cells else None
        if not (fields and self._plain(fields, now)):
            # a plain good report is taken whole; anything else only if no
            # frame that passes its own CRC starts inside it
            inner = self._inner(lo + 1, end + F.CRC_LEN, quiet)
            if inner < 0:
                return self._wait(quiet)
            if inner:
                self.false_frames += 1
                self.garbage_bytes += inner - lo
                self.resyncs += 1
                self.lo = inner
                return True
        if cells:
            if fields is None:
                self.rejected += 1
            elif not self._answers(fields[1]):
                self.stale_seq += 1
            else:
                self.pack.accept(*(fields + (now,)))
                if fields[0] <= self.pack.configured:
                    self.frames_ok += 1
        elif kind == F.T_REQUEST:
            self.echoes += 1
            self.pack.echo(b[lo + 4], now)
        else:
            self.unknown_type += 1
        self.lo = end + F.CRC_LEN
        return True

    def _inner(self, p, stop, quiet):
        # where a frame that passes its CRC starts in b[p:stop]: 0 if none,
        # -1 if that needs bytes not received yet (and the line is not quiet)
        b = self.b
        hi = len(b)
        for p in range(p, stop):
            if not self._sync(p):
                continue
            if p + F.HEADER > hi:
                if not quiet:
                    return -1
                continue
            if not _length_ok(b[p + 2], b[p + 3]):
                continue
            end = p + F.HEADER + b[p + 3]
            if end + F.CRC_LEN > hi:
                if not quiet:
                    return -1
                continue
            if F.crc16(b, p + 2, end) == _u16(b, end):
                return p
        return 0

    def _fields(self, p):
        """The arguments of Pack.accept for the report at p, None if a value
        is out of range."""
        b = self.b
        addr = b[p + 4]
        cells = [_u16(b, p + 6 + 2 * k) for k in range(4)]
        t = _u16(b, p + 14)
        if t >= 0x8000:
            t -= 0x10000
        f = b[p + 16]
        if (addr < 1 or addr > F.MAX_BATTERIES or max(cells) > F.CELL_MV_MAX
                or t < F.TEMP_DDEGC_MIN or t > F.TEMP_DDEGC_MAX or f & F.F_RESERVED):
            return None
        if b[p + 2] == F.T_CELLS2:
            a = b[p + 17]
            if a & F.A_RESERVED or (a != 0) != (f & F.F_ALARM != 0):
                return None
            pf = f | a << F.PF_KIND_SHIFT
        else:
            pf = f | (F.PF_KIND_UNKNOWN if f & F.F_ALARM else 0)
        return (addr, b[p + 5], cells[0], cells[1], cells[2], cells[3], t, pf)

    def _answers(self, seq):
        return self.seq != _NO_SEQ and (self.seq - seq) & 0xFF <= 1

    def _plain(self, fields, now):
        # a configured address, answering a recent request, no duplicate
        addr, seq = fields[0], fields[1]
        pack = self.pack
        if addr > pack.configured or not self._answers(seq):
            return False
        b = addr - 1
        return not (pack.state[b] & _FRESH and pack.seq[b] == seq
                    and ticks.diff(now, pack.last_ms[b]) <= pack.timeout_ms)


def _report(rng, expect, count):
    r = rng.below(100)
    addr = 1 + rng.below(count + 3) if r < 95 else rng.below(256)
    if r < 85:
        seq = (expect - rng.below(2)) & 0xFF
    else:
        seq = rng.below(256)
    cells = [3000 + rng.below(1300) for _ in range(4)]
    temp = rng.below(500) - 100
    flags = rng.below(2)
    bad = rng.below(40)
    if bad == 0:
        cells[rng.below(4)] = 5001 + rng.below(60000)
    elif bad == 1:
        temp = F.TEMP_DDEGC_MAX + 1 + rng.below(1000)
    elif bad == 2:
        temp = F.TEMP_DDEGC_MIN - 1 - rng.below(1000)
    elif bad == 3:
        flags |= 4 << rng.below(6)
    elif bad == 4:
        cells[rng.below(4)] = 0x55AA  # AA 55 inside, out of range
    elif bad == 5:
        seq = 0xAA  # AA 55 inside, in range (an old scan's, mostly)
        cells[0] = 0x0C55
    elif bad == 6:
        for k in range(4):
            cells[k] = 4864 + rng.below(200)  # around the limit, high bytes alike
    if rng.below(3):
        b = bytearray(F.CELLS_BYTES)
        F.encode_cells(b, 0, addr, seq, cells, temp, flags | (rng.below(2) << 1))
        return b
    b = bytearray(F.CELLS2_BYTES)
    alarms = (1 << rng.below(4)) if rng.below(4) == 0 else 0
    f = flags | (F.F_ALARM if alarms else 0)
    if rng.below(20) == 0:
        f ^= F.F_ALARM  # kinds and flag disagree
    if rng.below(30) == 0:
        alarms |= 0x10 << rng.below(4)
    F.encode_cells2(b, 0, addr, seq, cells, temp, f, alarms)
    return b


def _event(rng, expect, count):
    r = rng.below(100)
    if r < 60:
        return _report(rng, expect, count)
    if r < 66:
        b = bytearray(F.REQUEST_BYTES)
        if rng.below(4) == 0:
            # an echo whose CRC bytes are AA 55, then a report's bytes after
            # its own AA 55: a frame starts inside the echo
            F.encode_request(b, 0, _HOP_CRC_AA55, _SEQ_CRC_AA55)
            return b + _report(rng, expect, count)[2:]
        hop = 0xAA if rng.below(4) == 0 else rng.below(256)
        F.encode_request(b, 0, hop, 0x55 if rng.below(3) == 0 else rng.below(256))
        return b
    if r < 74:
        return bytes((0xAA, 0x55, rng.below(256))[rng.below(3)] for _ in range(1 + rng.below(6)))
    if r < 80:
        b = _report(rng, expect, count)
        return b[:rng.below(len(b))]  # cut short
    if r < 88:
        b = _report(rng, expect, count)
        b[rng.below(len(b))] ^= 1 << rng.below(8)
        return b
    if r < 93:
        length = rng.below(F.MAX_LEN + 1)
        b = bytearray(F.HEADER + length + F.CRC_LEN)
        for k in range(length):
            b[F.HEADER + k] = rng.below(256)
        F._seal(b, 0, (0x30 + rng.below(0x40)) if rng.below(2) else F.T_CELLS, length)
        return b
    if r < 95:
        # a frame that passes its CRC with a report inside: a false header
        # (which the real frame after it must not lose)
        inner = _report(rng, expect, count)
        pre = rng.below(F.MAX_LEN - len(inner) + 1)
        length = pre + len(inner) + rng.below(F.MAX_LEN - pre - len(inner) + 1)
        b = bytearray(F.HEADER + length + F.CRC_LEN)
        b[F.HEADER + pre:F.HEADER + pre + len(inner)] = inner
        F._seal(b, 0, 0x30 + rng.below(0x40), length)
        return b
    if r < 98:
        return bytes((0xAA, 0x55, (F.T_CELLS, F.T_CELLS2, F.T_REQUEST, 0x40)[rng.below(4)],
                      rng.below(256)))
    return b"\xaa"


def _state(d, pack, pending):
    counters = tuple(getattr(d, k) for k in PlainDecoder.COUNTERS)
    figures = (pack.dirty, pack.ring_count, pack.echo_ms, pack.extras, pack.extra_ms,
               pack.duplicates, pack.dup_ms, pack.configured)
    arrays = (bytes(pack.cell_mv), bytes(pack.temp_ddegc), bytes(pack.flags), bytes(pack.seq),
              bytes(pack.state), bytes(pack.last_ms))
    return counters, figures, arrays, pending


def _run(seed):
    rng = Rng(seed)
    pa = Pack(50)
    pb = Pack(50)
    d = Decoder(pa)
    ref = PlainDecoder(pb)
    count = 50
    expect = 1
    d.expect(expect)
    ref.expect(expect)
    stream = bytearray()
    i = 0
    now = 0
    feeds = 0
    for _ in range(EVENTS):
        stream += _event(rng, expect, count)
        if len(stream) - i < 300:
            continue
        r = rng.below(100)
        if r < 4:
            expect = (expect + 1) & 0xFF
            d.expect(expect)
            ref.expect(expect)
        elif r < 6:
            now = (now + _STALL_MS + rng.below(30)) & ticks.MASK  # a quiet line
            d.feed(stream, 0, now)
            ref.feed(stream, 0, now)
        elif r < 9:
            t = (1000, 300, 5000)[rng.below(3)]
            pa.evaluate(now, t)
            pb.evaluate(now, t)
        elif r == 9 and rng.below(4) == 0:
            count = 1 + rng.below(50)
            pa.configure(count)
            pb.configure(count)
        k = 1 + rng.below(300 if rng.below(2) else 20)
        chunk = stream[i:i + k]
        i += k
        if i > 4096:
            stream = stream[i:]
            i = 0
        now = (now + rng.below(20)) & ticks.MASK
        d.feed(chunk, k, now)
        ref.feed(chunk, k, now)
        feeds += 1
        st = d._st
        got = _state(d, pa, bytes(d.win[st[S_LO]:st[S_HI]]))
        want = _state(ref, pb, ref.pending())
        assert got == want, (seed, feeds, i, got[0], want[0], got[1], want[1])
    return ref


def test_decoder_equals_the_plain_decoder_on_long_random_streams():
    b = bytearray(F.REQUEST_BYTES)
    F.encode_request(b, 0, _HOP_CRC_AA55, _SEQ_CRC_AA55)
    assert b[6:] == b"\xaa\x55"
    total = {}
    for seed in SEEDS:
        ref = _run(seed)
        for k in PlainDecoder.COUNTERS:
            total[k] = total.get(k, 0) + getattr(ref, k)
    # the streams reach every rule
    for k in PlainDecoder.COUNTERS:
        assert total[k] > 0, (k, total)
