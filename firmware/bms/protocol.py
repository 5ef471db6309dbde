# The GATT configuration protocol: UUIDs, opcodes, error codes and the byte
# layout of every characteristic value (docs/ble-protocol.md), with what the
# firmware encodes and parses. The other side of it, the decoders and the
# requests a phone or tool builds, is bms/client.py, which the firmware never
# loads. Pure logic, shared by the firmware, tools/bmsctl.py and (mirrored)
# the phone page, so it runs on MicroPython and CPython alike.
import struct

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):  # type: ignore[misc]  # CPython stand-in, same behaviour
        return x

from bms import settings as S
from version import VERSION

SERVICE_UUID = "b45f0000-8c2e-4a71-9d3e-5c1a7e0b2f64"
STATUS_UUID = "b45f0001-8c2e-4a71-9d3e-5c1a7e0b2f64"
CELLS_UUID = "b45f0002-8c2e-4a71-9d3e-5c1a7e0b2f64"
SETTINGS_UUID = "b45f0003-8c2e-4a71-9d3e-5c1a7e0b2f64"
COMMAND_UUID = "b45f0004-8c2e-4a71-9d3e-5c1a7e0b2f64"
HISTORY_UUID = "b45f0005-8c2e-4a71-9d3e-5c1a7e0b2f64"
AUTH_UUID = "b45f0006-8c2e-4a71-9d3e-5c1a7e0b2f64"

MAX_WRITE = const(64)  # longest request any characteristic accepts
MAX_VALUE = const(180)  # longest value any characteristic holds
PREFERRED_MTU = const(MAX_VALUE + 3)  # the ATT MTU the device asks for: any value in one packet
MIN_MTU = const(23)  # what a connection has before (or without) an MTU exchange
STATUS_NOTIFY_MS = const(1000)  # at most one status notification per second
STATUS_FORMAT = const(3)

# Error codes: 0..6 are the settings codes (bms/settings.py), the rest are ours.
OK = S.OK
E_UNKNOWN_KEY = S.E_UNKNOWN_KEY
E_TYPE = S.E_TYPE
E_RANGE = S.E_RANGE
E_CHOICE = S.E_CHOICE
E_CONFLICT = S.E_CONFLICT
E_READ_ONLY = S.E_READ_ONLY
E_MALFORMED = const(16)  # wrong length, truncated record, bad encoding
E_UNKNOWN_OP = const(17)
E_NOT_AUTHENTICATED = const(18)
E_BAD_PROOF = const(19)  # wrong PIN or PUK
E_LOCKED_OUT = const(20)  # too many failures: wait
E_NO_CHALLENGE = const(21)  # proof without a fresh challenge
E_REFUSED = const(22)  # command not possible in the present state
E_INTERNAL = const(23)  # the firmware failed to serve the request

# -- authentication characteristic
AUTH_HELLO = const(1)
AUTH_PIN = const(2)
AUTH_PUK = const(3)
AUTH_STATE = const(4)
NONCE_LEN = const(16)
MAC_LEN = const(16)  # HMAC-SHA256 truncated to 128 bits
PIN_LABEL = b"smartbms-pin\x00"
PUK_LABEL = b"smartbms-puk\x00"

# -- settings characteristic
SET_WRITE = const(1)
SET_READ = const(2)
SET_PART = const(3)  # the first bytes of a longer SET_WRITE (client.split_write)

# -- command characteristic
CMD_CLEAR_ALARMS = const(1)
CMD_CLEAR_HISTORY = const(2)
CMD_WAKE = const(3)
CMD_RESTART = const(4)
CMD_CHANGE_PIN = const(5)
CMD_READ_READOUT_KEY = const(6)
CMD_READ_PUK = const(7)

CELLS_PER_BATTERY = const(4)
_CELLS_PAGE = const(16)  # batteries per cells page: 4 + 16 * 11 = 180 bytes
BATTERY_LEN = const(11)  # flags u8, temperature i16, 4 cells u16


def response(code, op, payload=b""):
    """Every request characteristic answers with [code, op, payload...]."""
    return bytes((code, op)) + payload


# -- status ------------------------------------------------------------------
# flags byte 3: gate and output levels; byte 4: pack and remote state.
# Format 3 is the 80 bytes of format 2 (older firmware; client.py still
# decodes it) plus the state of charge and the firmware version.
STATUS_LAYOUT = "<BBBBBBBBHHBHBhhiiIIHHHHiiBBIIHIIIIHIHBBB"  # fields: client.STATUS_FIELDS
STATUS_LEN = struct.calcsize(STATUS_LAYOUT)
OUTPUT_BITS = ("atc", "atd", "chg_fet", "dsg_fet", "alt_allowed", "load_out", "charge_out",
               "prealarm_out")
