// The page: screens, tabs and the flow connect -> PIN -> live status.
// Everything here is shared by the Web Bluetooth and the demo transport.
import { BleTransport } from './transport-ble.js';
import { SimTransport } from './transport-sim.js';
import { Bms, AuthError } from './bms.js';
import { indexSchema, decodeStatus, firmwareVersion } from './protocol.js';
import { renderStatus, renderCells, renderAlarms } from './status-view.js';
import { activeAlarms } from './reasons.js';
import { addSample, renderTrends } from './trend-view.js';
import { buildSettingsForm, readChanges, showFieldErrors, fillSettings } from './settings-view.js';
import { renderHistory } from './history-view.js';

const $ = (id) => document.getElementById(id);
const app = {
  schema: null, transport: null, bms: null, pin: null, status: null, cellsBusy: false, settingsRead: null,
  samples: [], // status values of the last hour, for the trends
  alarmSince: {}, // active alarm -> when the page first saw it (ms, page clock)
  newPin: null, // a checked new PIN waiting for the owner's confirmation
};
window.bmsApp = app; // for the browser tests and the console

function show(screen) {
  for (const id of ['connect-screen', 'pin-screen']) $(id).hidden = id !== screen;
  const inApp = screen === 'app';
  $('tabs').hidden = !inApp;
  if (inApp) selectTab(app.tab || 'status');
  else for (const p of document.querySelectorAll('.tab-page')) p.hidden = true;
}

function setLink(text, on) {
  $('link-state').textContent = text;
  $('link-state').className = 'pill ' + (on ? 'on' : 'off');
}

function selectTab(name) {
  app.tab = name;
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.tab === name);
  for (const p of document.querySelectorAll('.tab-page')) p.hidden = p.id !== 'tab-' + name;
  if (name === 'settings') loadSettings();
  if (name === 'history') loadHistory();
  if (name === 'device') loadReadoutKey();
}

function result(el, text, ok) {
  el.textContent = text;
  el.className = 'result ' + (ok ? 'ok' : 'bad');
}

async function connectWith(transport) {
  $('connect-error').textContent = '';
  try {
    app.transport = transport;
    transport.onlost = linkLost;
    transport.onreconnected = relogin;
    const name = await transport.connect();
    $('title').textContent = name;
    app.bms = new Bms(transport, app.schema);
    setLink('connected', true);
    show('pin-screen');
    $('pin').focus();
  } catch (e) {
    $('connect-error').textContent = e.name === 'NotFoundError' ? 'No BMS chosen.' : 'Could not connect: ' + e.message;
    setLink('not connected', false);
  }
}

async function login(ev) {
  ev.preventDefault();
  const pin = $('pin').value;
  $('pin-error').textContent = '';
  if (!/^[0-9]{6}$/.test(pin)) { $('pin-error').textContent = 'The PIN is 6 digits.'; return; }
  $('btn-unlock').disabled = true;
  try {
    await app.bms.authenticate(pin);
    app.pin = pin; // kept in memory only, to log in again after a reconnect
    $('pin').value = '';
    setLink('unlocked', true);
    show('app');
    await startLive();
  } catch (e) {
    $('pin-error').textContent = e instanceof AuthError ? e.message : 'Login failed: ' + e.message;
  } finally {
    $('btn-unlock').disabled = false;
  }
}

function usePuk(on) {
  $('pin-form').hidden = on;
  $('puk-form').hidden = !on;
  $('pin-title').textContent = on ? 'Reset PIN with PUK' : 'Enter PIN';
  $('btn-forgot').textContent = on ? 'Back to PIN' : 'Forgot PIN? Use PUK';
  $('pin-error').textContent = '';
  $(on ? 'puk' : 'pin').focus();
}

async function recover(ev) {
  ev.preventDefault();
  const puk = $('puk').value;
  $('pin-error').textContent = '';
  if (!/^[0-9]{8}$/.test(puk)) { $('pin-error').textContent = 'The PUK is 8 digits.'; return; }
  $('btn-puk-reset').disabled = true;
  try {
    await app.bms.recoverWithPuk(puk);
    app.pin = '000000'; // the device reset it; kept for a reconnect like a typed PIN
    $('puk').value = '';
    usePuk(false);
    setLink('unlocked', true);
    app.tab = 'device'; // where the new PIN is set
    show('app');
    result($('newpin-result'), 'PIN reset to 000000. Set a new PIN now.', true);
    await startLive(); // after the readout key is read (one GATT queue): the layout stands
    $('newpin-result').scrollIntoView({ block: 'center' });
  } catch (e) {
    $('pin-error').textContent = e instanceof AuthError ? e.message : 'PUK reset failed: ' + e.message;
  } finally {
    $('btn-puk-reset').disabled = false;
  }
}

