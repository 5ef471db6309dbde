// History tab: the counters and the event log, decoded from the blob that
// bms/history.py defines (to_bytes: header "<2sBBB12i", 32 entries "<iBii",
// CRC-16), which the device serves in pages.
const $ = (id) => document.getElementById(id);
const LOG_LEN = 32, HEAD = 2 + 3 + 12 * 4, ENTRY = 13, EV_WARN = 32;

const COUNTERS = [
  ['lvd', 'Low-voltage disconnects'], ['hv_stops', 'High-voltage charge stops'],
  ['low_temp', 'Low-temperature stops'], ['high_temp', 'High-temperature stops'],
  ['data_losses', 'Battery data losses'], ['oc_trips', 'Overcurrent trips'],
  ['min_cell_mv', 'Lowest cell ever', (v) => (v / 1000).toFixed(3) + ' V'],
  ['max_cell_mv', 'Highest cell ever', (v) => (v / 1000).toFixed(3) + ' V'],
  ['min_temp_dc', 'Lowest temperature', (v) => (v / 10).toFixed(1) + ' °C'],
  ['max_temp_dc', 'Highest temperature', (v) => (v / 10).toFixed(1) + ' °C'],
  ['alt_mah', 'Alternator charge', (v) => (v / 1000).toFixed(1) + ' Ah'],
];
const UNSEEN = 32767;

export function decodeHistory(blob) {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (blob.length < HEAD + LOG_LEN * ENTRY || blob[0] !== 0x42 || blob[1] !== 0x48) {
    throw new Error('unknown history format');
  }
  const count = blob[3], head = blob[4];
  const counters = {};
  COUNTERS.forEach(([k], i) => { counters[k] = dv.getInt32(5 + 4 * i, true); });
  const events = [];
  for (let k = 0; k < count; k++) {
    const o = HEAD + ((head - count + k + LOG_LEN) % LOG_LEN) * ENTRY;
    events.push({ ms: dv.getInt32(o, true), code: dv.getUint8(o + 4), mask: dv.getInt32(o + 5, true),
      value: dv.getInt32(o + 9, true) });
  }
  return { counters, events };
}

function eventName(code, names) {
  const n = code >= EV_WARN ? (names.warnings || [])[code - EV_WARN] : (names.reasons || [])[code];
  return (n || 'event ' + code).replace(/_/g, ' ');
}

export function renderHistory(pages, schema) {
  const blob = new Uint8Array(pages.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of pages) { blob.set(p, o); o += p.length; }
  const { counters, events } = decodeHistory(blob);
  const rows = [];
  for (const [k, label, fmt] of COUNTERS) {
    const v = counters[k];
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.textContent = Math.abs(v) === UNSEEN ? '--' : (fmt ? fmt(v) : String(v));
    rows.push(dt, dd);
  }
  $('hist-counters').replaceChildren(...rows);
  const names = schema.names || {};
  const items = events.reverse().map((e) => {
    const li = document.createElement('li');
    li.textContent = `${(e.ms / 1000).toFixed(0)} s: ${eventName(e.code, names)}`;
    return li;
  });
  if (!items.length) {
    const li = document.createElement('li');
    li.textContent = 'No events yet.';
    items.push(li);
  }
  $('hist-log').replaceChildren(...items);
}
