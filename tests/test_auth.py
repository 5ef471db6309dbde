# micropython
from bms import auth as A
from bms import protocol as P
from bms.settings import Settings
from mpytest import raises

NONCE = bytes(range(16))
KEY2 = b"K" * 16


def fresh(failures=0):
    return A.Auth(Settings(), "13572468", bytes(16), failures)


class Flash:
    """The app's commit: what it stored last (failures, PIN, key), or a
    refusal while `full`."""

    def __init__(self, auth):
        self.auth = auth
        self.full = False
        self.stored = None
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.full:
            return False
        a = self.auth
        self.stored = (a.failures, a.settings.pin, a.readout_key)
        a.dirty = False
        return True


def ok():
    return True


def login(a, now, pin, nonce=NONCE, commit=ok):
    assert a.hello(now, nonce) == P.OK
    return a.prove_pin(now, A.proof(pin, P.PIN_LABEL, nonce), commit)


def test_hmac_rfc4231_case_2():
    mac = A.hmac_sha256(b"Jefe", b"what do ya want for nothing?")
    assert mac.hex() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_hmac_long_key_rfc4231_case_6():
    mac = A.hmac_sha256(b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First")
    assert mac.hex() == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"


def test_right_pin_opens_session_wrong_pin_does_not():
    a = fresh()
    assert login(a, 0, "123456") == P.E_BAD_PROOF and not a.authenticated
    assert a.failures == 1 and a.dirty
    assert login(a, 0, "000000") == P.OK and a.authenticated and a.failures == 0
    a.end_session()
    assert not a.authenticated


def test_nonce_single_use_and_expiry():
    a = fresh()
    mac = A.proof("000000", P.PIN_LABEL, NONCE)
    assert a.prove_pin(0, mac, ok) == P.E_NO_CHALLENGE  # no HELLO yet
    a.hello(0, NONCE)
    assert a.prove_pin(0, A.proof("000000", P.PUK_LABEL, NONCE), ok) == P.E_BAD_PROOF  # wrong label
    assert a.prove_pin(0, mac, ok) == P.E_NO_CHALLENGE  # the nonce was spent
    a.hello(0, NONCE)
    assert a.prove_pin(A.NONCE_TTL_MS + 1, mac, ok) == P.E_NO_CHALLENGE
    a.hello(0, NONCE)
    a.end_session()  # a disconnect drops the challenge
    assert a.prove_pin(0, mac, ok) == P.E_NO_CHALLENGE
    with raises(ValueError):
        a.hello(0, b"short")


def test_lockout_grows_and_caps():
    assert [A.lock_ms(n) for n in range(7)] == [0, 0, 0, 0, 5000, 10000, 20000]
    assert A.lock_ms(200) == A.MAX_LOCK_MS
    a = fresh()
    now = 0
    for _ in range(3):
        assert login(a, now, "999999") == P.E_BAD_PROOF
    assert a.wait_ms(now) == 0
    assert login(a, now, "999999") == P.E_BAD_PROOF
    assert a.state(now) == (False, 4, 5)
    assert a.hello(now + 4999, NONCE) == P.E_LOCKED_OUT
    now += 5000
    assert login(a, now, "999999") == P.E_BAD_PROOF
    assert a.wait_ms(now) == 10000
    assert a.hello(now + 9999, NONCE) == P.E_LOCKED_OUT
    now += 10000
    assert login(a, now, "000000") == P.OK and a.failures == 0 and a.wait_ms(now) == 0


def test_lockout_survives_reconnect_and_reboot():
    a = fresh()
    for _ in range(4):
        login(a, 100, "111111")
    a.end_session()  # reconnect: same object, same count
    assert a.hello(200, NONCE) == P.E_LOCKED_OUT
    b = fresh(failures=a.failures)  # reboot: the app restored the stored count
    assert b.hello(10 ** 6, NONCE) == P.E_LOCKED_OUT
    assert b.wait_ms(10 ** 6 + 4999) == 1
    assert b.hello(10 ** 6 + 5000, NONCE) == P.OK


def test_lockout_across_tick_wrap():
    a = fresh()
    t = (1 << 30) - 1000
    for _ in range(4):
        login(a, t, "111111")
    assert a.wait_ms(t + 4000 - (1 << 30)) == 1000



DAY_MS = 24 * 3600 * 1000


def test_lockout_over_stays_over_after_days_idle():
    # the lockout ended long ago; a tick counter past half its period (6.2
    # days) must not bring it back, checked or not in between
    for checked in (False, True):
        a = fresh()
        for _ in range(4):
            login(a, 0, "111111")
        if checked:
            a.expire(6000)
        for days in (1, 6, 7, 10, 12):
            now = (days * DAY_MS) & 0x3FFFFFFF
            assert a.wait_ms(now) == 0, days
        assert a.hello((7 * DAY_MS) & 0x3FFFFFFF, NONCE) == P.OK


def test_expire_ends_a_lockout_before_the_counter_wraps_back():
    a = fresh()
    for _ in range(4):
        login(a, 0, "111111")
    for s in range(1, 20):  # the persistence task, once a second
        a.expire(s * 1000)
    # a whole tick period later the counter reads a few seconds after the start
    assert a.wait_ms((1 << 30) + 1000 & 0x3FFFFFFF) == 0


def test_old_nonce_refused_after_the_counter_wraps():
    a = fresh()
    a.hello(0, NONCE)
    mac = A.proof("000000", P.PIN_LABEL, NONCE)
    assert a.prove_pin((1 << 29) + 40000 & 0x3FFFFFFF, mac, ok) == P.E_NO_CHALLENGE
    a.hello(0, NONCE)
    a.expire(A.NONCE_TTL_MS + 1000)  # nobody proved in time: gone
    assert a.prove_pin(1000, mac, ok) == P.E_NO_CHALLENGE
    a.hello(0, NONCE)
    a.expire(A.NONCE_TTL_MS)  # still within its time
    assert a.prove_pin(A.NONCE_TTL_MS, mac, ok) == P.OK

def test_puk_resets_pin_and_key():
    a = fresh()
    a.settings.update({"pin": "555555"})
    for _ in range(3):
        login(a, 0, "111111")
    a.hello(0, NONCE)
    assert a.prove_puk(0, A.proof("87654321", P.PUK_LABEL, NONCE), KEY2, ok) == P.E_BAD_PROOF
    assert a.failures == 4
    a.hello(5000, NONCE)
    assert a.prove_puk(5000, A.proof("13572468", P.PUK_LABEL, NONCE), KEY2, ok) == P.OK
    assert a.settings.pin == "000000" and a.readout_key == b"\x01" + KEY2[1:] and a.authenticated
    assert a.failures == 0


def test_change_pin_needs_session_and_valid_pin():
    a = fresh()
    assert a.change_pin("123456", KEY2, ok) == P.E_NOT_AUTHENTICATED
    login(a, 0, "000000")
    assert a.change_pin("12345", KEY2, ok) == P.E_RANGE
    assert a.change_pin("12a456", KEY2, ok) == P.E_TYPE
    assert a.settings.pin == "000000" and a.readout_key == bytes(16)
    assert a.change_pin("123456", KEY2, ok) == P.OK
    # a fresh key, byte 0 stepped from the old key's (Instant Readout check byte)
    assert a.settings.pin == "123456" and a.readout_key == b"\x01" + KEY2[1:]
    login(a, 0, "123456")
    assert a.change_pin("000000", b"\xff" * 16, ok) == P.OK
    assert a.readout_key == b"\x02" + b"\xff" * 15


def test_make_puk():
    assert A.make_puk(bytes((251, 3, 255, 14, 25, 36, 47, 58, 69, 70, 81))) == "34567890"
    with raises(ValueError):
        A.make_puk(bytes((255,)) * 20)


HOUR_MS = 3600 * 1000


def stranger(a, start, end, pin="999999"):
    """Wrong guesses as fast as the lockout allows from start to end; their times."""
    times = []
    now = start
    while now < end:
        wait = a.wait_ms(now)
        if wait:
            now += wait
            continue
        assert login(a, now, pin) == P.E_BAD_PROOF
        times.append(now)
    return times


def test_brute_force_stays_as_slow_as_before():
    a = fresh()
    times = stranger(a, 0, 48 * HOUR_MS)
    assert len([t for t in times if t < HOUR_MS]) == 13
    later = [t for t in times if t >= HOUR_MS]
    assert all(t1 - t0 >= A.MAX_LOCK_MS for t0, t1 in zip(later, later[1:]))
    assert len(times) == 13 + 47


def test_a_stranger_guessing_once_an_hour_cannot_keep_the_owner_out():
    a = fresh()
    a.remote(True, 0)  # the remote has been on since boot
    now = stranger(a, 0, 5 * HOUR_MS)[-1] + 1000
    assert a.hello(now, NONCE) == P.E_LOCKED_OUT and a.state(now)[2] > 3000
    # the owner switches the remote off and on: the stranger cannot
    a.remote(False, now)
    a.remote(True, now + 1500)
    assert a.state(now + 2000)[2] == 0
    assert login(a, now + 20000, "000000") == P.OK and a.failures == 0
    # a stranger who happens to guess inside the window does not stop it
    a.end_session()
    stranger(a, now + 30000, now + 2 * HOUR_MS)
    t = now + 2 * HOUR_MS
    a.remote(False, t)
    a.remote(True, t + 500)
    assert login(a, t + 1000, "123123") == P.E_BAD_PROOF
    assert login(a, t + 1000, "321321") == P.E_BAD_PROOF
    assert login(a, t + 5000, "000000") == P.OK


def test_the_owners_window_is_short_and_small():
    a = fresh()
    a.remote(True, 100)  # the first "on" after boot is no act: a boot is not the owner
    last = stranger(a, 0, 30 * 1000)[-1]  # 6 failures, locked for 20 s
    n = a.failures
    assert a.hello(last + 1000, NONCE) == P.E_LOCKED_OUT
    a.remote(False, last + 1000)
    a.remote(True, last + 1500)
    # a stranger in the window: WINDOW_TRIES guesses, counted, then locked again
    for i in range(A.WINDOW_TRIES):
        assert login(a, last + 2000 + i, "999999") == P.E_BAD_PROOF
    assert a.failures == n + A.WINDOW_TRIES
    assert a.hello(last + 3000, NONCE) == P.E_LOCKED_OUT
    # a window ends after WINDOW_MS, used or not
    a.remote(False, 50000)
    a.remote(True, 50000)
    assert a.hello(50000 + A.WINDOW_MS, NONCE) == P.OK
    a.end_session()
    assert a.hello(50001 + A.WINDOW_MS, NONCE) == P.E_LOCKED_OUT
    # the USB console opens one too
    a.owner_present(60000 + A.WINDOW_MS)
    assert login(a, 60000 + A.WINDOW_MS, "000000") == P.OK


def test_every_proof_is_counted_in_flash_before_it_is_checked():
    a = fresh()
    flash = Flash(a)
    seen = []

    def commit():
        seen.append(a.failures)
        return flash()
    assert login(a, 0, "111111", commit=commit) == P.E_BAD_PROOF
    assert seen == [1] and flash.stored[0] == 1 and not a.dirty
    assert login(a, 0, "000000", commit=commit) == P.OK
    assert seen == [1, 2, 0] and flash.stored[0] == 0  # counted, then cleared


def test_a_proof_the_flash_cannot_count_is_not_checked():
    a = fresh()
    flash = Flash(a)
    flash.full = True
    for pin in ("111111", "000000"):
        assert login(a, 0, pin, commit=flash) == P.E_INTERNAL
        assert not a.authenticated and a.failures == 0
    # in the owner's window it is checked all the same (the window bounds the
    # guesses): a dead flash cannot lock the owner out for good
    a.owner_present(0)
    assert login(a, 0, "111111", commit=flash) == P.E_BAD_PROOF and a.failures == 1
    assert login(a, 0, "000000", commit=flash) == P.OK and a.authenticated


def test_a_pin_change_or_puk_reset_the_flash_refuses_changes_nothing():
    a = fresh()
    flash = Flash(a)
    login(a, 0, "000000", commit=flash)
    flash.full = True
    assert a.change_pin("123456", KEY2, flash) == P.E_INTERNAL
    assert a.settings.pin == "000000" and a.readout_key == bytes(16) and a.authenticated
    flash.full = False
    assert a.change_pin("123456", KEY2, flash) == P.OK and flash.stored[1] == "123456"
    a.end_session()
    key = a.readout_key
    a.hello(0, NONCE)
    mac = A.proof("13572468", P.PUK_LABEL, NONCE)
    calls = flash.calls

    class Dies(Flash):  # counts the proof, then refuses the reset
        def __call__(self):
            self.full = self.calls > calls
            return Flash.__call__(self)
    dies = Dies(a)
    dies.calls = calls
    assert a.prove_puk(0, mac, b"N" * 16, dies) == P.E_INTERNAL
    assert a.settings.pin == "123456" and a.readout_key == key and not a.authenticated
    assert login(a, 0, "123456", commit=flash) == P.OK
