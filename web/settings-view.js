// The settings form, generated from schema.json (made from the firmware's
// SCHEMA by tools/gen_schema.py). Checks ranges and choices before sending;
// the device checks again and its refusals are shown next to the field.
const GROUPS = [[1, 'Cell voltages'], [10, 'Temperatures'], [20, 'Battery bank and cable'],
  [30, 'Behaviour'], [40, 'Alternator port'], [60, 'Bluetooth']];

function unitText(s) {
  if (s.unit === '0.1C') return '× 0.1 °C';
  return s.unit;
}

function control(s) {
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
    inp.type = 'number';
    inp.inputMode = s.min < 0 ? 'text' : 'numeric';
    inp.min = s.min; inp.max = s.max; inp.step = 1;
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
    const ctl = control(s);
    ctl.id = 'set-' + s.name;
    ctl.name = s.name;
    label.htmlFor = ctl.id;
    label.textContent = s.label;
    const meta = document.createElement('div');
    meta.className = 'meta';
    const unit = unitText(s);
    meta.textContent = s.type === 'int' ? `${s.min} … ${s.max}${unit ? ' ' + unit : ''}, default ${s.default}`
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
    ctl.value = values[s.name];
    ctl.closest('.field').classList.remove('changed', 'invalid');
    document.getElementById('err-' + s.name).textContent = '';
  }
}

// The local check: same rules as bms/settings.py check_value (no clamping).
export function checkValue(s, raw) {
  if (s.type === 'text') {
    if (raw.length < s.min || raw.length > s.max) return { error: `${s.min} to ${s.max} characters` };
    if (!/^[ -~]*$/.test(raw)) return { error: 'letters, digits and plain punctuation only' };
    return { value: raw };
  }
  if (!/^-?[0-9]+$/.test(raw.trim())) return { error: 'a whole number is needed' };
  const v = parseInt(raw, 10);
  if (s.type === 'choice' && !s.choices.includes(v)) return { error: 'not one of ' + s.choices.join(', ') };
  if (v < s.min || v > s.max) return { error: `must be ${s.min} … ${s.max} ${unitText(s)}`.trim() };
  return { value: v };
}

export function readChanges(form, schema, current) {
  const changes = {}, errors = [];
  for (const s of schema.settings) {
    const ctl = form.elements[s.name];
    if (!ctl) continue;
    const r = checkValue(s, ctl.value);
    if (r.error) { errors.push({ name: s.name, message: r.error }); continue; }
    if (current[s.name] !== r.value) changes[s.name] = r.value;
  }
  // Cross-field rules, as the firmware's ORDER_RULES: checked on the merged values.
  if (!errors.length) {
    const merged = { ...current, ...changes };
    for (const [small, large, msg] of schema.order_rules) {
      if (small in merged && large in merged && !(merged[small] < merged[large])) {
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
