// Status in plain words: reason bits (names from firmware/bms/reasons.py,
// carried in schema.json) turned into sentences with the cell or value that
// caused them.
const V = (mv) => (mv / 1000).toFixed(2) + ' V';
const C = (dc) => (dc / 10).toFixed(1) + ' °C';
export const cellName = (at) => `cell ${(at % 4) + 1} of battery ${Math.floor(at / 4) + 1}`;

const WHY = {
  boot: () => 'waiting for the first data from every battery',
  data_lost: () => 'battery data lost: check the BMS cable',
  cell_uv: (s) => `${cellName(s.min_cell_at)} at ${V(s.min_cell_mv)}`,
  cell_uv_emergency: (s) => `${cellName(s.min_cell_at)} at ${V(s.min_cell_mv)} (emergency level)`,
  cell_ov: (s) => `${cellName(s.max_cell_at)} at ${V(s.max_cell_mv)}`,
  temp_low_charge: (s) => `battery too cold (${C(s.min_temp_dc)})`,
  temp_high_charge: (s) => `battery too hot (${C(s.max_temp_dc)})`,
  temp_high_discharge: (s) => `battery too hot (${C(s.max_temp_dc)})`,
  bms_overtemp: () => 'BMS too hot',
  overcurrent: () => 'overcurrent, retrying',
  oc_lockout: () => 'overcurrent too often: clear alarms or toggle remote',
  remote_off: () => 'remote on/off is off',
  low_power_off: () => 'low-power off (press Wake or start charging)',
  battery_alarm: () => 'a battery reports an alarm',
  short_circuit: () => 'System+ short circuit, retrying',
  count_mismatch: (s) => `battery count wrong: ${s.configured} set, the BMS cable says otherwise (check battery_count)`,
  battery_low_cell: () => 'a battery reports a low cell',
  battery_high_cell: () => 'a battery reports a high cell',
  battery_low_temp: () => 'a battery reports it is too cold to charge',
  battery_high_temp: () => 'a battery reports it is too hot',
  temp_low_discharge: (s) => `battery too cold to discharge (${C(s.min_temp_dc)})`,
};

const WARN = {
  prealarm: (s) => `pre-alarm: ${cellName(s.min_cell_at)} at ${V(s.min_cell_mv)}`,
  fet_derate: () => 'alternator current reduced: BMS hot',
  cell_high: (s) => `alternator current reduced: ${cellName(s.max_cell_at)} at ${V(s.max_cell_mv)}`,
};

// Not a protection reason: the BMS runs on, but the flash refused its last
// save, so a restart would bring back older settings or history.
const FLASH_FAULT = 'the flash refused a save: a restart would bring back older settings or history';

function bitNames(mask, table) {
  const out = [];
  for (let i = 0; i < 32; i++) if ((mask >>> i) & 1) out.push(table[i] || 'reason ' + i);
  return out;
}

// [{kind: 'stop'|'warn'|'ok', text}]
export function describe(s, names) {
  const lines = [];
  const say = (prefix, mask) => {
    for (const n of bitNames(mask, names.reasons)) lines.push({ kind: 'stop', text: `${prefix}: ${WHY[n] ? WHY[n](s) : n.replace(/_/g, ' ')}` });
  };
  say('charging stopped', s.block_chg);
  say('loads disconnected', s.block_dsg);
  say('alternator stopped', s.block_alt & ~s.block_chg); // it also stops for every charge reason
  say('System+ off', s.block_sys);
  for (const n of bitNames(s.warn, names.warnings)) lines.push({ kind: 'warn', text: WARN[n] ? WARN[n](s) : n.replace(/_/g, ' ') });
  if (s.flash_fault) lines.push({ kind: 'warn', text: FLASH_FAULT });
  if (!lines.length) lines.push({ kind: 'ok', text: 'All good: charging and discharging allowed' });
  return lines;
}

// Reasons that are states the owner chose or a start-up step, not alarms.
const NOT_ALARMS = { boot: 'info', remote_off: 'warning' };

// The active alarms, each once however many paths it blocks:
// [{key, level: 'alarm'|'warning'|'info', text}], alarms first.
export function activeAlarms(s, names) {
  const out = [];
  const masks = [['block_chg', 'charging stopped'], ['block_dsg', 'loads off'],
    ['block_alt', 'alternator stopped'], ['block_sys', 'System+ off']];
  const all = s.block_chg | s.block_dsg | s.block_alt | s.block_sys;
  for (const n of bitNames(all >>> 0, names.reasons)) {
    const bit = names.reasons.indexOf(n);
    let paths = masks.filter(([k]) => (s[k] >>> bit) & 1).map(([, what]) => what);
    // the alternator stops for every charge reason: saying so again adds nothing
    if (paths.includes('charging stopped')) paths = paths.filter((p) => p !== 'alternator stopped');
    const why = WHY[n] ? WHY[n](s) : n.replace(/_/g, ' ');
    out.push({ key: n, level: NOT_ALARMS[n] || 'alarm', text: `${why} (${paths.join(', ')})` });
  }
  for (const n of bitNames(s.warn, names.warnings)) {
    out.push({ key: 'warn:' + n, level: 'warning', text: WARN[n] ? WARN[n](s) : n.replace(/_/g, ' ') });
  }
  if (s.flash_fault) out.push({ key: 'flash_fault', level: 'warning', text: FLASH_FAULT });
  const rank = { alarm: 0, warning: 1, info: 2 };
  return out.sort((a, b) => rank[a.level] - rank[b.level]);
}
