// Web Bluetooth transport. Android runs one GATT operation at a time, so every
// call goes through one promise queue. Only writeValueWithResponse /
// writeValueWithoutResponse are used (the deprecated writeValue is not).
import { SERVICE_UUID, CHARS } from './protocol.js';

const RECONNECT_TRIES = 3;

export class BleTransport {
  constructor() {
    this.device = null;
    this.chars = {};
    this.handlers = {};      // char name -> callback(Uint8Array)
    this.queue = Promise.resolve();
    this.onlost = null;      // called when the link is gone and reconnecting failed
    this.onreconnected = null;
    this.closing = false;
  }

  static available() { return !!(navigator.bluetooth && navigator.bluetooth.requestDevice); }

  // Must run inside a user gesture (the browser shows its device chooser).
  async connect() {
    this.device = await navigator.bluetooth.requestDevice({ filters: [{ services: [SERVICE_UUID] }] });
    this.device.addEventListener('gattserverdisconnected', () => this._disconnected());
    await this._open();
    return this.device.name || 'BMS';
  }

  async _open() {
    const server = await this.device.gatt.connect();
    const service = await server.getPrimaryService(SERVICE_UUID);
    this.chars = {};
    for (const [name, uuid] of Object.entries(CHARS)) this.chars[name] = await service.getCharacteristic(uuid);
    this.queue = Promise.resolve();
    for (const name of Object.keys(this.handlers)) await this._startNotify(name);
  }

  _enqueue(op) {
    const run = this.queue.then(op);
    this.queue = run.catch(() => {});
    return run;
  }

  _char(name) {
    const c = this.chars[name];
    if (!c || !this.device.gatt.connected) throw new Error('not connected');
    return c;
  }

  read(name) {
    return this._enqueue(async () => {
      const dv = await this._char(name).readValue();
      return new Uint8Array(dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength));
    });
  }

  write(name, bytes, { withResponse = true } = {}) {
    return this._enqueue(() => (withResponse
      ? this._char(name).writeValueWithResponse(bytes)
      : this._char(name).writeValueWithoutResponse(bytes)));
  }

  async subscribe(name, handler) {
    this.handlers[name] = handler;
    await this._startNotify(name);
  }

  _startNotify(name) {
    const c = this.chars[name];
    if (!c._bmsListening) {
      c._bmsListening = true;
      c.addEventListener('characteristicvaluechanged', (ev) => {
        const dv = ev.target.value;
        const h = this.handlers[name];
        if (h) h(new Uint8Array(dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength)));
      });
    }
    return this._enqueue(() => c.startNotifications());
  }

  async _disconnected() {
    if (this.closing) return;
    console.info('link lost: reconnecting');
    for (let i = 0; i < RECONNECT_TRIES; i++) {
      try {
        await this._open();
        if (this.onreconnected) await this.onreconnected();
        return;
      } catch (e) {
        console.warn('reconnect', i + 1, e.name, e.message);
        await new Promise((r) => setTimeout(r, 500 * (i + 1)));
      }
    }
    if (this.onlost) this.onlost();
  }

  // The user's "Reconnect" after the automatic tries gave up: the same
  // device again, else the chooser (this runs in the button's user gesture).
  async reconnect() {
    this.closing = false;
    try {
      await this._open();
    } catch (e) {
      await this.connect();
    }
  }

  disconnect() {
    this.closing = true;
    if (this.device && this.device.gatt.connected) this.device.gatt.disconnect();
  }
}
