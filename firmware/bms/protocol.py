# The GATT configuration protocol: UUIDs, opcodes, error codes and the byte
# layout of every characteristic value (docs/ble-protocol.md). Pure logic,
# shared by the firmware, tools/bmsctl.py and (mirrored) the phone page, so it
# runs on MicroPython and CPython alike.
import struct

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):  # type: ignore[misc]  # CPython stand-in, same behaviour
        return x

from bms import settings as S

SERVICE_UUID = "b45f0000-8c2e-4a71-9d3e-5c1a7e0b2f64"
STATUS_UUID = "b45f0001-8c2e-4a71-9d3e-5c1a7e0b2f64"
CELLS_UUID = "b45f0002-8c2e-4a71-9d3e-5c1a7e0b2f64"
SETTINGS_UUID = "b45f0003-8c2e-4a71-9d3e-5c1a7e0b2f64"
COMMAND_UUID = "b45f0004-8c2e-4a71-9d3e-5c1a7e0b2f64"
HISTORY_UUID = "b45f0005-8c2e-4a71-9d3e-5c1a7e0b2f64"
AUTH_UUID = "b45f0006-8c2e-4a71-9d3e-5c1a7e0b2f64"

MAX_WRITE = const(64)  # longest request any characteristic accepts
MAX_VALUE = const(180)  # longest value any characteristic holds
STATUS_NOTIFY_MS = const(1000)  # at most one status notification per second
STATUS_FORMAT = const(2)

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

ERROR_NAMES = {
    E_MALFORMED: "malformed request",
    E_UNKNOWN_OP: "unknown operation",
    E_NOT_AUTHENTICATED: "not authenticated",
    E_BAD_PROOF: "wrong PIN or PUK",
    E_LOCKED_OUT: "locked out after failed attempts",
    E_NO_CHALLENGE: "no challenge: send HELLO first",
    E_REFUSED: "refused in the present state",
    E_INTERNAL: "internal error",
}
for _i in range(len(S.ERROR_NAMES)):
    ERROR_NAMES[_i] = S.ERROR_NAMES[_i]


def error_name(code):
    return ERROR_NAMES.get(code, "error %d" % code)


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

# -- command characteristic
CMD_CLEAR_ALARMS = const(1)
CMD_CLEAR_HISTORY = const(2)
CMD_WAKE = const(3)
CMD_RESTART = const(4)
CMD_CHANGE_PIN = const(5)
CMD_READ_READOUT_KEY = const(6)
CMD_READ_PUK = const(7)
COMMAND_NAMES = {
    CMD_CLEAR_ALARMS: "clear_alarms", CMD_CLEAR_HISTORY: "clear_history", CMD_WAKE: "wake",
    CMD_RESTART: "restart", CMD_CHANGE_PIN: "change_pin", CMD_READ_READOUT_KEY: "read_readout_key",
    CMD_READ_PUK: "read_puk",
}

CELLS_PER_BATTERY = const(4)
CELLS_PAGE = const(16)  # batteries per cells page: 4 + 16 * 11 = 180 bytes
_BATTERY_LEN = const(11)


def response(code, op, payload=b""):
    """Every request characteristic answers with [code, op, payload...]."""
    return bytes((code, op)) + payload


def parse_response(data):
    if len(data) < 2:
        raise ValueError("response too short")
    return data[0], data[1], bytes(data[2:])


# -- status ------------------------------------------------------------------
# flags byte 3: gate and output levels; byte 4: pack and remote state.
_STATUS = "<BBBBBBBBHHBHBhhiiIIHHHHiiBBIIHIIII"
STATUS_LEN = struct.calcsize(_STATUS)
STATUS_FIELDS = (
    "format", "prot_state", "alt_state", "outputs", "pack_flags", "remote_mode", "configured",
    "seen", "pack_mv", "min_cell_mv", "min_cell_at", "max_cell_mv", "max_cell_at", "min_temp_dc",
    "max_temp_dc", "alt_ma", "sys_ma", "block_chg", "block_dsg", "warn", "lost", "start_mv",
    "alt_duty", "alt_target_ma", "alt_limit_ma", "alt_limit_reason", "alt_fault", "uptime_ms",
    "block_alt", "block_sys", "link_frames_ok", "link_crc_errors", "link_rejected",
    "link_garbage_bytes",
)
OUTPUT_BITS = ("atc", "atd", "chg_fet", "dsg_fet", "alt_allowed", "load_out", "charge_out",
               "prealarm_out")
