# The battery-cable decoder's byte loops, in viper: frame-start search, CRC,
# range checks and the fast path that stores plain good reports straight into
# the pack. The rules they serve, and every counter: bms/link.py Decoder.
# They share the decoder's int array (slots S_*), read the window through a
# pointer and allocate nothing.
# The casts (ptr8(address), uint(pointer)) are viper's alone; mypy's
# stand-ins for its types (tools/typecheck.py) are not callable:
# mypy: disable-error-code="misc, call-arg, call-overload"
import micropython
from micropython import const

# The frame format (bms/linkframe.py, docs/battery-link.md) as constants the
# viper emitter folds in (tests/test_linkframe_host.py holds them to linkframe's).
_SYNC1 = const(0xAA)
_SYNC2 = const(0x55)
_T_CELLS = const(0x21)
_T_CELLS2 = const(0x22)
_T_REQUEST = const(0x11)
_HEADER = const(4)
_LEN_CELLS = const(13)
_LEN_CELLS2 = const(14)
_LEN_REQUEST = const(2)
_CELLS_BYTES = const(19)
_CELLS2_BYTES = const(20)
_REQUEST_BYTES = const(8)
_CELL_MV_MAX = const(5000)
_TEMP_DDEGC_MIN = const(-400)
_TEMP_DDEGC_MAX = const(1250)
_F_RESERVED = const(0xFC)
_F_ALARM = const(0x02)
_A_RESERVED = const(0xF0)
_PF_KIND_SHIFT = const(2)
_PF_KIND_UNKNOWN = const(0x40)

# Every counter wraps at 2**30 (small ints on the boards; readers take
# differences modulo 2**30). At line rate the fastest one takes weeks to wrap.
WRAP = const(0x3FFFFFFF)

# slots of the decoder's int array, shared with fast_reports
S_LO = const(0)  # first byte not yet decoded
S_HI = const(1)  # end of received bytes
S_NOW = const(2)
S_COUNT = const(3)  # configured batteries
S_LIMIT = const(4)  # staleness timeout, for the duplicate test
S_OK = const(5)  # frames_ok
S_GARBAGE = const(6)
S_RESYNCS = const(7)
S_SEQ = const(8)  # sequence of the latest request sent
S_IN = const(9)  # bytes of the input buffer fast_reports has taken into the window
S_ECHOES = const(10)  # echoes
S_HOPS = const(11)  # hop count of the latest echo
# two slots each (bind()): the CRC table and the pack's arrays
S_TABLE = const(12)
S_CELLS = const(14)
S_TEMPS = const(16)
S_FLAGS = const(18)
S_SEQS = const(20)
S_STATE = const(22)
S_LAST = const(24)
S_SIZE = const(26)
# what fast_reports returns, OR-ed
CANDIDATE = const(1)  # the candidate at st[S_LO] is for the Python path
ECHO = const(2)  # echoes counted: the pack is told of the latest
STORED = const(4)  # reports stored: the pack merges them
WINDOW = const(512)  # receive window; holds at most one partial frame between feeds
# S_SEQ before the first request; not -1: a ptr32 load does not
# sign-extend on 64-bit ports
NO_SEQ = const(0x100)

# ptr8 / ptr16 / ptr32 are viper-only names; tools/typecheck.py declares them for mypy.


@micropython.viper
def crc_ok(w: ptr8, start: int, end: int, table: ptr16) -> bool:
    # CRC-16/CCITT-FALSE over w[start:end] against the little-endian CRC at w[end]
    c = 0xFFFF
    i = start
    while i < end:
        c = ((c << 8) & 0xFFFF) ^ int(table[((c >> 8) ^ int(w[i])) & 0xFF])
        i += 1
    return c == (int(w[end]) | (int(w[end + 1]) << 8))


@micropython.viper
def sync_in(w: ptr8, s: int, stop: int, hi: int) -> int:
    # the first possible frame start in w[s:stop] (AA 55, or an AA that is
    # the last byte received), else -1
    while s < stop:
        if w[s] == _SYNC1 and (s + 1 == hi or w[s + 1] == _SYNC2):
            return s
        s += 1
    return -1


@micropython.viper
def crc_sync(w: ptr8, lo: int, end: int, hi: int, table: ptr16) -> int:
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
def pack_flags(w: ptr8, p: int) -> int:
    # the byte the pack stores for the report at p (bms/linkframe.py PF_*):
    # its flags with the v2 alarm kinds, or an alarm of unknown kind (v1);
    # -1 for a v2 report whose kinds and alarm flag disagree or that sets
    # reserved kind bits
    f = int(w[p + 16])
    if w[p + 2] != _T_CELLS2:
        if f & _F_ALARM:
            return f | _PF_KIND_UNKNOWN
        return f
    a = int(w[p + 17])
    if a & _A_RESERVED:
        return -1
    if a:
        if not f & _F_ALARM:
            return -1
    elif f & _F_ALARM:
        return -1
    return f | (a << _PF_KIND_SHIFT)


