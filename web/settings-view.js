// The settings form, generated from schema.json (made from the firmware's
// SCHEMA by tools/gen_schema.py). Values are shown and typed in the units of
// schema.units (V, °C, s for the firmware's mV, 0.1 °C, ms) and sent in the
// firmware's. Checks ranges and choices before sending; the device checks
// again and its refusals are shown next to the field.
const GROUPS = [[1, 'Cell voltages'], [10, 'Temperatures'], [20, 'Battery bank and cable'],
  [30, 'Behaviour'], [40, 'Alternator port'], [60, 'Bluetooth']];

const shown = (s, schema) => ((schema && schema.units) || {})[s.unit] || null;

export function unitText(s, schema) {
  const d = shown(s, schema);
  return d ? d.unit : s.unit;
}

// The firmware's integer as the form shows it: 3100 (mV) -> "3.100".
export function showValue(s, schema, raw) {
  const d = shown(s, schema);
  return d ? (raw / d.scale).toFixed(d.decimals) : String(raw);
}

function control(s, schema) {
  if (s.type === 'choice' || s.type === 'enum') {
    const sel = document.createElement('select');
    s.choices.forEach((c, i) => {
      const o = document.createElement('option');
      o.value = s.type === 'enum' ? i : c;
      o.textContent = s.type === 'enum' ? String(c).replace(/_/g, ' ') : `${c} ${s.unit}`;
      sel.append(o);
    });
    return sel;
  }
  const inp = document.createElement('input');
  if (s.type === 'int') {
    const d = shown(s, schema);
    inp.type = 'number';
    inp.inputMode = s.min < 0 ? 'text' : (d ? 'decimal' : 'numeric');
    inp.min = showValue(s, schema, s.min); inp.max = showValue(s, schema, s.max);
    inp.step = d ? (1 / 10 ** d.decimals).toFixed(d.decimals) : 1;
  } else {
    inp.type = 'text';
    inp.maxLength = s.max;
  }
  return inp;
}

export function buildSettingsForm(form, schema) {
  const parts = [];
  for (const s of schema.settings) {
    if (s.type === 'pin') continue; // changed on the Device tab
    const g = GROUPS.find(([id]) => id === s.id);
    if (g) {
      const h = document.createElement('h3');
      h.className = 'group';
      h.textContent = g[1];
      parts.push(h);
    }
    const div = document.createElement('div');
    div.className = 'field';
    div.dataset.name = s.name;
    const label = document.createElement('label');
    const ctl = control(s, schema);
    ctl.id = 'set-' + s.name;
    ctl.name = s.name;
    label.htmlFor = ctl.id;
    label.textContent = s.label;
    const meta = document.createElement('div');
    meta.className = 'meta';
    const unit = unitText(s, schema) ? ' ' + unitText(s, schema) : '';
    const val = (raw) => showValue(s, schema, raw) + unit;
    meta.textContent = s.type === 'int' ? `${showValue(s, schema, s.min)} … ${val(s.max)}, default ${val(s.default)}`
      : s.type === 'text' ? `${s.min}–${s.max} characters, default ${s.default}`
        : `default ${s.type === 'enum' ? s.choices[s.default] : s.default}`;
    if (s.restart) {
      const r = document.createElement('span');
      r.className = 'restart';
      r.textContent = ' · needs a restart';
      meta.append(r);
    }
    const err = document.createElement('div');
    err.className = 'err';
    err.id = 'err-' + s.name;
    err.setAttribute('role', 'alert');
    ctl.addEventListener('input', () => div.classList.add('changed'));
    div.append(label, meta, ctl, err);
    parts.push(div);
  }
  form.replaceChildren(...parts);
}

export function fillSettings(form, schema, values) {
  for (const s of schema.settings) {
    const ctl = form.elements[s.name];
    if (!ctl || !(s.name in values)) continue;
    ctl.value = s.type === 'int' ? showValue(s, schema, values[s.name]) : values[s.name];
    ctl.closest('.field').classList.remove('changed', 'invalid');
    document.getElementById('err-' + s.name).textContent = '';
  }
}

// The local check: same rules as bms/settings.py check_value (no clamping),
// on the typed value turned into the firmware's integer.
export function checkValue(s, raw, schema) {
  if (s.type === 'text') {
    if (raw.length < s.min || raw.length > s.max) return { error: `${s.min} to ${s.max} characters` };
    if (!/^[ -~]*$/.test(raw)) return { error: 'letters, digits and plain punctuation only' };
    return { value: raw };
  }
  const d = s.type === 'int' ? shown(s, schema) : null;
  const text = raw.trim();
  let v;
  if (d) {
    if (!/^-?[0-9]+([.][0-9]*)?$/.test(text)) return { error: 'a number is needed' };
    if ((text.split('.')[1] || '').length > d.decimals) return { error: `at most ${d.decimals} decimals` };
    v = Math.round(parseFloat(text) * d.scale);
  } else {
    if (!/^-?[0-9]+$/.test(text)) return { error: 'a whole number is needed' };
    v = parseInt(text, 10);
  }
  if (s.type === 'choice' && !s.choices.includes(v)) return { error: 'not one of ' + s.choices.join(', ') };
  if (v < s.min || v > s.max) {
    return { error: `must be ${showValue(s, schema, s.min)} … ${showValue(s, schema, s.max)} ${unitText(s, schema)}`.trim() };
  }
  return { value: v };
}

export function readChanges(form, schema, current) {
  const changes = {}, errors = [];
  for (const s of schema.settings) {
    const ctl = form.elements[s.name];
    if (!ctl) continue;
    const r = checkValue(s, ctl.value, schema);
    if (r.error) { errors.push({ name: s.name, message: r.error }); continue; }
    if (current[s.name] !== r.value) changes[s.name] = r.value;
  }
  // Cross-field rules, as the firmware's ORDER_RULES (larger - smaller >= gap): checked on the merged values.
  if (!errors.length) {
    const merged = { ...current, ...changes };
    for (const [small, large, gap, msg] of schema.order_rules) {
      if (small in merged && large in merged && merged[large] - merged[small] < gap) {
        errors.push({ name: small in changes ? small : large, message: msg });
      }
    }
  }
  return { changes, errors };
}

export function showFieldErrors(form, errors) {
  for (const f of form.querySelectorAll('.field')) {
    f.classList.remove('invalid');
    f.querySelector('.err').textContent = '';
  }
  let first = null;
  for (const e of errors) {
    const f = e.name && form.querySelector(`.field[data-name="${e.name}"]`);
    if (!f) continue;
    f.classList.add('invalid');
    f.querySelector('.err').textContent = e.message;
    first = first || f;
  }
  if (first) first.scrollIntoView({ block: 'center' });
}