PACK_BITS = ("data_ok", "full_scan", "battery_alarm", "remote_on")


def _bits(obj, names):
    v = 0
    for i in range(len(names)):
        if getattr(obj, names[i]):
            v |= 1 << i
    return v


def encode_status(ctl):
    """The status value from a Controller (docs/architecture.md attributes)."""
    p, pr, a, m, r, d = ctl.pack, ctl.protection, ctl.alternator, ctl.meas, ctl.remote, ctl.decoder
    pack_flags = _bits(p, PACK_BITS[:3]) | (8 if r.on else 0)
    return struct.pack(
        _STATUS, STATUS_FORMAT, pr.uv.state, a.state, _bits(pr, OUTPUT_BITS), pack_flags, r.mode,
        p.configured, p.seen, p.pack_mv & 0xFFFF, p.min_cell_mv & 0xFFFF, p.min_cell_at & 0xFF,
        p.max_cell_mv & 0xFFFF, p.max_cell_at & 0xFF, p.min_temp_ddegc, p.max_temp_ddegc, m.alt_ma,
        m.sys_ma, pr.block_chg, pr.block_dsg, pr.warn & 0xFFFF, p.lost & 0xFFFF,
        m.start_mv & 0xFFFF, a.limiter.duty_cpct, a.target.ma, pr.alt_limit_ma, a.target.reason & 0xFF,
        a.fault & 0xFF, ctl.now_ms & 0xFFFFFFFF, pr.block_alt, pr.block_sys & 0xFFFF,
        d.frames_ok, d.crc_errors, d.rejected, d.garbage_bytes)


def decode_status(data):
    if len(data) != STATUS_LEN or data[0] != STATUS_FORMAT:
        raise ValueError("status: expected %d bytes of format %d" % (STATUS_LEN, STATUS_FORMAT))
    d = dict(zip(STATUS_FIELDS, struct.unpack(_STATUS, data)))
    for i in range(len(OUTPUT_BITS)):
        d[OUTPUT_BITS[i]] = bool(d["outputs"] >> i & 1)
    for i in range(len(PACK_BITS)):
        d[PACK_BITS[i]] = bool(d["pack_flags"] >> i & 1)
    return d


# -- per-battery cells (paged) ------------------------------------------------
def encode_cells(pack, first):
    """Page of up to CELLS_PAGE batteries from `first` (0-based); a request."""
    total = pack.configured
    if not 0 <= first < max(total, 1):
        return response(S.E_RANGE, first)
    n = min(CELLS_PAGE, total - first)
    out = bytearray(response(OK, first, bytes((n, total))))
    for b in range(first, first + n):
        out += struct.pack("<Bh", pack.flags[b], pack.temp_ddegc[b])
        for c in range(CELLS_PER_BATTERY):
            out += struct.pack("<H", pack.cell_mv[b * CELLS_PER_BATTERY + c] & 0xFFFF)
    return bytes(out)


def decode_cells(data):
    """{'first', 'total', 'batteries': [{'flags', 'temp_dc', 'cell_mv': [..]}]}"""
    code, first, body = parse_response(data)
    if code:
        raise ValueError("cells: " + error_name(code))
    n, total = body[0], body[1]
    if len(body) != 2 + n * _BATTERY_LEN:
        raise ValueError("cells: bad length")
    bats = []
    for i in range(n):
        o = 2 + i * _BATTERY_LEN
        flags, temp = struct.unpack("<Bh", body[o:o + 3])
        cells = list(struct.unpack("<4H", body[o + 3:o + 11]))
        bats.append({"flags": flags, "temp_dc": temp, "cell_mv": cells})
    return {"first": first, "total": total, "batteries": bats}


# -- settings records: id u8, then i32 LE (INT/CHOICE/ENUM) or len u8 + ASCII --
def _is_text(entry):
    return entry[2] == S.TEXT or entry[2] == S.PIN


def encode_record(entry, value):
    if _is_text(entry):
        raw = value.encode()
        return bytes((entry[0], len(raw))) + raw
    return bytes((entry[0],)) + struct.pack("<i", value)


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
        entry = S.BY_ID.get(wid)
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


def encode_set_request(values):
    """Client side: one write that sets every (name, value) in `values`."""
    out = bytearray((SET_WRITE,))
    for name in values:
        entry = S.BY_NAME.get(name)
        if entry is None:
            raise KeyError(name)
        out += encode_record(entry, values[name])
    if len(out) > MAX_WRITE:
        raise ValueError("settings write longer than %d bytes: split it" % MAX_WRITE)
    return bytes(out)


