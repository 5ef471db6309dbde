# micropython
from bms import auth as A
from bms import protocol as P
from bms.settings import Settings
from mpytest import raises

NONCE = bytes(range(16))
KEY2 = b"K" * 16


def fresh(failures=0):
    return A.Auth(Settings(), "13572468", bytes(16), failures)


def login(a, now, pin, nonce=NONCE):
    assert a.hello(now, nonce) == P.OK
    return a.prove_pin(now, A.proof(pin, P.PIN_LABEL, nonce))


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
    assert a.prove_pin(0, mac) == P.E_NO_CHALLENGE  # no HELLO yet
    a.hello(0, NONCE)
    assert a.prove_pin(0, A.proof("000000", P.PUK_LABEL, NONCE)) == P.E_BAD_PROOF  # wrong label
    assert a.prove_pin(0, mac) == P.E_NO_CHALLENGE  # the nonce was spent
    a.hello(0, NONCE)
    assert a.prove_pin(A.NONCE_TTL_MS + 1, mac) == P.E_NO_CHALLENGE
    a.hello(0, NONCE)
    a.end_session()  # a disconnect drops the challenge
    assert a.prove_pin(0, mac) == P.E_NO_CHALLENGE
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
    assert a.prove_pin((1 << 29) + 40000 & 0x3FFFFFFF, mac) == P.E_NO_CHALLENGE
    a.hello(0, NONCE)
    a.expire(A.NONCE_TTL_MS + 1000)  # nobody proved in time: gone
    assert a.prove_pin(1000, mac) == P.E_NO_CHALLENGE
    a.hello(0, NONCE)
    a.expire(A.NONCE_TTL_MS)  # still within its time
    assert a.prove_pin(A.NONCE_TTL_MS, mac) == P.OK

def test_puk_resets_pin_and_key():
    a = fresh()
    a.settings.update({"pin": "555555"})
    for _ in range(3):
        login(a, 0, "111111")
    a.hello(0, NONCE)
    assert a.prove_puk(0, A.proof("87654321", P.PUK_LABEL, NONCE), KEY2) == P.E_BAD_PROOF
    assert a.failures == 4
    a.hello(5000, NONCE)
    assert a.prove_puk(5000, A.proof("13572468", P.PUK_LABEL, NONCE), KEY2) == P.OK
    assert a.settings.pin == "000000" and a.readout_key == b"\x01" + KEY2[1:] and a.authenticated
    assert a.failures == 0


def test_change_pin_needs_session_and_valid_pin():
    a = fresh()
    assert a.change_pin("123456", KEY2) == P.E_NOT_AUTHENTICATED
    login(a, 0, "000000")
    assert a.change_pin("12345", KEY2) == P.E_RANGE
    assert a.change_pin("12a456", KEY2) == P.E_TYPE
    assert a.settings.pin == "000000" and a.readout_key == bytes(16)
    assert a.change_pin("123456", KEY2) == P.OK
    # a fresh key, byte 0 stepped from the old key's (Instant Readout check byte)
    assert a.settings.pin == "123456" and a.readout_key == b"\x01" + KEY2[1:]
    login(a, 0, "123456")
    assert a.change_pin("000000", b"\xff" * 16) == P.OK
    assert a.readout_key == b"\x02" + b"\xff" * 15


def test_make_puk():
    assert A.make_puk(bytes((251, 3, 255, 14, 25, 36, 47, 58, 69, 70, 81))) == "34567890"
    with raises(ValueError):
        A.make_puk(bytes((255,)) * 20)
