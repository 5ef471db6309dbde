// History tab: the lifetime counters and the event log (bms/history.py), as
// the device serves them in history pages (protocol.js decodeHistory).
const $ = (id) => document.getElementById(id);
const UNSEEN = 32767; // min/max before any battery data (history.py UNSEEN_MIN/MAX)
const TICKS_MASK = 0x3FFFFFFF, TICKS_HALF = 0x20000000; // bms/ticks.py

const V = (mv) => (mv / 1000).toFixed(3) + ' V';
const C = (dc) => (dc / 10).toFixed(1) + ' °C';
const A = (ma) => (ma / 1000).toFixed(1) + ' A';

const COUNTERS = [
  ['lvd', 'Low-voltage disconnects'], ['hv_stops', 'High-voltage charge stops'],
  ['low_temp', 'Low-temperature stops'], ['high_temp', 'High-temperature stops'],
  ['data_losses', 'Battery data losses'], ['oc_trips', 'Overcurrent trips'],
  ['min_cell_mv', 'Lowest cell ever', V], ['max_cell_mv', 'Highest cell ever', V],
  ['min_temp_dc', 'Lowest temperature', C], ['max_temp_dc', 'Highest temperature', C],
  ['alt_mah', 'Alternator charge', (v) => (v / 1000).toFixed(1) + ' Ah'],
];

// An event's value by its unit (schema.event_units, from history.py _events):
// shown for the events whose value says something.
const BY_UNIT = { mV: V, '0.1C': C, mA: A };

// Event names (bms/reasons.py) in plain words; others show their name.
const PLAIN = {
  boot: 'BMS started', data_lost: 'battery data lost', cell_uv: 'loads off: cell low',
  cell_uv_emergency: 'cell at emergency level', cell_ov: 'charging stopped: cell high',
  temp_low_charge: 'too cold to charge', temp_high_charge: 'too hot to charge',
  temp_high_discharge: 'too hot to discharge', temp_low_discharge: 'too cold to discharge',
  count_mismatch: 'battery count wrong', battery_low_cell: 'battery alarm: low cell',
  battery_high_cell: 'battery alarm: high cell', battery_low_temp: 'battery alarm: too cold',
  battery_high_temp: 'battery alarm: too hot', bms_overtemp: 'BMS too hot', overcurrent: 'System+ overcurrent',
  oc_lockout: 'System+ overcurrent lockout', remote_off: 'remote off', low_power_off: 'low-power off',
  battery_alarm: 'battery alarm', prealarm: 'pre-alarm', fet_derate: 'alternator reduced: BMS hot',
  cell_high: 'alternator reduced: cell high',
};

function eventName(code, names) {
  const base = names.event_warn_base; // event code: reason bit, or base + warning bit
  const n = code >= base ? (names.warnings || [])[code - base] : (names.reasons || [])[code];
  return n || 'event ' + code;
}

function ago(ms) {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}

// nowMs: the device's tick of the last status (uptime_ms), for "... ago"; an
// event from before the last restart has a tick from the older clock, so an
// event "in the future" is shown by its tick alone.
function when(ms, nowMs) {
  if (nowMs != null) {
    const d = ((nowMs - ms + TICKS_HALF) & TICKS_MASK) - TICKS_HALF;
    if (d >= 0) return ago(d);
  }
  return `at ${Math.round(ms / 1000)} s`;
}

export function renderHistory({ counters, events }, schema, nowMs) {
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
  const items = events.slice().reverse().map((e) => {
    const name = eventName(e.code, names);
    const fmt = BY_UNIT[(schema.event_units || {})[name]];
    const li = document.createElement('li');
    const text = PLAIN[name] || name.replace(/_/g, ' ');
    li.textContent = `${when(e.time_ms, nowMs)}: ${text}${fmt ? ' (' + fmt(e.value) + ')' : ''}`;
    return li;
  });
  if (!items.length) {
    const li = document.createElement('li');
    li.textContent = 'No events yet.';
    items.push(li);
  }
  $('hist-log').replaceChildren(...items);
}
