# Shared helpers for the battery-link tests (MicroPython and CPython):
# deterministic frame values and a small seeded PRNG that behaves the same
# on both interpreters.
from bms.linkframe import encode_cells, encode_request, CELLS_BYTES


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


def frame(addr, seq):
    b = bytearray(CELLS_BYTES)
    cells, temp, flags = values(addr, seq)
    encode_cells(b, 0, addr, seq, cells, temp, flags)
    return b


def scan(count, seq):
    """What the BMS receives for one full scan: the echo, then every battery."""
    out = bytearray(8)
    encode_request(out, 0, count, seq)
    for a in range(1, count + 1):
        out += frame(a, seq)
    return out
