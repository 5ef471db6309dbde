// The GATT configuration protocol, mirrored from firmware/bms/protocol.py
// (docs/ble-protocol.md): UUIDs, opcodes, result codes and byte layouts.
// Pure functions over Uint8Array; no transport, no DOM.

const BASE = '-8c2e-4a71-9d3e-5c1a7e0b2f64';
export const SERVICE_UUID = 'b45f0000' + BASE;
export const CHARS = {
  status: 'b45f0001' + BASE,
  cells: 'b45f0002' + BASE,
  settings: 'b45f0003' + BASE,
  command: 'b45f0004' + BASE,
  history: 'b45f0005' + BASE,
  auth: 'b45f0006' + BASE,
};

export const E_MALFORMED = 16, E_BAD_PROOF = 19, E_LOCKED_OUT = 20;
const ERROR_NAMES = {
  16: 'malformed request', 17: 'unknown operation', 18: 'not authenticated',
  19: 'wrong PIN', 20: 'locked out after failed attempts', 21: 'no challenge',
  22: 'not possible right now', 23: 'internal error in the BMS',
};
export function errorName(code, schema) {
  if (schema && code < schema.errors.length) return schema.errors[code];
  return ERROR_NAMES[code] || 'error ' + code;
}

export const AUTH_HELLO = 1, AUTH_PIN = 2, AUTH_PUK = 3;
export const PIN_LABEL = 'smartbms-pin\0', PUK_LABEL = 'smartbms-puk\0';
export const SET_WRITE = 1, SET_READ = 2, SET_PART = 3;
export const COMMANDS = { clear_alarms: 1, clear_history: 2, wake: 3, restart: 4 };
export const CMD_CHANGE_PIN = 5, CMD_READ_READOUT_KEY = 6, CMD_READ_PUK = 7;
export const MAX_WRITE = 64;
export const MIN_WRITE = 20; // the longest write that fits any MTU (23)

const u8 = (a) => (a instanceof Uint8Array ? a : new Uint8Array(a));
const view = (a) => new DataView(a.buffer, a.byteOffset, a.byteLength);

export function parseResponse(data) {
  data = u8(data);
  if (data.length < 2) throw new Error('response too short');
  return { code: data[0], op: data[1], body: data.subarray(2) };
}

// -- status: format 3, 91 bytes, struct <BBBBBBBBHHBHBhhiiIIHHHHiiBBIIHIIIIHIHBBB.
// Format 2 (older firmware) is its first 80 bytes: read too, the rest null.
export const STATUS_FORMAT = 3;
export const STATUS_LEN = 91;
export const STATUS_LEN_2 = 80;
export const SOC_UNKNOWN = 0xFFFF, TTG_NONE = 0xFFFF;
export const OUTPUT_BITS = ['atc', 'atd', 'chg_fet', 'dsg_fet', 'alt_allowed', 'load_out', 'charge_out', 'prealarm_out'];
export const PACK_BITS = ['data_ok', 'full_scan', 'battery_alarm', 'remote_on', 'count_mismatch', 'flash_fault'];
const STATUS_LAYOUT = [
  ['format', 'u8'], ['prot_state', 'u8'], ['alt_state', 'u8'], ['outputs', 'u8'], ['pack_flags', 'u8'],
  ['remote_mode', 'u8'], ['configured', 'u8'], ['seen', 'u8'], ['pack_mv', 'u16'], ['min_cell_mv', 'u16'],
  ['min_cell_at', 'u8'], ['max_cell_mv', 'u16'], ['max_cell_at', 'u8'], ['min_temp_dc', 'i16'],
  ['max_temp_dc', 'i16'], ['alt_ma', 'i32'], ['sys_ma', 'i32'], ['block_chg', 'u32'], ['block_dsg', 'u32'],
  ['warn', 'u16'], ['lost', 'u16'], ['start_mv', 'u16'], ['alt_duty', 'u16'], ['alt_target_ma', 'i32'],
  ['alt_limit_ma', 'i32'], ['alt_limit_reason', 'u8'], ['alt_fault', 'u8'], ['uptime_ms', 'u32'],
  ['block_alt', 'u32'], ['block_sys', 'u16'], ['link_frames_ok', 'u32'], ['link_crc_errors', 'u32'],
  ['link_rejected', 'u32'], ['link_garbage_bytes', 'u32'],
  // format 3
  ['soc_pm', 'u16'], ['consumed_mah', 'u32'], ['ttg_min', 'u16'], ['fw_major', 'u8'], ['fw_minor', 'u8'],
  ['fw_patch', 'u8'],
];
export const STATUS_FIELDS = STATUS_LAYOUT.map(([name]) => name);
const SIZE = { u8: 1, u16: 2, i16: 2, i32: 4, u32: 4 };
function get(dv, off, t) {
  switch (t) {
    case 'u8': return dv.getUint8(off);
    case 'u16': return dv.getUint16(off, true);
    case 'i16': return dv.getInt16(off, true);
    case 'i32': return dv.getInt32(off, true);
    default: return dv.getUint32(off, true);
  }
}

