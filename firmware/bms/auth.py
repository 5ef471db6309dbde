# Application-level authentication for the BLE configuration service (the Pico W
# port has no BLE pairing): challenge-response with HMAC-SHA256 over a fresh
# device nonce, a session per connection, a lockout that grows with failures and
# a PUK that resets the PIN. Pure logic: random bytes and time come in as
# arguments; the app persists `failures`, `puk` and `readout_key` when `dirty`.
import hashlib

try:
    from micropython import const
except ImportError:  # CPython: bmsctl uses proof() for the client side
    def const(x):  # type: ignore[misc]  # CPython stand-in, same behaviour
        return x

from bms import settings as S
from bms import protocol as P
from bms.ticks import diff

_FREE_FAILURES = const(3)  # failures before the lockout starts
_BASE_LOCK_MS = const(5000)  # first lockout; doubles with every further failure
MAX_LOCK_MS = const(3600000)
NONCE_TTL_MS = const(30000)
DEFAULT_PIN = "000000"
_PUK_DIGITS = const(8)
_KEY_LEN = const(16)


def hmac_sha256(key, msg):
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = bytes(key) + bytes(64 - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(msg)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def proof(secret, label, nonce):
    """The MAC a client sends: HMAC-SHA256(secret digits, label + nonce), 16 bytes."""
    return hmac_sha256(secret.encode(), label + bytes(nonce))[:P.MAC_LEN]


def _same(a, b):
    # compare without an early exit so timing says nothing about the MAC
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= a[i] ^ b[i]
    return d == 0


def make_puk(rand):
    """8 decimal digits from random bytes (bytes >= 250 are skipped: no bias)."""
    digits = [str(b % 10) for b in rand if b < 250][:_PUK_DIGITS]
    if len(digits) < _PUK_DIGITS:
        raise ValueError("not enough random bytes for a PUK")
    return "".join(digits)


def lock_ms(failures):
    """Lockout after `failures` consecutive failures: 0, then 5 s doubling, capped."""
    if failures <= _FREE_FAILURES:
        return 0
    return min(_BASE_LOCK_MS << min(failures - _FREE_FAILURES - 1, 10), MAX_LOCK_MS)


class Auth:
    def __init__(self, settings, puk, readout_key, failures=0):
        self.settings = settings  # the PIN lives in settings.pin
        self.puk = puk
        self.readout_key = bytes(readout_key)
        self.failures = failures
        self.dirty = False  # failures, PIN, PUK or key changed: persist
        self.authenticated = False
        self._nonce = None
        self._nonce_ms = 0
        # a lockout is pending or running; after a reboot it starts in full at
        # the next check (_lock_from None)
        self._locked = lock_ms(failures) > 0
        self._lock_from = None

    def wait_ms(self, now_ms):
        """ms left of the lockout. Once over it stays over until the next
        failure: ticks wrap, so an old start must never count again."""
        if not self._locked:
            return 0
        total = lock_ms(self.failures)
        if self._lock_from is None:
            self._lock_from = now_ms
        # a negative elapsed time means over half a tick period (6 days) ago
        left = total - diff(now_ms, self._lock_from)
        if left <= 0 or left > total:
            self._locked = False
            return 0
        return left

    def expire(self, now_ms):
        """Called every second or so (the app's persistence task): ends a
        lockout or a challenge that ran out while nobody asked, long before
        the tick counter wraps back over its start."""
        self.wait_ms(now_ms)
        if self._nonce is not None and not 0 <= diff(now_ms, self._nonce_ms) <= NONCE_TTL_MS:
            self._nonce = None

    def state(self, now_ms):
        """(authenticated, failures, wait_s) for the auth response."""
        return self.authenticated, self.failures, (self.wait_ms(now_ms) + 999) // 1000

    def hello(self, now_ms, nonce):
        """Start a login with a fresh random nonce; E_LOCKED_OUT during a lockout."""
        if self.wait_ms(now_ms):
            return P.E_LOCKED_OUT
        if len(nonce) != P.NONCE_LEN:
            raise ValueError("nonce must be %d bytes" % P.NONCE_LEN)
        self._nonce = bytes(nonce)
        self._nonce_ms = now_ms
        return P.OK

    def nonce(self):
        return self._nonce

    def prove_pin(self, now_ms, mac):
        return self._prove(now_ms, mac, self.settings.pin, P.PIN_LABEL)

    def prove_puk(self, now_ms, mac, new_key):
        """A right PUK resets the PIN to 000000 and renews the readout key."""
        code = self._prove(now_ms, mac, self.puk, P.PUK_LABEL)
        if code == P.OK:
            self._set_pin(DEFAULT_PIN, new_key)
        return code

    def _prove(self, now_ms, mac, secret, label):
        if self.wait_ms(now_ms):
            return P.E_LOCKED_OUT
        nonce, self._nonce = self._nonce, None  # one proof per nonce
        if nonce is None or not 0 <= diff(now_ms, self._nonce_ms) <= NONCE_TTL_MS:
            return P.E_NO_CHALLENGE
        if not _same(proof(secret, label, nonce), mac):
            self.failures += 1
            self._lock_from = now_ms
            self._locked = lock_ms(self.failures) > 0
            self.dirty = True
            return P.E_BAD_PROOF
        if self.failures:
            self.failures = 0
            self._locked = False
            self.dirty = True
        self.authenticated = True
        return P.OK

    def end_session(self):
        """At disconnect: the session and any open challenge end."""
        self.authenticated = False
        self._nonce = None

    def change_pin(self, pin, new_key):
        """New PIN (six digits) and a new readout key; needs a session."""
        if not self.authenticated:
            return P.E_NOT_AUTHENTICATED
        code, _msg = S.check_value(S.BY_NAME["pin"], pin)
        if code:
            return code
        self._set_pin(pin, new_key)
        return P.OK

    def _set_pin(self, pin, new_key):
        if len(new_key) != _KEY_LEN:
            raise ValueError("readout key must be %d bytes" % _KEY_LEN)
        errors = self.settings.update({"pin": pin})
        if errors:
            raise ValueError(errors[0][2])
        key = bytearray(new_key)
        # byte 0 is the readers' key check: stepping it makes readers holding the
        # old key report a mismatch instead of decoding garbage
        key[0] = (self.readout_key[0] + 1) & 0xFF
        self.readout_key = bytes(key)
        self.dirty = True
