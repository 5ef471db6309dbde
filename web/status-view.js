// Live status screen: tiles (state of charge first), plain-word reasons, the
// active alarms, gate/output flags and the per-battery cell table, coloured
// by the protection limits.
import { describe, activeAlarms, cellName } from './reasons.js';
import { SOC_UNKNOWN, TTG_NONE } from './protocol.js';

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

// Cells that differ by less than this are "equal": no lowest/highest mark.
export const SPREAD_MARK_MV = 10;

// "3.308–3.309 V", or one value when both ends are equal.
function range(lo, hi, fmt, unit) {
  return lo === hi ? `${fmt(lo)} ${unit}` : `${fmt(lo)}–${fmt(hi)} ${unit}`;
}

export function duration(min) {
  if (min < 1) return 'under 1 min';
  if (min < 60) return `${min} min`;
  if (min < 48 * 60) return `${Math.floor(min / 60)} h ${min % 60} min`;
  return `${Math.floor(min / 1440)} d ${Math.floor((min % 1440) / 60)} h`;
}

// SoC, consumed Ah and time to go as the tiles show them.
export function socTexts(s) {
  if (s.soc_pm == null || s.soc_pm === SOC_UNKNOWN) {
    return { soc: '--', consumed: '--', ttg: s.soc_pm == null ? 'not in this firmware' : 'not counted yet' };
  }
  return {
    soc: (s.soc_pm / 10).toFixed(1) + ' %',
    consumed: (s.consumed_mah / 1000).toFixed(1) + ' Ah',
    ttg: s.ttg_min === TTG_NONE ? 'not discharging' : duration(s.ttg_min),
  };
}

// alarms: [{key, level, text}] (reasons.js activeAlarms); since: {key: ms
// it has been active} from the page's own record of when it first saw it.
export function renderAlarms(alarms, since) {
  const items = alarms.map((a) => {
    const li = document.createElement('li');
    li.className = 'alarm-item ' + a.level;
    li.dataset.alarm = a.key;
    const s = Math.round((since[a.key] || 0) / 1000);
    const t = s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
    li.textContent = `${a.level === 'alarm' ? 'Alarm' : 'Warning'}: ${a.text} (for ${t})`;
    return li;
  });
  if (!items.length) {
    const li = document.createElement('li');
    li.className = 'alarm-item none';
    li.textContent = 'No active alarms.';
    items.push(li);
  }
  $('alarms').replaceChildren(...items);
}

export function renderStatus(s, schema) {
  const names = schema.names || {};
  $('reasons').replaceChildren(...describe(s, names).map((r) => {
    const d = document.createElement('div');
    d.className = 'reason ' + r.kind;
    d.textContent = r.text;
    return d;
  }));
  const soc = socTexts(s);
  $('st-soc').textContent = soc.soc;
  $('st-consumed').textContent = soc.consumed;
  $('st-ttg').textContent = soc.ttg;
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
    + (s.count_mismatch ? `battery count wrong: the cable does not hold ${s.configured}; ` : '')
    + `${s.link_frames_ok} reports, ${s.link_crc_errors} CRC errors, ${s.link_rejected} rejected, `
    + `${s.link_garbage_bytes} stray bytes.`;
}

// What a cell's colour says, from the protection settings (limits: the
// device's values of cell_uv_mv, cell_prealarm_mv, cell_ov_release_mv and
// cell_ov_mv): beyond a limit, near it, or nothing to say.
export function cellClass(mv, limits) {
  if (mv < limits.cell_uv_mv) return ['alarm-low', 'below the load disconnect level'];
  if (mv < limits.cell_prealarm_mv) return ['warn-low', 'below the pre-alarm level'];
  if (mv >= limits.cell_ov_mv) return ['alarm-high', 'at the charge stop level'];
  if (mv >= limits.cell_ov_release_mv) return ['warn-high', 'above the charge release level'];
  return ['', ''];
}

export function renderCells(batteries, s, limits) {
  const all = batteries.flatMap((b) => b.cell_mv);
  const mark = all.length > 1 && Math.max(...all) - Math.min(...all) >= SPREAD_MARK_MV;
  const rows = batteries.map((b, i) => {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.textContent = i + 1;
    tr.append(th);
    b.cell_mv.forEach((mv, c) => {
      const td = document.createElement('td');
      const at = i * 4 + c;
      const [cls, why] = cellClass(mv, limits);
      const notes = why ? [why] : [];
      td.textContent = (mv / 1000).toFixed(3);
      if (mark && s && at === s.min_cell_at) { td.classList.add('min'); notes.unshift('lowest cell'); }
      if (mark && s && at === s.max_cell_at) { td.classList.add('max'); notes.unshift('highest cell'); }
      if (cls) td.classList.add(cls);
      if (notes.length) td.title = `${cellName(at)}: ${notes.join(', ')}`;
      tr.append(td);
    });
    const t = document.createElement('td');
    t.textContent = (b.temp_dc / 10).toFixed(1);
    tr.append(t);
    return tr;
  });
  $('st-batteries').tBodies[0].replaceChildren(...rows);
}