export function decodeStatus(data) {
  data = u8(data);
  const v3 = data.length === STATUS_LEN && data[0] === STATUS_FORMAT;
  if (!v3 && !(data.length === STATUS_LEN_2 && data[0] === 2)) throw new Error('status: unknown format');
  const dv = view(data), s = {};
  let off = 0;
  for (const [name, t] of STATUS_LAYOUT) {
    s[name] = off < data.length ? get(dv, off, t) : null;
    off += SIZE[t];
  }
  OUTPUT_BITS.forEach((n, i) => { s[n] = !!((s.outputs >> i) & 1); });
  PACK_BITS.forEach((n, i) => { s[n] = !!((s.pack_flags >> i) & 1); });
  return s;
}

// "0.1.0" from the status, or null for firmware without the field (format 2).
export function firmwareVersion(s) {
  return s.fw_major == null ? null : `${s.fw_major}.${s.fw_minor}.${s.fw_patch}`;
}

// -- cells: code, first, count, total, then per battery flags u8, temp_dc i16, cell_mv u16 x4
export function decodeCells(data) {
  const { code, op, body } = parseResponse(data);
  if (code) throw Object.assign(new Error('cells: ' + errorName(code)), { code });
  const n = body[0], total = body[1];
  if (body.length !== 2 + n * 11) throw new Error('cells: bad length');
  const dv = view(body), batteries = [];
  for (let i = 0; i < n; i++) {
    const o = 2 + i * 11;
    const cell_mv = [0, 1, 2, 3].map((c) => dv.getUint16(o + 3 + 2 * c, true));
    batteries.push({ flags: dv.getUint8(o), temp_dc: dv.getInt16(o + 1, true), cell_mv });
  }
  return { first: op, total, batteries };
}

// -- history: request page u8; response code, page, more u8, body.
// Page 0: the counters, i32 each; pages 1..: events of 13 bytes
// (time_ms i32, code u8, reason mask u32, value i32), oldest first.
export const HISTORY_COUNTERS = ['lvd', 'hv_stops', 'low_temp', 'high_temp', 'data_losses', 'oc_trips',
  'min_cell_mv', 'max_cell_mv', 'min_temp_dc', 'max_temp_dc', 'alt_mah'];
export const EVENT_LEN = 13;

export function decodeHistoryPage(data) {
  const { code, op, body } = parseResponse(data);
  if (code) return { code, page: op };
  if (!body.length) throw new Error('history: response too short');
  return { code, page: op, more: body[0] === 1, body: body.subarray(1) };
}

// Page bodies (page 0 first) -> {counters, events}, as protocol.py decode_history.
export function decodeHistory(pages) {
  const head = u8(pages[0]);
  if (head.length !== 4 * HISTORY_COUNTERS.length) throw new Error('history: bad counters page');
  const hv = view(head), counters = {};
  HISTORY_COUNTERS.forEach((k, i) => { counters[k] = hv.getInt32(4 * i, true); });
  const events = [];
  for (const p of pages.slice(1)) {
    const b = u8(p);
    if (b.length % EVENT_LEN) throw new Error('history: bad event page length');
    const dv = view(b);
    for (let o = 0; o < b.length; o += EVENT_LEN) {
      events.push({ time_ms: dv.getInt32(o, true), code: dv.getUint8(o + 4), mask: dv.getUint32(o + 5, true),
        value: dv.getInt32(o + 9, true) });
    }
  }
  return { counters, events };
}

