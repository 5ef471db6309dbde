# Battery-cable frame format (docs/battery-link.md), its encoder, and the
# BMS's scan cadence (LinkMaster).
# Pure Python so the simulator (MicroPython) and the host battery emulator
# (CPython) build byte-identical frames; the BMS-side decoder is bms/link.py.
import array

try:
    from micropython import const
except ImportError:  # CPython host tools
    def const(x):  # type: ignore[misc]  # same behaviour, simpler signature
        return x

from bms import ticks  # noqa: E402  (after the const() stand-in, like its own)

_SYNC1 = const(0xAA)
_SYNC2 = const(0x55)

# Type byte: kind in the high nibble, format version in the low nibble.
T_REQUEST = const(0x11)  # scan request v1 (BMS -> ring, echoed back)
T_CELLS = const(0x21)  # battery report v1: 4 cells, temperature, flags
T_CELLS2 = const(0x22)  # battery report v2: v1 plus the kinds of alarm raised

HEADER = const(4)  # sync1, sync2, type, length
CRC_LEN = const(2)
MAX_LEN = const(48)  # no payload of any version may be longer
LEN_REQUEST = const(2)  # hop, seq
LEN_CELLS = const(13)  # addr, seq, 4 x u16 mV, s16 temp, flags
LEN_CELLS2 = const(14)  # v1's payload, then the alarm kinds
REQUEST_BYTES = const(8)
CELLS_BYTES = const(19)
CELLS2_BYTES = const(20)

# Payload offsets inside a frame (from the first sync byte).
_O_TYPE = const(2)
_O_LEN = const(3)
_O_ADDR = const(4)  # battery address; in a request: hop count
O_SEQ = const(5)
_O_CELL1 = const(6)
_O_TEMP = const(14)
_O_FLAGS = const(16)
_O_ALARMS = const(17)  # v2 only

# Battery status flags; reserved bits must be zero in v1.
F_BALANCING = const(0x01)
F_ALARM = const(0x02)
F_RESERVED = const(0xFC)

# v2 alarm kinds (the battery's own alarm signals, product-spec 2.1), one bit
# each; F_ALARM is set exactly when one of them is. Reserved bits must be zero.
A_LOW_CELL = const(0x01)  # a cell about to under-volt: no discharge
A_HIGH_CELL = const(0x02)  # a cell at its high limit: no charge
A_LOW_TEMP = const(0x04)  # too cold to charge
A_HIGH_TEMP = const(0x08)  # too hot: no charge, no discharge
A_RESERVED = const(0xF0)
ALARM_NAMES = ("low_cell", "high_cell", "low_temp", "high_temp")

# What the decoder stores per battery (bms/pack.py Pack.flags): the report's
# flags, its alarm kinds shifted by PF_KIND_SHIFT, and PF_KIND_UNKNOWN for a
# v1 report's alarm, which does not say its kind.
PF_KIND_SHIFT = const(2)
PF_KIND_UNKNOWN = const(0x40)

# Physical limits a frame must respect or be rejected.
CELL_MV_MAX = const(5000)
TEMP_DDEGC_MIN = const(-400)
TEMP_DDEGC_MAX = const(1250)
MAX_BATTERIES = const(50)
_WRAP = const(0x3FFFFFFF)  # the request counter wraps at 2**30 (small ints on the boards)
_TICKS_MASK = const(0x3FFFFFFF)  # bms/ticks.py
_HALF = const(0x20000000)
_CELLS = const(4)


BITS_PER_BYTE = const(10)  # 8N1: start + 8 data + stop
HOP_DELAY_BYTES = const(1)  # each battery forwards with one byte of delay


def scan_ms(count, baud, report_bytes=CELLS2_BYTES):
    """Time from the start of a scan request to the last byte of the last
    battery report arriving back at the BMS, rounded up to whole ms. The BMS
    plans with the longer report (v2): it does not know which one each
    battery sends."""
    nbytes = REQUEST_BYTES + count * (report_bytes + HOP_DELAY_BYTES)
    return (nbytes * BITS_PER_BYTE * 1000 + baud - 1) // baud


_SCAN_MARGIN_MS = const(10)  # room after a full scan for the control tick's jitter


def min_period_ms(count, baud):
    """The shortest scan period `count` batteries allow at `baud`: requests
    must not overlap a running scan."""
    return scan_ms(count, baud) + _SCAN_MARGIN_MS


def _make_table():
    # T0[i]: the CRC register after one byte step, for i = its top byte XOR
    # the data byte; T1[i] the same over two bytes (the second one zero), so
    # that two bytes cost two look-ups: c ^= b0 << 8 | b1;
    # c = T1[c >> 8] ^ T0[c & 0xFF]
    t = array.array("H")
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        t.append(c & 0xFFFF)
    for i in range(256):
        v = t[i]
        t.append(((v << 8) & 0xFFFF) ^ t[v >> 8])
    return t


# CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no xor-out.
# T0 then T1 in one array of u16 (1 KB), which the decoder's viper loops also
# read as a pointer (bms/linkscan.py): one table on the board.
CRC_TABLE = _make_table()
_CRC_INIT = const(0xFFFF)


def crc16(buf, start, end):
    c = _CRC_INIT
    t = CRC_TABLE
    for i in range(start, end):
        c = ((c << 8) & 0xFFFF) ^ t[((c >> 8) ^ buf[i]) & 0xFF]
    return c


def _seal(buf, ofs, kind, length):
    """Write sync, type, length and the CRC around a payload already in buf."""
    buf[ofs] = _SYNC1
    buf[ofs + 1] = _SYNC2
    buf[ofs + 2] = kind
    buf[ofs + 3] = length
    end = ofs + HEADER + length
    c = crc16(buf, ofs + _O_TYPE, end)
    buf[end] = c & 0xFF
    buf[end + 1] = c >> 8
    return HEADER + length + CRC_LEN


def encode_request(buf, ofs, hop, seq):
    """Scan request at buf[ofs:]; returns its length (REQUEST_BYTES)."""
    buf[ofs + _O_ADDR] = hop & 0xFF
    buf[ofs + O_SEQ] = seq & 0xFF
    return _seal(buf, ofs, T_REQUEST, LEN_REQUEST)


def encode_cells(buf, ofs, addr, seq, cells_mv, temp_ddegc, flags):
    """Battery report at buf[ofs:]; returns its length (CELLS_BYTES).

    Values are stored as given (masked to the field width), not checked:
    the simulator uses this to send impossible values on purpose.
    """
    buf[ofs + _O_ADDR] = addr & 0xFF
    buf[ofs + O_SEQ] = seq & 0xFF
    p = ofs + _O_CELL1
    for k in range(_CELLS):
        v = cells_mv[k] & 0xFFFF
        buf[p] = v & 0xFF
        buf[p + 1] = v >> 8
        p += 2
    t = temp_ddegc & 0xFFFF
    buf[ofs + _O_TEMP] = t & 0xFF
    buf[ofs + _O_TEMP + 1] = t >> 8
    buf[ofs + _O_FLAGS] = flags & 0xFF
    return _seal(buf, ofs, T_CELLS, LEN_CELLS)


def encode_cells2(buf, ofs, addr, seq, cells_mv, temp_ddegc, flags, alarms):
    """Battery report v2 at buf[ofs:]: v1's fields and the alarm kinds (A_*);
    returns its length (CELLS2_BYTES). Stored as given, like encode_cells."""
    encode_cells(buf, ofs, addr, seq, cells_mv, temp_ddegc, flags)
    buf[ofs + _O_ALARMS] = alarms & 0xFF
    return _seal(buf, ofs, T_CELLS2, LEN_CELLS2)


def find_frames(data):
    """All CRC-valid frames in data as (offset, type, payload bytes).

    A simple scanner for host tools and the simulated batteries (which only
    look for scan requests); the BMS uses the incremental bms.link.Decoder.
    """
    out = []
    i = 0
    n = len(data)
    while i + HEADER + CRC_LEN <= n:
        if data[i] != _SYNC1 or data[i + 1] != _SYNC2 or data[i + _O_LEN] > MAX_LEN:
            i += 1
            continue
        end = i + HEADER + data[i + _O_LEN]
        if end + CRC_LEN <= n and crc16(data, i + _O_TYPE, end) == data[end] | data[end + 1] << 8:
            out.append((i, data[i + _O_TYPE], bytes(data[i + HEADER:end])))
            i = end + CRC_LEN
        else:
            i += 1
    return out


class LinkMaster:
    """Decides when the BMS sends the next scan request (buf[:n])."""

    def __init__(self, period_ms=100, baud=115200):
        self.baud = baud
        self.configure(1, period_ms)
        self.buf = bytearray(8)
        self.n = 0
        self.seq = 0
        self.sent = 0
        self._started = False
        self._next_ms = 0

    def configure(self, count, period_ms):
        """Scan every period_ms, but never faster than `count` batteries can
        answer at this baud rate: requests must not overlap a running scan."""
        floor = min_period_ms(count, self.baud)
        self.period_ms = period_ms if period_ms > floor else floor

    def poll(self, now_ms):
        # diff(now_ms, _next_ms) < 0, inlined: this runs every control tick
        # (the time first: it is what says no on most ticks)
        if ((now_ms - self._next_ms + _HALF) & _TICKS_MASK) < _HALF and self._started:
            return False
        self.seq = (self.seq + 1) & 0xFF
        self.n = encode_request(self.buf, 0, 0, self.seq)
        self.sent = (self.sent + 1) & _WRAP
        nxt = ticks.add(self._next_ms, self.period_ms)
        # keep a fixed cadence, but never try to catch up on missed slots
        if not self._started or ticks.diff(now_ms, nxt) >= 0:
            nxt = ticks.add(now_ms, self.period_ms)
        self._next_ms = nxt
        self._started = True
        return True
