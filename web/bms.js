// The BMS as the page sees it: protocol operations over a transport (BLE or
// the simulator). Each request characteristic is write-request-then-read-
// response; the transport serialises the calls.
import * as P from './protocol.js';
import { pinProof, pukProof } from './auth.js';

export class AuthError extends Error {
  constructor(message, state) { super(message); this.state = state; }
}

export class DeviceError extends Error {
  constructor(message, code) { super(message); this.code = code; }
}

export class Bms {
  constructor(transport, schema) {
    this.t = transport;
    this.schema = schema;
  }

  async request(char, bytes) {
    await this.t.write(char, bytes);
    return this.t.read(char);
  }

  // HELLO -> nonce -> PIN proof. Throws AuthError with the device's state
  // (failures, wait_s) for a wrong PIN or a lockout.
  async authenticate(pin) {
    return this.prove(P.AUTH_PIN, pinProof, pin, 'PIN');
  }

  // The same with the PUK: on success the device has reset the PIN to 000000,
  // made a new Instant Readout key and opened the session. A wrong PUK counts
  // as a failed try towards the same lockout as a wrong PIN.
  async recoverWithPuk(puk) {
    return this.prove(P.AUTH_PUK, pukProof, puk, 'PUK');
  }

  async prove(op, makeProof, secret, what) {
    const hello = P.decodeAuth(await this.request('auth', Uint8Array.of(P.AUTH_HELLO)));
    if (hello.code === P.E_LOCKED_OUT) {
      throw new AuthError(`Too many failed tries. Try again in ${hello.wait_s} s.`, hello);
    }
    if (hello.code) throw new AuthError('Login refused: ' + P.errorName(hello.code), hello);
    const mac = await makeProof(secret, hello.nonce);
    const res = P.decodeAuth(await this.request('auth', P.concat([Uint8Array.of(op), mac])));
    if (res.code === P.E_BAD_PROOF) {
      const wait = res.wait_s ? ` Locked for ${res.wait_s} s.` : '';
      throw new AuthError(`Wrong ${what} (${res.failures} failed ${res.failures === 1 ? 'try' : 'tries'}).${wait}`, res);
    }
    if (res.code === P.E_LOCKED_OUT) throw new AuthError(`Too many failed tries. Try again in ${res.wait_s} s.`, res);
    if (res.code || !res.authenticated) throw new AuthError('Login refused: ' + P.errorName(res.code), res);
    return res;
  }

  async status() {
    return P.decodeStatus(await this.t.read('status'));
  }

  async cells() {
    const batteries = [];
    let total = 1;
    while (batteries.length < total) {
      const first = batteries.length;
      const page = P.decodeCells(await this.request('cells', Uint8Array.of(first)));
      if (page.first !== first) throw new DeviceError('cells: answer for battery ' + page.first, P.E_MALFORMED);
      total = page.total;
      if (!page.batteries.length) break;
      batteries.push(...page.batteries);
    }
    return batteries;
  }

  async settings() {
    const values = {};
    let from = 0;
    do {
      const page = P.decodeSettingsPage(this.schema, await this.request('settings', Uint8Array.of(P.SET_READ, from)));
      Object.assign(values, page.values);
      from = page.next;
    } while (from);
    return values;
  }

  // Returns [] when applied, else [{name, code, message}] from the device.
  async writeSettings(changes) {
    const errors = [];
    for (const whole of P.encodeSetRequests(this.schema, changes)) {
      const writes = P.splitWrite(whole); // parts fit any MTU
      for (const part of writes.slice(0, -1)) {
        const { code } = P.parseResponse(await this.request('settings', part));
        if (code) throw new DeviceError(P.errorName(code, this.schema), code);
      }
      const { code, body } = P.parseResponse(await this.request('settings', writes[writes.length - 1]));
      if (!code) continue;
      const list = P.decodeSetErrors(this.schema, body);
      if (!list.length) list.push({ name: null, code });
      for (const e of list) errors.push({ ...e, message: P.errorName(e.code, this.schema) });
    }
    return errors;
  }

  async command(name) {
    const code = P.COMMANDS[name];
    const { code: result } = P.parseResponse(await this.request('command', Uint8Array.of(code)));
    if (result) throw new DeviceError(P.errorName(result, this.schema), result);
  }

  async changePin(pin) {
    if (!/^[0-9]{6}$/.test(pin)) throw new DeviceError('the PIN is 6 digits', P.E_MALFORMED);
    const req = P.concat([Uint8Array.of(P.CMD_CHANGE_PIN), new TextEncoder().encode(pin)]);
    const { code } = P.parseResponse(await this.request('command', req));
    if (code) throw new DeviceError(P.errorName(code, this.schema), code);
  }

  async readoutKey() {
    const { code, body } = P.parseResponse(await this.request('command', Uint8Array.of(P.CMD_READ_READOUT_KEY)));
    if (code) throw new DeviceError(P.errorName(code, this.schema), code);
    return Array.from(body, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  async readPuk() {
    const { code, body } = P.parseResponse(await this.request('command', Uint8Array.of(P.CMD_READ_PUK)));
    if (code) throw new DeviceError(P.errorName(code, this.schema), code);
    const puk = new TextDecoder().decode(body);
    if (!/^[0-9]{8}$/.test(puk)) throw new DeviceError('the PUK from the BMS is not 8 digits', P.E_MALFORMED);
    return puk;
  }

  // {counters, events} from every history page.
  async history() {
    return P.decodeHistory(await this.historyPages());
  }

  // History page bodies (page 0: counters, then events) until the device says no more.
  async historyPages() {
    const pages = [];
    for (let page = 0; page < 256; page++) {
      const r = P.decodeHistoryPage(await this.request('history', Uint8Array.of(page)));
      if (r.code) throw new DeviceError(P.errorName(r.code, this.schema), r.code);
      if (r.page !== page) throw new DeviceError('history: answer for page ' + r.page, P.E_MALFORMED);
      pages.push(r.body);
      if (!r.more) break;
    }
    return pages;
  }
}