// -- settings records: id u8, then i32 LE or len u8 + ASCII
const isText = (e) => e.type === 'text' || e.type === 'pin';

export function encodeRecord(entry, value) {
  if (isText(entry)) {
    const raw = new TextEncoder().encode(value);
    return Uint8Array.from([entry.id, raw.length, ...raw]);
  }
  const out = new Uint8Array(5);
  out[0] = entry.id;
  view(out).setInt32(1, value, true);
  return out;
}

export function encodeSetRequest(schema, values) {
  const parts = [Uint8Array.of(SET_WRITE)];
  for (const [name, value] of Object.entries(values)) {
    const entry = schema.byName[name];
    if (!entry) throw new Error('unknown setting ' + name);
    parts.push(encodeRecord(entry, value));
  }
  return concat(parts);
}

// Split a change set into writes that each fit MAX_WRITE (the device applies
// each write all-or-nothing).
export function encodeSetRequests(schema, values) {
  const out = [];
  let cur = {};
  for (const [name, value] of Object.entries(values)) {
    const trial = { ...cur, [name]: value };
    if (Object.keys(cur).length && encodeSetRequest(schema, trial).length > MAX_WRITE) {
      out.push(encodeSetRequest(schema, cur));
      cur = { [name]: value };
    } else cur = trial;
  }
  if (Object.keys(cur).length) out.push(encodeSetRequest(schema, cur));
  return out;
}

// The writes that carry one settings request at any MTU (bms/protocol.py
// split_write): itself when it fits MIN_WRITE, else SET_PART writes with its
// first bytes and a SET_WRITE with the rest; the device joins them.
export function splitWrite(req) {
  if (req.length <= MIN_WRITE) return [req];
  const out = [];
  for (let i = 1; i < req.length; i += MIN_WRITE - 1) {
    const last = i + MIN_WRITE - 1 >= req.length;
    out.push(concat([Uint8Array.of(last ? SET_WRITE : SET_PART), req.subarray(i, i + MIN_WRITE - 1)]));
  }
  return out;
}

export function decodeRecords(schema, body, start) {
  const values = {};
  const dv = view(body);
  let i = start;
  while (i < body.length) {
    const entry = schema.byId[body[i]];
    if (!entry) throw new Error('settings: unknown id ' + body[i]);
    if (isText(entry)) {
      const len = body[i + 1];
      if (i + 2 + len > body.length) throw new Error('settings: truncated');
      values[entry.name] = new TextDecoder().decode(body.subarray(i + 2, i + 2 + len));
      i += 2 + len;
    } else {
      if (i + 5 > body.length) throw new Error('settings: truncated');
      values[entry.name] = dv.getInt32(i + 1, true);
      i += 5;
    }
  }
  return values;
}

// SET_READ response: code, op, next_id, records...
export function decodeSettingsPage(schema, data) {
  const { code, op, body } = parseResponse(data);
  if (code || op !== SET_READ || !body.length) {
    throw Object.assign(new Error('settings read: ' + errorName(code, schema)), { code });
  }
  return { values: decodeRecords(schema, body, 1), next: body[0] };
}

// A refused write's payload: (id, code) pairs.
export function decodeSetErrors(schema, body) {
  const errs = [];
  for (let i = 0; i + 1 < body.length; i += 2) {
    const entry = schema.byId[body[i]];
    errs.push({ name: entry ? entry.name : 'id ' + body[i], code: body[i + 1] });
  }
  return errs;
}

// -- auth: code, op, authenticated u8, failures u8, wait_s u16, [nonce 16]
export function decodeAuth(data) {
  const { code, op, body } = parseResponse(data);
  if (body.length < 4) throw new Error('auth response too short');
  return {
    code, op, authenticated: body[0] === 1, failures: body[1],
    wait_s: view(body).getUint16(2, true), nonce: body.slice(4),
  };
}

export function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export function indexSchema(schema) {
  schema.byName = {};
  schema.byId = {};
  for (const s of schema.settings) { schema.byName[s.name] = s; schema.byId[s.id] = s; }
  return schema;
}
