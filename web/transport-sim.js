// Demo transport: the same GATT calls, carried over HTTP to `bms-sim --web`,
// which answers them with the firmware's BLE service on the simulated radio.
// Notifications arrive as server-sent events.
import { CHARS } from './protocol.js';

const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const unhex = (s) => new Uint8Array((s.match(/../g) || []).map((h) => parseInt(h, 16)));

export class SimTransport {
  constructor(base = '') {
    this.base = base;
    this.handlers = {};
    this.events = null;
    this.onlost = null;
    this.onreconnected = null;
  }

  // The demo is offered only when the page is served by the simulator.
  static async available(base = '') {
    try {
      const r = await fetch(base + '/sim/info', { cache: 'no-store' });
      return r.ok;
    } catch (e) {
      return false;
    }
  }

  async _call(path, body) {
    const r = await fetch(this.base + path, { method: 'POST', body: JSON.stringify(body || {}) });
    const j = await r.json();
    if (!r.ok) throw new Error(j.error || 'simulator: HTTP ' + r.status);
    return j;
  }

  async connect() {
    const j = await this._call('/sim/connect');
    this.events = new EventSource(this.base + '/sim/events');
    this.events.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.type === 'notify') {
        const name = Object.keys(CHARS).find((k) => CHARS[k] === m.uuid);
        if (name && this.handlers[name]) this.handlers[name](unhex(m.data));
      } else if (m.type === 'disconnected' && this.onlost) {
        this.onlost();
      }
    };
    return j.name;
  }

  async read(name) {
    return unhex((await this._call('/sim/read', { uuid: CHARS[name] })).data);
  }

  async write(name, bytes, { withResponse = true } = {}) {
    await this._call('/sim/write', { uuid: CHARS[name], data: hex(bytes), response: withResponse });
  }

  async subscribe(name, handler) {
    this.handlers[name] = handler;
    await this._call('/sim/subscribe', { uuid: CHARS[name] });
  }

  async reconnect() {
    if (this.events) this.events.close();
    await this.connect();
    for (const name of Object.keys(this.handlers)) await this._call('/sim/subscribe', { uuid: CHARS[name] });
  }

  disconnect() {
    if (this.events) this.events.close();
    this.events = null;
    fetch(this.base + '/sim/disconnect', { method: 'POST', body: '{}' });
  }
}