@micropython.viper
def cells_valid(w: ptr8, p: int) -> bool:
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


@micropython.viper
def bind(st: ptr32, slot: int, b):
    # store the address of b's buffer in st[slot] (low 32 bits) and
    # st[slot + 1] (the rest, on 64-bit ports), for fast_reports to reach
    # the pack's arrays without a conversion per call. Two shifts by 16: a
    # shift by 32 is undefined on a 32-bit word.
    a = uint(ptr8(b))
    st[slot] = a
    st[slot + 1] = (a >> 16) >> 16


@micropython.viper
def fast_reports(w: ptr8, st: ptr32, buf: ptr8, n: int) -> int:
    # The common case at line rate, in one call: append buf[st[S_IN]:n] to
    # the window (the window moved down first when it must make room; up to
    # st[S_IN] when it returns), skip to each frame start, store every plain
    # good battery report straight into the pack (the arrays bind() put in
    # st) and count every plain request echo (st[S_ECHOES], its hop count in
    # st[S_HOPS]), until all of buf is taken and the window needs more bytes,
    # or until the candidate at st[S_LO] is anything else (other type, bad
    # length or CRC, rejected, extra, duplicate, a report that does not
    # answer the latest request or the one before, an echo with a possible
    # frame start inside): the Python path then handles and counts that one
    # candidate. Returns what the decoder must do: CANDIDATE, ECHO (tell the
    # pack, before the candidate), STORED (reports stored), OR-ed.
    lo = int(st[S_LO])
    hi = int(st[S_HI])
    i = int(st[S_IN])
    # the pack's arrays (bms/pack.py), at the addresses bind() stored
    table = ptr16(int(st[S_TABLE]) | (int(st[S_TABLE + 1]) << 16 << 16))
    t1 = ptr16(uint(table) + 512)
    cells = ptr16(int(st[S_CELLS]) | (int(st[S_CELLS + 1]) << 16 << 16))
    temps = ptr16(int(st[S_TEMPS]) | (int(st[S_TEMPS + 1]) << 16 << 16))
    flags = ptr8(int(st[S_FLAGS]) | (int(st[S_FLAGS + 1]) << 16 << 16))
    seqs = ptr8(int(st[S_SEQS]) | (int(st[S_SEQS + 1]) << 16 << 16))
    state = ptr8(int(st[S_STATE]) | (int(st[S_STATE + 1]) << 16 << 16))
    last = ptr32(int(st[S_LAST]) | (int(st[S_LAST + 1]) << 16 << 16))
    now = int(st[S_NOW])
    count = int(st[S_COUNT])
    limit = int(st[S_LIMIT])
    expect = int(st[S_SEQ])
    result = 0
    while True:  # the window takes at least the new bytes beyond one partial frame
        if lo == hi:
            lo = 0
            hi = 0
        elif WINDOW - hi < n - i and lo:
            j = 0
            while lo + j < hi:
                w[j] = w[lo + j]
                j += 1
            hi -= lo
            lo = 0
        take = WINDOW - hi
        if take > n - i:
            take = n - i
        d = ptr8(uint(w) + hi)
        s = ptr8(uint(buf) + i)
        j = 0
        while j + 4 <= take:  # four bytes a step: the loop costs more than a byte
            d[j] = s[j]
            d[j + 1] = s[j + 1]
            d[j + 2] = s[j + 2]
            d[j + 3] = s[j + 3]
            j += 4
        while j < take:
            d[j] = s[j]
            j += 1
        hi += take
        i += take
        while True:
            s = ptr8(uint(w) + lo)  # the candidate
            k = hi - lo
            j = 0
            while j < k:
                if s[j] == _SYNC1 and (j + 1 == k or s[j + 1] == _SYNC2):
                    break
                j += 1
            if j:
                st[S_GARBAGE] = (int(st[S_GARBAGE]) + j) & WRAP
                st[S_RESYNCS] = (int(st[S_RESYNCS]) + 1) & WRAP
                lo += j
                k -= j
                s = ptr8(uint(s) + j)
            if k < _HEADER:
                break
            kind = int(s[2])
            if kind == _T_CELLS and s[3] == _LEN_CELLS:
                size = _CELLS_BYTES
            elif kind == _T_CELLS2 and s[3] == _LEN_CELLS2:
                size = _CELLS2_BYTES
            elif kind == _T_REQUEST and s[3] == _LEN_REQUEST:
                size = _REQUEST_BYTES
            else:
                result |= CANDIDATE
                break
            if k < size:
                break
            # CRC-16/CCITT-FALSE over type..payload (4, 15 or 16 bytes), two
            # bytes a step (tables T0, T1: bms/linkframe.py CRC_TABLE), unrolled:
            # a viper loop costs more than the step itself
            end = size - 2
            c = 0xFFFF ^ ((int(s[2]) << 8) | int(s[3]))
            c = int(t1[c >> 8]) ^ int(table[c & 0xFF]) ^ ((int(s[4]) << 8) | int(s[5]))
            c = int(t1[c >> 8]) ^ int(table[c & 0xFF])
            if size != _REQUEST_BYTES:
                c ^= (int(s[6]) << 8) | int(s[7])
                c = int(t1[c >> 8]) ^ int(table[c & 0xFF]) ^ ((int(s[8]) << 8) | int(s[9]))
                c = int(t1[c >> 8]) ^ int(table[c & 0xFF]) ^ ((int(s[10]) << 8) | int(s[11]))
                c = int(t1[c >> 8]) ^ int(table[c & 0xFF]) ^ ((int(s[12]) << 8) | int(s[13]))
                c = int(t1[c >> 8]) ^ int(table[c & 0xFF]) ^ ((int(s[14]) << 8) | int(s[15]))
                c = int(t1[c >> 8]) ^ int(table[c & 0xFF])
                if size == _CELLS2_BYTES:
                    c ^= (int(s[16]) << 8) | int(s[17])
                    c = int(t1[c >> 8]) ^ int(table[c & 0xFF])
                else:  # v1: the 15th byte alone
                    c = int(table[(c >> 8) ^ int(s[16])]) ^ ((c << 8) & 0xFFFF)
            if c != (int(s[end]) | (int(s[end + 1]) << 8)):
                result |= CANDIDATE
                break
            if size == _REQUEST_BYTES:
                # a frame may start inside it: the Python path looks closer
                j = 1
                while j < _REQUEST_BYTES:
                    if s[j] == _SYNC1 and (j + 1 == k or s[j + 1] == _SYNC2):
                        result |= CANDIDATE
                        break
                    j += 1
                if result & CANDIDATE:
                    break
                st[S_ECHOES] = (int(st[S_ECHOES]) + 1) & WRAP
                st[S_HOPS] = s[4]
                result |= ECHO
                lo += _REQUEST_BYTES
                continue
            addr = int(s[4])
            if addr < 1 or addr > count:
                result |= CANDIDATE
                break
            bad = 0
            if (int(s[7]) | int(s[9]) | int(s[11]) | int(s[13])) >= _CELL_MV_MAX >> 8:
                # a cell may be above the limit (the OR of the high bytes is at
                # least the highest of them; below 5000 >> 8 every cell is
                # below 4864 mV): look closer
                j = 6
                while j < 14:
                    if (int(s[j]) | (int(s[j + 1]) << 8)) > _CELL_MV_MAX:
                        bad = 1
                    j += 2
            t = int(s[14]) | (int(s[15]) << 8)
            if t >= 0x8000:
                t -= 0x10000
            if bad or t < _TEMP_DDEGC_MIN or t > _TEMP_DDEGC_MAX or (int(s[16]) & _F_RESERVED):
                result |= CANDIDATE
                break
            # the pack's byte, as pack_flags() (inlined: a viper call would pass
            # the pointer as an object)
            pf = int(s[16])
            if size == _CELLS2_BYTES:
                a = int(s[17])
                bad = a & _A_RESERVED
                if a:
                    if not pf & _F_ALARM:
                        bad = 1
                elif pf & _F_ALARM:
                    bad = 1
                if bad:
                    result |= CANDIDATE
                    break
                pf |= a << _PF_KIND_SHIFT
            elif pf & _F_ALARM:
                pf |= _PF_KIND_UNKNOWN
            seq = int(s[5])
            if expect == NO_SEQ or ((expect - seq) & 0xFF) > 1:
                result |= CANDIDATE
                break
            b = addr - 1
            if int(state[b]) & 2 and int(seqs[b]) == seq:  # fresh, same scan
                age = ((now - int(last[b]) + 0x20000000) & 0x3FFFFFFF) - 0x20000000
                if age <= limit:
                    result |= CANDIDATE
                    break
            k = b * 4
            cells[k] = int(s[6]) | (int(s[7]) << 8)
            cells[k + 1] = int(s[8]) | (int(s[9]) << 8)
            cells[k + 2] = int(s[10]) | (int(s[11]) << 8)
            cells[k + 3] = int(s[12]) | (int(s[13]) << 8)
            temps[b] = int(s[14]) | (int(s[15]) << 8)
            flags[b] = pf
            seqs[b] = seq
            state[b] = int(state[b]) | 7  # reported once, fresh, not merged yet (bms.pack _DECODER_BITS)
            last[b] = now
            st[S_OK] = (int(st[S_OK]) + 1) & WRAP
            result |= STORED
            lo += size
        if result & CANDIDATE or i >= n:
            break
    st[S_LO] = lo
    st[S_HI] = hi
    st[S_IN] = i
    return result
