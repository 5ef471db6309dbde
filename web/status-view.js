// Live status screen: tiles, plain-word reasons, gate/output flags and the
// per-battery cell table with the lowest and highest cell highlighted.
import { describe, cellName } from './reasons.js';

const $ = (id) => document.getElementById(id);
const V = (mv) => (mv / 1000).toFixed(2) + ' V';
const A = (ma) => (Math.abs(ma) < 50 ? 0 : ma / 1000).toFixed(1) + ' A'; // no "-0.0"

// [status key, label, word when set, word when clear]
const FLAGS = [
  ['atc', 'Charge', 'allowed', 'blocked'], ['atd', 'Discharge', 'allowed', 'blocked'],
  ['chg_fet', 'Charge FET'], ['dsg_fet', 'Discharge FET'],
  ['alt_allowed', 'Alternator', 'allowed', 'blocked'], ['load_out', 'Load output'], ['charge_out', 'Charge output'],
  ['prealarm_out', 'Pre-alarm out'], ['remote_on', 'Remote'], ['data_ok', 'Battery data', 'OK', 'missing'],
];

// "3.308–3.309 V", or one value when both ends are equal.
function range(lo, hi, fmt, unit) {
  return lo === hi ? `${fmt(lo)} ${unit}` : `${fmt(lo)}–${fmt(hi)} ${unit}`;
}

export function renderStatus(s, schema) {
  const names = schema.names || {};
  $('reasons').replaceChildren(...describe(s, names).map((r) => {
    const d = document.createElement('div');
    d.className = 'reason ' + r.kind;
    d.textContent = r.text;
    return d;
  }));
  $('st-pack').textContent = V(s.pack_mv);
  $('st-alt').textContent = A(s.alt_ma);
  $('st-sys').textContent = A(s.sys_ma);
  $('st-starter').textContent = V(s.start_mv);
  $('st-cells').textContent = s.configured
    ? range(s.min_cell_mv, s.max_cell_mv, (mv) => (mv / 1000).toFixed(3), 'V') : '--';
  $('st-temp').textContent = s.configured ? range(s.min_temp_dc, s.max_temp_dc, (dc) => (dc / 10).toFixed(1), '°C') : '--';
  const alt = (names.alt_states || [])[s.alt_state] || 'state ' + s.alt_state;
  const prot = (names.prot_states || [])[s.prot_state] || 'state ' + s.prot_state;
  const states = [`BMS: ${prot.replace(/_/g, ' ')}`, `Alternator port: ${alt.replace(/_/g, ' ')}`].map((text) => {
    const d = document.createElement('span');
    d.className = 'flag wide';
    d.textContent = text;
    return d;
  });
  const flags = FLAGS.map(([k, label, yes = 'on', no = 'off']) => {
    const d = document.createElement('span');
    d.className = 'flag' + (s[k] ? ' on' : '');
    d.textContent = `${label}: ${s[k] ? yes : no}`;
    d.dataset.flag = k;
    return d;
  });
  $('st-flags').replaceChildren(...states, ...flags);
  $('st-batteries').dataset.batteries = `${s.seen}/${s.configured}`;
  $('st-link').textContent = `Battery link: ${s.seen} of ${s.configured} batteries fresh; `
    + `${s.link_frames_ok} reports, ${s.link_crc_errors} CRC errors, ${s.link_rejected} rejected, `
    + `${s.link_garbage_bytes} stray bytes.`;
}

export function renderCells(batteries, s) {
  const rows = batteries.map((b, i) => {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.textContent = i + 1;
    tr.append(th);
    b.cell_mv.forEach((mv, c) => {
      const td = document.createElement('td');
      const at = i * 4 + c;
      td.textContent = (mv / 1000).toFixed(3);
      if (s && at === s.min_cell_at) { td.className = 'min'; td.title = 'lowest: ' + cellName(at); }
      if (s && at === s.max_cell_at) { td.className = 'max'; td.title = 'highest: ' + cellName(at); }
      tr.append(td);
    });
    const t = document.createElement('td');
    t.textContent = (b.temp_dc / 10).toFixed(1);
    tr.append(t);
    return tr;
  });
  $('st-batteries').tBodies[0].replaceChildren(...rows);
}
