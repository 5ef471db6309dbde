# The client's side of the GATT protocol of bms/protocol.py (docs/ble-protocol.md):
# the names of codes and fields, the decoders of every value the BMS sends,
# and the requests a phone or tool builds. tools/bmsctl.py and the tests use
# it; the firmware never loads it (its RAM stays free of these tables), and
# no route puts it on a board (tools/build.py HOST_ONLY). It
# carries every name of bms/protocol.py as well, so a client imports one module.
import struct

from bms import settings as S
from bms.protocol import *  # noqa: F401,F403  (the protocol's names, for one import)
from bms.protocol import (BATTERY_LEN, EVENT_LAYOUT, EVENT_LEN, MAX_WRITE, OUTPUT_BITS,
                          PACK_BITS, SET_READ, SET_WRITE, SET_PART, STATUS_FORMAT, STATUS_LAYOUT,
                          STATUS_LEN, MIN_MTU,
                          E_MALFORMED, E_UNKNOWN_OP, E_NOT_AUTHENTICATED, E_BAD_PROOF,
                          E_LOCKED_OUT, E_NO_CHALLENGE, E_REFUSED, E_INTERNAL, CMD_CLEAR_ALARMS,
                          CMD_CLEAR_HISTORY, CMD_WAKE, CMD_RESTART, CMD_CHANGE_PIN,
                          CMD_READ_READOUT_KEY, CMD_READ_PUK, encode_record, decode_records)

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

COMMAND_NAMES = {
    CMD_CLEAR_ALARMS: "clear_alarms", CMD_CLEAR_HISTORY: "clear_history", CMD_WAKE: "wake",
    CMD_RESTART: "restart", CMD_CHANGE_PIN: "change_pin", CMD_READ_READOUT_KEY: "read_readout_key",
    CMD_READ_PUK: "read_puk",
}

MIN_WRITE = MIN_MTU - 3  # the longest write that fits any MTU

# the status value's fields, in protocol.STATUS_LAYOUT order
STATUS_FIELDS = (
    "format", "prot_state", "alt_state", "outputs", "pack_flags", "remote_mode", "configured",
    "seen", "pack_mv", "min_cell_mv", "min_cell_at", "max_cell_mv", "max_cell_at", "min_temp_dc",
    "max_temp_dc", "alt_ma", "sys_ma", "block_chg", "block_dsg", "warn", "lost", "start_mv",
    "alt_duty", "alt_target_ma", "alt_limit_ma", "alt_limit_reason", "alt_fault", "uptime_ms",
    "block_alt", "block_sys", "link_frames_ok", "link_crc_errors", "link_rejected",
    "link_garbage_bytes", "soc_pm", "consumed_mah", "ttg_min", "fw_major", "fw_minor", "fw_patch",
)
# format 2 (older firmware) is format 3 without its last six fields
STATUS_LAYOUT_2 = STATUS_LAYOUT[:-6]
STATUS_LEN_2 = struct.calcsize(STATUS_LAYOUT_2)
# history page 0, in History.counters() order
HISTORY_COUNTERS = ("lvd", "hv_stops", "low_temp", "high_temp", "data_losses", "oc_trips",
                    "min_cell_mv", "max_cell_mv", "min_temp_dc", "max_temp_dc", "alt_mah")


def error_name(code):
    return ERROR_NAMES.get(code, "error %d" % code)


def parse_response(data):
    if len(data) < 2:
        raise ValueError("response too short")
    return data[0], data[1], bytes(data[2:])


def decode_status(data):
    """Format 3, or format 2 from older firmware (its extra fields read None)."""
    if len(data) == STATUS_LEN and data[0] == STATUS_FORMAT:
        d = dict(zip(STATUS_FIELDS, struct.unpack(STATUS_LAYOUT, data)))
    elif len(data) == STATUS_LEN_2 and data[0] == 2:
        d = dict(zip(STATUS_FIELDS, struct.unpack(STATUS_LAYOUT_2, data)))
        for k in STATUS_FIELDS[len(d):]:
            d[k] = None
    else:
        raise ValueError("status: unknown format")
    for i in range(len(OUTPUT_BITS)):
        d[OUTPUT_BITS[i]] = bool(d["outputs"] >> i & 1)
    for i in range(len(PACK_BITS)):
        d[PACK_BITS[i]] = bool(d["pack_flags"] >> i & 1)
    return d


def decode_cells(data):
    """{'first', 'total', 'batteries': [{'flags', 'temp_dc', 'cell_mv': [..]}]}"""
    code, first, body = parse_response(data)
    if code:
        raise ValueError("cells: " + error_name(code))
    n, total = body[0], body[1]
    if len(body) != 2 + n * BATTERY_LEN:
        raise ValueError("cells: bad length")
    bats = []
    for i in range(n):
        o = 2 + i * BATTERY_LEN
        flags, temp = struct.unpack("<Bh", body[o:o + 3])
        cells = list(struct.unpack("<4H", body[o + 3:o + 11]))
        bats.append({"flags": flags, "temp_dc": temp, "cell_mv": cells})
    return {"first": first, "total": total, "batteries": bats}


def encode_set_request(values):
    """One write that sets every (name, value) in `values`."""
    out = bytearray((SET_WRITE,))
    for name in values:
        entry = S.entry(name)
        if entry is None:
            raise KeyError(name)
        out += encode_record(entry, values[name])
    if len(out) > MAX_WRITE:
        raise ValueError("settings write longer than %d bytes: split it" % MAX_WRITE)
    return bytes(out)


def split_write(data):
    """The writes that carry settings request `data` at any MTU: `data`
    itself when it fits MIN_WRITE, else SET_PART writes with its first
    records' bytes and a SET_WRITE with the rest (the device joins them)."""
    if len(data) <= MIN_WRITE:
        return [bytes(data)]
    body, n = bytes(data[1:]), MIN_WRITE - 1
    parts = [body[i:i + n] for i in range(0, len(body), n)]
    return [bytes((SET_PART,)) + p for p in parts[:-1]] + [bytes((SET_WRITE,)) + parts[-1]]


def decode_set_errors(payload):
    """[(name or wire id, code)] from a refused write's payload."""
    errs = []
    for i in range(0, len(payload) - 1, 2):
        entry = S.entry_of_id(payload[i])
        errs.append((entry[1] if entry else payload[i], payload[i + 1]))
    return errs


def decode_settings_page(data):
    """(values, next_id) from a SET_READ response."""
    code, op, body = parse_response(data)
    if code or op != SET_READ or not body:
        raise ValueError("settings read: " + error_name(code))
    values, code, wid = decode_records(body, 1)
    if code:
        raise ValueError("settings read: %s at id %d" % (error_name(code), wid))
    return values, body[0]


def decode_auth(data):
    code, op, body = parse_response(data)
    if len(body) < 4:
        raise ValueError("auth response too short")
    authed, fails, wait_s = struct.unpack("<BBH", body[:4])
    return {"code": code, "op": op, "authenticated": bool(authed), "failures": fails,
            "wait_s": wait_s, "nonce": body[4:]}


def decode_history(pages):
    """({counter: value}, [(time_ms, code, mask, value)]) from the pages' bodies."""
    counters = dict(zip(HISTORY_COUNTERS, struct.unpack("<%di" % len(HISTORY_COUNTERS),
                                                        pages[0])))
    events = []
    for body in pages[1:]:
        if len(body) % EVENT_LEN:
            raise ValueError("history: bad event page length")
        for o in range(0, len(body), EVENT_LEN):
            events.append(struct.unpack(EVENT_LAYOUT, body[o:o + EVENT_LEN]))
    return counters, events
