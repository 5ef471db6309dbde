// Live status screen: tiles, plain-word reasons, gate/output flags and the
// per-battery cell table with the lowest and highest cell highlighted.
import { describe, cellName } from './reasons.js';

const $ = (id) => document.getElementById(id);
const V = (mv, d = 2) => (mv / 1000).toFixed(d) + ' V';
const A = (ma) => (Math.abs(ma) < 50 ? 0 : ma / 1000).toFixed(1) + ' A'; // no "-0.0"
const C = (dc) => (dc / 10).toFixed(1) + ' °C';

const FLAGS = [
  ['atc', 'Charge allowed'], ['atd', 'Discharge allowed'], ['chg_fet', 'Charge FET'], ['dsg_fet', 'Discharge FET'],
  ['alt_allowed', 'Alternator allowed'], ['load_out', 'Load output'], ['charge_out', 'Charge output'],
  ['prealarm_out', 'Pre-alarm'], ['remote_on', 'Remote on'], ['data_ok', 'Battery data OK'],
];

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
    ? `${V(s.min_cell_mv, 3)} – ${V(s.max_cell_mv, 3)}` : '--';
  $('st-temp').textContent = `${C(s.min_temp_dc)} – ${C(s.max_temp_dc)}`;
  const alt = (names.alt_states || [])[s.alt_state] || 'state ' + s.alt_state;
  const prot = (names.prot_states || [])[s.prot_state] || 'state ' + s.prot_state;
  const chips = [['', 'BMS: ' + prot, true], ['', 'Alternator port: ' + alt.replace(/_/g, ' '), true],
    ...FLAGS.map(([k, label]) => [k, label, s[k]])];
  $('st-flags').replaceChildren(...chips.map(([k, label, on]) => {
    const d = document.createElement('span');
    d.className = 'flag' + (on && k ? ' on' : '');
    d.textContent = k ? `${label}: ${on ? 'on' : 'off'}` : label;
    if (k) d.dataset.flag = k;
    return d;
  }));
  $('st-batteries').dataset.batteries = `${s.seen}/${s.configured}`;
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