PACK_BITS = ("data_ok", "full_scan", "battery_alarm", "remote_on", "count_mismatch", "flash_fault")
SOC_UNKNOWN = const(0xFFFF)  # soc_pm before the bank voltage has seeded the count
TTG_NONE = const(0xFFFF)  # ttg_min when not discharging (or SoC unknown)
_TTG_MAX = const(0xFFFE)


def _version_numbers(text):
    """(major, minor, patch) from "1.2.3"; the digits each part starts with, so
    "0.2.0rc1" is (0, 2, 0) and a malformed version is never a crash at boot."""
    out = [0, 0, 0]
    parts = text.split(".")
    for i in range(min(3, len(parts))):
        n = 0
        for ch in parts[i]:
            if not "0" <= ch <= "9":
                break
            n = n * 10 + ord(ch) - 48
        out[i] = n if n < 256 else 255
    return out


FW_MAJOR, FW_MINOR, FW_PATCH = _version_numbers(VERSION)


def _bits(obj, names):
    v = 0
    for i in range(len(names)):
        if getattr(obj, names[i]):
            v |= 1 << i
    return v


def encode_status(ctl, flash_fault=False):
    """The status value from a Controller (docs/architecture.md attributes).
    The state of charge is the controller's count (ctl.soc, bms/soc.py);
    before the bank voltage has seeded it, it reads as unknown. flash_fault:
    the flash refused the last save (persist.py Persistence.flash_fault)."""
    p, pr, a, m, r, d = ctl.pack, ctl.protection, ctl.alternator, ctl.meas, ctl.remote, ctl.decoder
    pack_flags = (_bits(p, PACK_BITS[:3]) | (8 if r.on else 0) | (16 if p.count_mismatch else 0)
                  | (32 if flash_fault else 0))
    soc = ctl.soc
    soc_pm, consumed, ttg = SOC_UNKNOWN, 0, TTG_NONE
    if soc.known:
        soc_pm, consumed = soc.soc_pm, soc.consumed_mah
        t = soc.ttg_min(m.alt_ma + m.sys_ma)
        if t >= 0:
            ttg = t if t < _TTG_MAX else _TTG_MAX
    return struct.pack(
        STATUS_LAYOUT, STATUS_FORMAT, pr.uv.state, a.state, _bits(pr, OUTPUT_BITS), pack_flags, r.mode,
        p.configured, p.seen, p.pack_mv & 0xFFFF, p.min_cell_mv & 0xFFFF, p.min_cell_at & 0xFF,
        p.max_cell_mv & 0xFFFF, p.max_cell_at & 0xFF, p.min_temp_ddegc, p.max_temp_ddegc, m.alt_ma,
        m.sys_ma, pr.block_chg, pr.block_dsg, pr.warn & 0xFFFF, p.lost & 0xFFFF,
        m.start_mv & 0xFFFF, a.limiter.duty_cpct, a.target.ma, pr.alt_limit_ma, a.target.reason & 0xFF,
        a.fault & 0xFF, ctl.now_ms & 0xFFFFFFFF, pr.block_alt, pr.block_sys & 0xFFFF,
        d.frames_ok, d.crc_errors, d.rejected, d.garbage_bytes, soc_pm, consumed, ttg,
        FW_MAJOR, FW_MINOR, FW_PATCH)


# -- per-battery cells (paged) ------------------------------------------------
def encode_cells(pack, first):
    """Page of up to _CELLS_PAGE batteries from `first` (0-based); a request."""
    total = pack.configured
    if not 0 <= first < max(total, 1):
        return response(S.E_RANGE, first)
    n = min(_CELLS_PAGE, total - first)
    out = bytearray(response(OK, first, bytes((n, total))))
    for b in range(first, first + n):
        out += struct.pack("<Bh", pack.flags[b], pack.temp_ddegc[b])
        for c in range(CELLS_PER_BATTERY):
            out += struct.pack("<H", pack.cell_mv[b * CELLS_PER_BATTERY + c] & 0xFFFF)
    return bytes(out)


# -- settings records: id u8, then i32 LE (INT/CHOICE/ENUM) or len u8 + ASCII --
def _is_text(entry):
    return entry[2] == S.TEXT or entry[2] == S.PIN


def _record_len(entry, value):
    return 2 + len(value.encode()) if _is_text(entry) else 5