def encode_set_errors(errors):
    """Response payload for a refused write: (wire id, code) per error."""
    out = bytearray()
    for name, code, _msg in errors:
        entry = S.BY_NAME.get(name)
        out += bytes((entry[0] if entry else 0, code))
    return bytes(out)


def decode_set_errors(payload):
    """[(name or wire id, code)] from a refused write's payload."""
    errs = []
    for i in range(0, len(payload) - 1, 2):
        entry = S.BY_ID.get(payload[i])
        errs.append((entry[1] if entry else payload[i], payload[i + 1]))
    return errs


def encode_settings_page(values, from_id):
    """Response to SET_READ: records with wire id >= from_id that fit, the
    next id to ask for (0 when done). The PIN is never sent."""
    out = bytearray(2 + 1)
    nxt = 0
    for entry in S.SCHEMA:
        if entry[0] < from_id or entry[2] == S.PIN:
            continue
        rec = encode_record(entry, values[entry[1]])
        if len(out) + len(rec) > MAX_VALUE:
            nxt = entry[0]
            break
        out += rec
    out[0], out[1], out[2] = OK, SET_READ, nxt
    return bytes(out)


def decode_settings_page(data):
    """(values, next_id) from a SET_READ response."""
    code, op, body = parse_response(data)
    if code or op != SET_READ or not body:
        raise ValueError("settings read: " + error_name(code))
    values, code, wid = decode_records(body, 1)
    if code:
        raise ValueError("settings read: %s at id %d" % (error_name(code), wid))
    return values, body[0]


# -- authentication -----------------------------------------------------------
# Every auth response: [code, op, authenticated u8, failures u8, wait_s u16 LE]
# and, for a successful HELLO, the 16-byte nonce.
def encode_auth(code, op, authenticated, failures, wait_s, nonce=b""):
    return response(code, op, struct.pack("<BBH", 1 if authenticated else 0,
                                          min(failures, 255), min(wait_s, 0xFFFF)) + nonce)


def decode_auth(data):
    code, op, body = parse_response(data)
    if len(body) < 4:
        raise ValueError("auth response too short")
    authed, fails, wait_s = struct.unpack("<BBH", body[:4])
    return {"code": code, "op": op, "authenticated": bool(authed), "failures": fails,
            "wait_s": wait_s, "nonce": body[4:]}


# -- history pages ------------------------------------------------------------
# page 0: the lifetime counters and extremes of bms/history.py, i32 each, in
# HISTORY_COUNTERS order; pages 1..: the event log oldest first, EVENT_LEN bytes
# per event (time_ms i32, code u8, reason mask u32, value i32).
HISTORY_COUNTERS = ("lvd", "hv_stops", "low_temp", "high_temp", "data_losses", "oc_trips",
                    "min_cell_mv", "max_cell_mv", "min_temp_dc", "max_temp_dc", "alt_mah")
_EVENT = "<iBIi"
EVENT_LEN = struct.calcsize(_EVENT)
EVENTS_PAGE = const(13)  # 13 * 13 = 169 bytes + 3 header bytes


def encode_history_page(history, page):
    """(page bytes, more) for app.history_page(), or None past the end."""
    events = history.events()
    pages = 1 + (len(events) + EVENTS_PAGE - 1) // EVENTS_PAGE
    if page >= pages:
        return None
    if page == 0:
        body = struct.pack("<%di" % len(HISTORY_COUNTERS), *history.counters())
    else:
        out = bytearray()
        for t, code, mask, value in events[(page - 1) * EVENTS_PAGE:page * EVENTS_PAGE]:
            out += struct.pack(_EVENT, t, code, mask & 0xFFFFFFFF, value)
        body = bytes(out)
    return body, page + 1 < pages


def decode_history(pages):
    """({counter: value}, [(time_ms, code, mask, value)]) from the pages' bodies."""
    counters = dict(zip(HISTORY_COUNTERS, struct.unpack("<%di" % len(HISTORY_COUNTERS),
                                                        pages[0])))
    events = []
    for body in pages[1:]:
        if len(body) % EVENT_LEN:
            raise ValueError("history: bad event page length")
        for o in range(0, len(body), EVENT_LEN):
            events.append(struct.unpack(_EVENT, body[o:o + EVENT_LEN]))
    return counters, events
