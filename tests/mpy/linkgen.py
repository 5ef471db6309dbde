# Shared by the battery-link tests and tools/benchmarks/link.py: deterministic
# frame values, a seeded PRNG that behaves the same on MicroPython and
# CPython, and the fuzz stream generator with its value-checking pack.
from bms.linkframe import (encode_cells, encode_cells2, encode_request, CELLS_BYTES, CELLS2_BYTES, F_ALARM,
                           PF_KIND_SHIFT, PF_KIND_UNKNOWN)
from bms.pack import Pack


class Rng:
    """xorshift32: the same sequence under MicroPython and CPython."""

    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFF or 1

    def next(self):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s

    def below(self, n):
        return self.next() % n


def values(addr, seq):
    """The (cells, temp_dc, flags) battery `addr` reports in scan `seq`."""
    cells = tuple((addr * 37 + seq * 11 + k * 1301) % 5001 for k in range(4))
    temp = (addr * 13 + seq * 7) % 1651 - 400
    return cells, temp, (addr + seq) & 3


def _v2(addr, seq):
    """Whether battery `addr` answers scan `seq` with a v2 report (a quarter
    do), and the alarm kinds it then sends (one, with the alarm flag)."""
    flags = values(addr, seq)[2]
    return (addr * 3 + seq) % 4 == 0, (1 << (addr + seq) % 4) if flags & F_ALARM else 0


def stored_flags(addr, seq):
    """The byte the pack stores for that report (bms/linkframe.py PF_*)."""
    flags = values(addr, seq)[2]
    v2, alarms = _v2(addr, seq)
    if v2:
        return flags | alarms << PF_KIND_SHIFT
    return flags | (PF_KIND_UNKNOWN if flags & F_ALARM else 0)


def frame(addr, seq):
    cells, temp, flags = values(addr, seq)
    v2, alarms = _v2(addr, seq)
    if v2:
        b = bytearray(CELLS2_BYTES)
        encode_cells2(b, 0, addr, seq, cells, temp, flags, alarms)
    else:
        b = bytearray(CELLS_BYTES)
        encode_cells(b, 0, addr, seq, cells, temp, flags)
    return b


def scan(count, seq):
    """What the BMS receives for one full scan: the echo, then every battery."""
    out = bytearray(8)
    encode_request(out, 0, count, seq)
    for a in range(1, count + 1):
        out += frame(a, seq)
    return out


def answers(expect, seq):
    """A report of scan `seq` may be stored while `expect` is the latest request."""
    return (expect - seq) & 0xFF <= 1


class CheckingPack(Pack):
    """Counts stored reports whose values were not really sent for that
    address and scan, or that do not answer the request in `expect` or the
    one before (`corrupt`). The decoder's fast path writes the arrays
    directly, so verify(now_ms) checks every battery stored at now_ms; the
    slow path is checked in accept()."""

    def __init__(self):
        super().__init__(50)
        self.corrupt = 0
        self.expect = 0  # set with the decoder's, see fuzz_stream

    def _genuine(self, addr, seq, mv1, mv2, mv3, mv4, temp_ddegc, flags):
        cells, temp, _ = values(addr, seq)
        return (answers(self.expect, seq) and (mv1, mv2, mv3, mv4) == cells
                and temp_ddegc == temp and flags == stored_flags(addr, seq))

    def accept(self, addr, seq, mv1, mv2, mv3, mv4, temp_ddegc, flags, now_ms):
        if not self._genuine(addr, seq, mv1, mv2, mv3, mv4, temp_ddegc, flags):
            self.corrupt += 1
        super().accept(addr, seq, mv1, mv2, mv3, mv4, temp_ddegc, flags, now_ms)

    def verify(self, now_ms):
        c = self.cell_mv
        for b in range(50):
            if self.state[b] and self.last_ms[b] == now_ms:
                k = 4 * b
                if not self._genuine(b + 1, self.seq[b], c[k], c[k + 1], c[k + 2], c[k + 3],
                                     self.temp_ddegc[b], self.flags[b]):
                    self.corrupt += 1


def fuzz_stream(rng, events, expect):
    """Random mix of intact, truncated, duplicated, bit-flipped (1..3 bits)
    frames answering request `expect` or the one before, intact replays of
    any other scan, and noise; returns (stream, intact frames of the two
    scans, intact replays)."""
    out = bytearray()
    intact = 0
    stale = 0
    for _ in range(events):
        kind = rng.below(11)
        if kind == 10:
            out += frame(rng.below(50) + 1, (expect + 1 + rng.below(254)) & 0xFF)
            stale += 1
            continue
        f = frame(rng.below(50) + 1, (expect - rng.below(2)) & 0xFF)
        if kind < 4:
            out += f
            intact += 1
        elif kind == 4:
            out += f
            out += f
            intact += 2
        elif kind == 5:
            out += f[:rng.below(len(f) - 1) + 1]
        elif kind < 8:
            orig = bytes(f)
            for _ in range(rng.below(3) + 1):
                bit = rng.below(len(f) * 8)
                f[bit >> 3] ^= 1 << (bit & 7)
            out += f
            if f == orig:  # two flips of the same bit cancel out
                intact += 1
        else:
            for _ in range(rng.below(40) + 1):
                out.append(rng.below(256))
    return out, intact, stale