async function startLive() {
  await app.transport.subscribe('status', (bytes) => onStatusBytes(bytes));
  onStatusBytes(await app.transport.read('status'));
  if (!app.values) { // the cell colours follow the device's limits
    try {
      app.values = await readSettings();
    } catch (e) {
      console.warn('settings', e);
    }
  }
}

// One settings read at a time: a second would interleave its pages with the
// first on the one characteristic. Callers share the read in flight.
function readSettings() {
  if (!app.settingsRead) app.settingsRead = app.bms.settings().finally(() => { app.settingsRead = null; });
  return app.settingsRead;
}

function showAlarms(s, now) {
  const alarms = activeAlarms(s, app.schema.names || {});
  const since = {};
  for (const a of alarms) {
    if (!(a.key in app.alarmSince)) app.alarmSince[a.key] = now;
    since[a.key] = now - app.alarmSince[a.key];
  }
  for (const k of Object.keys(app.alarmSince)) if (!(k in since)) delete app.alarmSince[k];
  renderAlarms(alarms, since);
}

async function onStatusBytes(bytes) {
  try {
    // An empty notification means "changed, read it" (small MTU).
    if (!bytes.length) bytes = await app.transport.read('status');
    if (!bytes.length) return; // no session (yet)
    const now = Date.now();
    app.status = decodeStatus(bytes);
    renderStatus(app.status, app.schema);
    showAlarms(app.status, now);
    renderTrends(addSample(app.samples, app.status, now), now);
    $('fw-version').textContent = 'Firmware: ' + (firmwareVersion(app.status) || 'unknown (older firmware)');
    refreshCells();
  } catch (e) {
    console.warn('status', e);
  }
}

// The protection limits the cell colours compare with: the device's
// settings once read, else the schema's defaults.
function cellLimits() {
  const out = {};
  for (const n of ['cell_uv_mv', 'cell_prealarm_mv', 'cell_ov_release_mv', 'cell_ov_mv']) {
    out[n] = app.values && n in app.values ? app.values[n] : app.schema.byName[n].default;
  }
  return out;
}

async function refreshCells() {
  // Only while the cell table is on screen: Android has one GATT operation at a time.
  if (app.cellsBusy || app.tab !== 'status') return;
  app.cellsBusy = true;
  try {
    renderCells(await app.bms.cells(), app.status, cellLimits());
  } catch (e) {
    console.warn('cells', e);
  } finally {
    app.cellsBusy = false;
  }
}

async function loadSettings() {
  try {
    app.values = await readSettings();
    fillSettings($('settings-form'), app.schema, app.values);
    $('settings-note').textContent = 'Values from the BMS. Changed fields are outlined in blue.';
  } catch (e) {
    $('settings-note').textContent = 'Could not read settings: ' + e.message;
  }
}

async function saveSettings(ev) {
  ev.preventDefault();
  const form = $('settings-form');
  const { changes, errors } = readChanges(form, app.schema, app.values || {});
  showFieldErrors(form, errors);
  if (errors.length) { result($('settings-result'), 'Fix the marked fields first.', false); return; }
  if (!Object.keys(changes).length) { result($('settings-result'), 'Nothing changed.', true); return; }
  try {
    const refused = await app.bms.writeSettings(changes);
    if (refused.length) {
      showFieldErrors(form, refused.map((e) => ({ name: e.name, message: 'BMS refused: ' + e.message })));
      result($('settings-result'), 'The BMS refused the change; nothing was saved.', false);
      return;
    }
    const restart = Object.keys(changes).some((n) => app.schema.byName[n].restart);
    result($('settings-result'), 'Saved.' + (restart ? ' Restart the BMS to apply it.' : ''), true);
    await loadSettings();
  } catch (e) {
    result($('settings-result'), 'Save failed: ' + e.message, false);
  }
}

async function loadHistory() {
  try {
    renderHistory(await app.bms.history(), app.schema, app.status ? app.status.uptime_ms : null);
  } catch (e) {
    $('hist-log').textContent = 'Could not read history: ' + e.message;
  }
}

async function loadReadoutKey() {
  try {
    $('readout-key').textContent = await app.bms.readoutKey();
    $('readout-box').hidden = false;
  } catch (e) {
    $('readout-box').hidden = true;
  }
}

async function showPuk() {
  try {
    $('puk-value').textContent = await app.bms.readPuk();
    $('puk-box').hidden = false;
    $('puk-result').textContent = '';
  } catch (e) {
    result($('puk-result'), 'Could not read the PUK: ' + e.message, false);
  }
}

const CMD_DONE = { clear_alarms: 'Alarms cleared.', clear_history: 'History cleared.', wake: 'BMS woken up.',
  restart: 'The BMS restarts now.' };

