// PIN challenge-response (docs/ble-protocol.md, auth): the proof is
// HMAC-SHA256 keyed with the PIN's ASCII digits over "smartbms-pin\0" + nonce,
// truncated to 16 bytes. WebCrypto needs a secure context (https or localhost).
import { PIN_LABEL, concat } from './protocol.js';

export async function pinProof(pin, nonce) {
  if (!/^[0-9]{6}$/.test(pin)) throw new Error('the PIN is 6 digits');
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey('raw', enc.encode(pin), { name: 'HMAC', hash: 'SHA-256' },
    false, ['sign']);
  const mac = await crypto.subtle.sign('HMAC', key, concat([enc.encode(PIN_LABEL), nonce]));
  return new Uint8Array(mac).slice(0, 16);
}