def _put_record(buf, i, entry, value):
    """Write one record at buf[i]; the index after it."""
    buf[i] = entry[0]
    if _is_text(entry):
        raw = value.encode()
        buf[i + 1] = len(raw)
        buf[i + 2:i + 2 + len(raw)] = raw
        return i + 2 + len(raw)
    struct.pack_into("<i", buf, i + 1, value)
    return i + 5


def encode_record(entry, value):
    buf = bytearray(_record_len(entry, value))
    _put_record(buf, 0, entry, value)
    return bytes(buf)


def decode_records(data, start=0):
    """Parse records into {name: value}.

    Returns (values, code, wire_id): code is OK, E_UNKNOWN_KEY (wire_id names
    the unknown id: its length is unknown, so parsing stops) or E_MALFORMED.
    A repeated id is malformed too.
    """
    values = {}  # type: dict
    i = start
    while i < len(data):
        wid = data[i]
        entry = S.entry_of_id(wid)
        if entry is None:
            return values, S.E_UNKNOWN_KEY, wid
        if entry[1] in values:
            return values, E_MALFORMED, wid
        if _is_text(entry):
            if i + 2 > len(data) or i + 2 + data[i + 1] > len(data):
                return values, E_MALFORMED, wid
            raw = bytes(data[i + 2:i + 2 + data[i + 1]])
            try:
                values[entry[1]] = raw.decode()
            except UnicodeError:
                return values, E_MALFORMED, wid
            i += 2 + len(raw)
        else:
            if i + 5 > len(data):
                return values, E_MALFORMED, wid
            values[entry[1]] = struct.unpack("<i", bytes(data[i + 1:i + 5]))[0]
            i += 5
    return values, OK, 0


def encode_set_errors(errors):
    """Response payload for a refused write: (wire id, code) per error."""
    out = bytearray()
    for name, code, _msg in errors:
        entry = S.entry(name)
        out += bytes((entry[0] if entry else 0, code))
    return bytes(out)


def encode_settings_page(values, from_id):
    """Response to SET_READ: records with wire id >= from_id that fit, the
    next id to ask for (0 when done). The PIN is never sent. Sized first,
    then written in place: one block of the heap, not a few per record and a
    growing copy (a phone session reads every page)."""
    n = 3
    nxt = 0
    for entry in S.SCHEMA:
        if entry[0] < from_id or entry[2] == S.PIN:
            continue
        k = _record_len(entry, values[entry[1]])
        if n + k > MAX_VALUE:
            nxt = entry[0]
            break
        n += k
    out = bytearray(n)
    out[0] = OK
    out[1] = SET_READ
    out[2] = nxt
    i = 3
    for entry in S.SCHEMA:
        if i == n:  # the records counted above, in the same order
            break
        if entry[0] >= from_id and entry[2] != S.PIN:
            i = _put_record(out, i, entry, values[entry[1]])
    return out


# -- authentication -----------------------------------------------------------
# Every auth response: [code, op, authenticated u8, failures u8, wait_s u16 LE]
# and, for a successful HELLO, the 16-byte nonce.
def encode_auth(code, op, authenticated, failures, wait_s, nonce=b""):
    return response(code, op, struct.pack("<BBH", 1 if authenticated else 0,
                                          min(failures, 255), min(wait_s, 0xFFFF)) + nonce)


# -- history pages ------------------------------------------------------------
# page 0: the lifetime counters and extremes of bms/history.py, i32 each, in
# History.counters() order (named by client.HISTORY_COUNTERS); pages 1..: the
# event log oldest first, EVENT_LEN bytes per event (time_ms i32, code u8,
# reason mask u32, value i32).
EVENT_LAYOUT = "<iBIi"
EVENT_LEN = struct.calcsize(EVENT_LAYOUT)
_EVENTS_PAGE = const(13)  # 13 * 13 = 169 bytes + 3 header bytes


def encode_history_page(history, page):
    """(page bytes, more) for app.history_page(), or None past the end."""
    events = history.events()
    pages = 1 + (len(events) + _EVENTS_PAGE - 1) // _EVENTS_PAGE
    if page >= pages:
        return None
    if page == 0:
        c = history.counters()
        body = struct.pack("<%di" % len(c), *c)
    else:
        out = bytearray()
        for t, code, mask, value in events[(page - 1) * _EVENTS_PAGE:page * _EVENTS_PAGE]:
            out += struct.pack(EVENT_LAYOUT, t, code, mask & 0xFFFFFFFF, value)
        body = bytes(out)
    return body, page + 1 < pages