async function runCommand(name) {
  if (name === 'restart' && !confirm('Restart the BMS? Outputs go to their safe state for a moment.')) return;
  try {
    await app.bms.command(name);
    result($('cmd-result'), CMD_DONE[name], true);
  } catch (e) {
    const what = name.replace('_', ' ');
    result($('cmd-result'), `${what[0].toUpperCase()}${what.slice(1)}: ${e.message}`, false);
  }
}

// Two steps: the PINs are checked, then the owner confirms knowing that the
// Instant Readout key changes too (Home Assistant needs the new one).
function changePin(ev) {
  ev.preventDefault();
  const a = $('newpin').value, b = $('newpin2').value;
  if (!/^[0-9]{6}$/.test(a)) { result($('newpin-result'), 'The PIN is 6 digits.', false); return; }
  if (a !== b) { result($('newpin-result'), 'The two PINs differ.', false); return; }
  app.newPin = a;
  $('newpin-result').textContent = '';
  $('newpin-confirm').hidden = false;
  $('btn-newpin-confirm').focus();
}

function cancelPin() {
  app.newPin = null;
  $('newpin-confirm').hidden = true;
  result($('newpin-result'), 'PIN not changed.', true);
}

async function confirmPin() {
  const pin = app.newPin;
  $('newpin-confirm').hidden = true;
  app.newPin = null;
  if (!pin) return;
  try {
    await app.bms.changePin(pin);
    app.pin = pin;
    $('newpin').value = $('newpin2').value = '';
    result($('newpin-result'), 'PIN changed. The Instant Readout key is new too: give it to Home Assistant.', true);
    loadReadoutKey();
  } catch (e) {
    result($('newpin-result'), 'PIN not changed: ' + e.message, false);
  }
}

function linkLost() {
  setLink('link lost', false);
  $('lost-link').hidden = false;
}

async function relogin() {
  // The session ends with the connection: log in again with the PIN in memory.
  $('lost-link').hidden = true;
  if (!app.pin) { show('pin-screen'); return; }
  try {
    await app.bms.authenticate(app.pin);
    setLink('unlocked', true);
    await startLive();
  } catch (e) {
    app.pin = null;
    show('pin-screen');
    $('pin-error').textContent = e.message;
  }
}

async function reconnectClicked() {
  try {
    await app.transport.reconnect();
    setLink('connected', true);
    await relogin();
  } catch (e) {
    $('lost-link').querySelector('span').textContent = 'Still no connection: ' + e.message;
  }
}

function disconnect() {
  app.transport.disconnect();
  app.pin = null;
  app.bms = null;
  app.tab = 'status';
  setLink('not connected', false);
  $('readout-box').hidden = true;
  $('readout-key').textContent = '';
  $('puk-box').hidden = true;
  $('puk-value').textContent = '';
  $('newpin-confirm').hidden = true;
  app.newPin = null;
  app.values = null;
  app.samples = [];
  app.alarmSince = {};
  usePuk(false);
  show('connect-screen');
}

async function init() {
  app.schema = indexSchema(await (await fetch('schema.json')).json());
  buildSettingsForm($('settings-form'), app.schema);
  if (!BleTransport.available()) { $('no-bluetooth').hidden = false; $('btn-connect').disabled = true; }
  $('btn-connect').addEventListener('click', () => connectWith(new BleTransport()));
  $('btn-demo').addEventListener('click', () => connectWith(new SimTransport()));
  if (await SimTransport.available()) $('btn-demo').hidden = false;
  $('pin-form').addEventListener('submit', login);
  $('puk-form').addEventListener('submit', recover);
  $('btn-forgot').addEventListener('click', () => usePuk($('puk-form').hidden));
  $('btn-show-puk').addEventListener('click', showPuk);
  $('settings-form').addEventListener('submit', saveSettings);
  $('btn-history').addEventListener('click', loadHistory);
  $('newpin-form').addEventListener('submit', changePin);
  $('btn-newpin-confirm').addEventListener('click', confirmPin);
  $('btn-newpin-cancel').addEventListener('click', cancelPin);
  $('btn-reconnect').addEventListener('click', reconnectClicked);
  $('btn-disconnect').addEventListener('click', disconnect);
  $('btn-copy-key').addEventListener('click', async () => {
    await navigator.clipboard.writeText($('readout-key').textContent);
    $('btn-copy-key').textContent = 'Copied';
  });
  for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => selectTab(b.dataset.tab));
  for (const b of document.querySelectorAll('[data-cmd]')) b.addEventListener('click', () => runCommand(b.dataset.cmd));
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('sw.js').catch(() => {});
  document.body.dataset.ready = '1';
}

init();
