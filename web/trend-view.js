// Trends of the last hour on the status tab: bank voltage, battery current and
// the lowest cell, from the status values the page received (the BMS keeps no
// such record: the trend starts when the page connects). Small SVG line
// charts, no library.
const $ = (id) => document.getElementById(id);
export const TREND_MS = 3600 * 1000;
const W = 300, H = 60;

export const SERIES = [
  { id: 'trend-pack', label: 'Bank voltage', value: (s) => s.pack_mv / 1000, fmt: (v) => v.toFixed(2) + ' V' },
  { id: 'trend-current', label: 'Battery current (+ = charging)', value: (s) => (s.alt_ma + s.sys_ma) / 1000,
    fmt: (v) => v.toFixed(1) + ' A' },
  { id: 'trend-cell', label: 'Lowest cell', value: (s) => s.min_cell_mv / 1000, fmt: (v) => v.toFixed(3) + ' V' },
];

// The samples: [{t (ms, the page's clock), ...status}], oldest first.
export function addSample(samples, s, now) {
  samples.push({ ...s, t: now });
  while (samples.length && now - samples[0].t > TREND_MS) samples.shift();
  return samples;
}

// SVG polyline points for (t, v) pairs, newest at the right; the width spans
// the samples (at most the last hour), the height their range.
export function points(pairs, now) {
  if (!pairs.length) return '';
  const vs = pairs.map(([, v]) => v);
  const lo = Math.min(...vs), hi = Math.max(...vs);
  const start = Math.max(now - TREND_MS, pairs[0][0]);
  const y = (v) => (hi === lo ? H / 2 : H - 2 - ((v - lo) * (H - 4)) / (hi - lo));
  const x = (t) => (now === start ? W : W - ((now - t) * W) / (now - start));
  return pairs.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
}

function span(ms) {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}

export function renderTrends(samples, now) {
  $('trend-span').textContent = samples.length < 2 ? 'Collecting: the trends fill while the page is connected.'
    : `The last ${span(now - samples[0].t)}, from left to right (up to one hour while the page is connected).`;
  for (const ser of SERIES) {
    const pairs = samples.map((s) => [s.t, ser.value(s)]);
    const box = $(ser.id);
    box.querySelector('polyline').setAttribute('points', points(pairs, now));
    const vs = pairs.map(([, v]) => v);
    box.querySelector('.trend-range').textContent = vs.length
      ? `${ser.fmt(Math.min(...vs))} … ${ser.fmt(Math.max(...vs))}, now ${ser.fmt(vs[vs.length - 1])}` : '--';
  }
}
