// PIN and PUK challenge-response (docs/ble-protocol.md, auth): the proof is
// HMAC-SHA256 keyed with the secret's ASCII digits over its label + nonce,
// truncated to 16 bytes. WebCrypto needs a secure context (https or localhost).
import { PIN_LABEL, PUK_LABEL, concat } from './protocol.js';

async function proof(secret, label, nonce) {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' },
    false, ['sign']);
  const mac = await crypto.subtle.sign('HMAC', key, concat([enc.encode(label), nonce]));
  return new Uint8Array(mac).slice(0, 16);
}

export async function pinProof(pin, nonce) {
  if (!/^[0-9]{6}$/.test(pin)) throw new Error('the PIN is 6 digits');
  return proof(pin, PIN_LABEL, nonce);
}

export async function pukProof(puk, nonce) {
  if (!/^[0-9]{8}$/.test(puk)) throw new Error('the PUK is 8 digits');
  return proof(puk, PUK_LABEL, nonce);
}
