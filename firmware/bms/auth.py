# Application-level authentication for the BLE configuration service (the Pico W
# port has no BLE pairing): challenge-response with HMAC-SHA256 over a fresh
# device nonce, a session per connection, a lockout that grows with failures, a
# PUK that resets the PIN, and a login window that only the owner's physical act
# (the remote terminal switched off and on, the USB console) opens. Pure logic:
# random bytes, time and that act come in as arguments; `commit` (the app's
# save) stores `failures`, the PIN, `puk` and `readout_key` and says whether
# the flash took them. Every proof is counted as a failure in flash before it
# is checked, so no reboot can forget a guess.
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
WINDOW_MS = const(120000)  # login window after the owner's act
WINDOW_TRIES = const(3)  # proofs that window lets past a lockout
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
        self._window_left = 0  # proofs the owner's login window still allows
        self._window_ms = 0
        self._remote = 0  # 0: not on since boot, 1: on, 2: off after being on

    # -- the owner's way in ---------------------------------------------------
    def owner_present(self, now_ms):
        """A physical act only the owner can do (the USB console, or the
        remote switched off and on) opens a login window: for WINDOW_MS,
        WINDOW_TRIES proofs pass a running lockout. Wrong ones still count,
        so a stranger gets at most WINDOW_TRIES guesses per act of the owner."""
        self._window_left = WINDOW_TRIES
        self._window_ms = now_ms

    def remote(self, on, now_ms):
        """The remote terminal's debounced state, on every change. Off, then
        on again is the owner's act (the first on after boot is not: the
        remote reads off until its first debounce, so a boot would open a
        window)."""
        if on:
            if self._remote == 2:
                self.owner_present(now_ms)
            self._remote = 1
        elif self._remote == 1:
            self._remote = 2

    def window_open(self, now_ms):
        if self._window_left and not 0 <= diff(now_ms, self._window_ms) <= WINDOW_MS:
            self._window_left = 0
        return self._window_left > 0

    def _refused(self, now_ms):
        # a lockout is running and no window lets this proof past it
        return self.wait_ms(now_ms) > 0 and not self.window_open(now_ms)

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
        self.window_open(now_ms)
        if self._nonce is not None and not 0 <= diff(now_ms, self._nonce_ms) <= NONCE_TTL_MS:
            self._nonce = None

    def state(self, now_ms):
        """(authenticated, failures, wait_s) for the auth response (0 s while
        a login window is open)."""
        wait = 0 if self.window_open(now_ms) else self.wait_ms(now_ms)
        return self.authenticated, self.failures, (wait + 999) // 1000

    def hello(self, now_ms, nonce):
        """Start a login with a fresh random nonce; E_LOCKED_OUT during a
        lockout (unless the owner's window is open)."""
        if self._refused(now_ms):
            return P.E_LOCKED_OUT
        if len(nonce) != P.NONCE_LEN:
            raise ValueError("nonce must be %d bytes" % P.NONCE_LEN)
        self._nonce = bytes(nonce)
        self._nonce_ms = now_ms
        return P.OK

    def nonce(self):
        return self._nonce

    def prove_pin(self, now_ms, mac, commit):
        code = self._prove(now_ms, mac, self.settings.pin, P.PIN_LABEL, commit)
        if code == P.OK:
            commit()  # the count back to 0; if that fails, flash keeps one too many
        return code

    def prove_puk(self, now_ms, mac, new_key, commit):
        """A right PUK resets the PIN to 000000 and renews the readout key;
        if the flash refuses that, nothing changes (E_INTERNAL)."""
        old = self.settings.pin, self.readout_key
        code = self._prove(now_ms, mac, self.puk, P.PUK_LABEL, commit)
        if code == P.OK:
            self._set_pin(DEFAULT_PIN, new_key)
            if not commit():
                self._restore(old)
                self.authenticated = False
                return P.E_INTERNAL
        return code

    def _prove(self, now_ms, mac, secret, label, commit):
        window = self.window_open(now_ms)
        if self.wait_ms(now_ms) and not window:
            return P.E_LOCKED_OUT
        nonce, self._nonce = self._nonce, None  # one proof per nonce
        if nonce is None or not 0 <= diff(now_ms, self._nonce_ms) <= NONCE_TTL_MS:
            return P.E_NO_CHALLENGE
        if window:
            self._window_left -= 1
        # count it as a failure in flash before looking at it; a proof that
        # cannot be counted is not checked (but in the owner's window, whose
        # budget bounds the guesses, it is: a dead flash must not lock the
        # owner out for good)
        self.failures += 1
        self.dirty = True
        if not commit() and not window:
            self.failures -= 1
            return P.E_INTERNAL
        if not _same(proof(secret, label, nonce), mac):
            self._lock_from = now_ms
            self._locked = lock_ms(self.failures) > 0
            return P.E_BAD_PROOF
        self.failures = 0
        self._locked = False
        self._window_left = 0  # the owner is in
        self.authenticated = True
        return P.OK

    def end_session(self):
        """At disconnect: the session and any open challenge end."""
        self.authenticated = False
        self._nonce = None

    def change_pin(self, pin, new_key, commit):
        """New PIN (six digits) and a new readout key; needs a session. If
        the flash refuses them, nothing changes (E_INTERNAL): the old PIN is
        what a reboot would bring back."""
        if not self.authenticated:
            return P.E_NOT_AUTHENTICATED
        code, _msg = S.check_value(S.entry("pin"), pin)
        if code:
            return code
        old = self.settings.pin, self.readout_key
        self._set_pin(pin, new_key)
        if not commit():
            self._restore(old)
            return P.E_INTERNAL
        return P.OK

    def _restore(self, old):
        self.settings.update({"pin": old[0]})
        self.readout_key = old[1]

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
