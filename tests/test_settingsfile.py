# micropython
from bms import settings as S
from bms import settingsfile as F
from mpytest import raises

SECRETS = {"puk": "12345678", "readout_key": bytes(range(16)), "failures": 2}


def test_round_trip():
    v = S.Settings().values()
    v["battery_count"] = 4
    v["device_name"] = "Van BMS"
    blob = F.encode(v, SECRETS)
    values, secrets, problems = F.decode(blob)
    assert values == v and secrets == SECRETS and problems == []


def test_every_corruption_rejected():
    blob = F.encode(S.Settings().values(), SECRETS)
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 0x01
        with raises(ValueError):
            F.decode(bad)
    for n in (0, 5, len(blob) - 1):
        with raises(ValueError):
            F.decode(blob[:n])
    with raises(ValueError):
        F.decode(blob + b"\0")


def test_invalid_stored_values_fall_back_reported():
    v = S.Settings().values()
    v["battery_count"] = 99  # out of range
    v["gone"] = 1
    values, _s, problems = F.decode(F.encode(v, SECRETS))
    assert values["battery_count"] == 1
    assert len(problems) == 2
    v = S.Settings().values()
    v["cell_uv_mv"] = 2800
    v["cell_prealarm_mv"] = 2850
    v["cell_uv_recover_mv"] = 3000
    v["cell_prealarm_mv"] = 3150  # in range, but above recovery: conflict
    v["pin"] = "424242"
    v["device_name"] = "Boat"
    values, _s, problems = F.decode(F.encode(v, SECRETS))
    d = S.Settings().values()
    # only the rule's settings go back; the PIN and the rest stay
    assert values["cell_prealarm_mv"] == d["cell_prealarm_mv"]
    assert values["cell_uv_recover_mv"] == d["cell_uv_recover_mv"]
    assert values["cell_uv_mv"] == 2800 and values["pin"] == "424242"
    assert values["device_name"] == "Boat"
    assert "back to defaults" in problems[0] and S.check_order(values) is None


def test_a_default_that_breaks_a_rule_resets_only_that_chain():
    # an out-of-range value falls back to its default, which then conflicts
    # with a stored neighbour: that neighbour goes back too, nothing else
    v = S.Settings().values()
    v["cell_prealarm_mv"] = 3160  # out of range: default 3100 kept
    v["cell_uv_recover_mv"] = 3050  # valid alone, now below the pre-alarm
    v["pin"] = "424242"
    v["battery_count"] = 8
    values, _s, problems = F.decode(F.encode(v, SECRETS))
    assert S.check_order(values) is None
    assert values["pin"] == "424242" and values["battery_count"] == 8
    assert len(problems) == 2


def test_link_timeout_conflict_resets_the_link_settings_only():
    v = S.Settings().values()
    v.update({"battery_count": 50, "link_baud": 19200, "link_timeout_ms": 1000, "pin": "424242"})
    values, _s, problems = F.decode(F.encode(v, SECRETS))
    assert S.check_order(values) is None and values["pin"] == "424242"
    assert "link_timeout_ms" in problems[0]


def test_bad_secrets_rejected():
    for bad in ({"puk": "1234", "readout_key": bytes(16), "failures": 0},
                {"puk": "12345678", "readout_key": bytes(15), "failures": 0},
                {"puk": "12345678", "readout_key": bytes(16), "failures": -1}):
        with raises(ValueError):
            F.decode(F.encode(S.Settings().values(), bad))


def test_load_first_boot_corrupt_and_snapshot():
    from bms.auth import Auth
    rand = lambda n: bytes((i * 7 + 3) % 250 for i in range(n))  # noqa: E731
    values, secrets, problems = F.load(None, rand)
    assert values == S.Settings().values() and problems == []
    assert len(secrets["puk"]) == 8 and len(secrets["readout_key"]) == 16
    values, secrets2, problems = F.load(b"garbage", rand)
    assert "defaults used" in problems[0]
    s = S.Settings()
    s.update({"battery_count": 3})
    a = Auth(s, secrets["puk"], secrets["readout_key"], 5)
    values, secrets3, problems = F.load(F.snapshot(s, a), rand)
    assert values["battery_count"] == 3 and secrets3["failures"] == 5 and problems == []
    assert secrets3["puk"] == secrets["puk"]


def test_body_is_the_json_of_the_document():
    # the body is the document's JSON, its settings in the bytes of one json.dumps
    import json
    import struct
    from binascii import hexlify
    v = S.Settings().values()
    v["device_name"] = 'a "quoted" \\ name'
    blob = F.encode(v, SECRETS)
    doc = {"settings": v, "puk": SECRETS["puk"],
           "readout_key": hexlify(SECRETS["readout_key"]).decode(), "failures": 2}
    body = blob[6:-8]
    assert json.loads(body) == doc and struct.unpack("<H", blob[4:6])[0] == len(body)
    assert body.startswith(b'{"settings": ' + json.dumps(v).encode() + b", ")


def test_max_size_holds_the_widest_valid_blob():
    widest = {}
    for e in S.SCHEMA:
        if e[2] in (S.TEXT, S.PIN):
            widest[e[1]] = '"' * e[6]  # every character escaped
        else:
            widest[e[1]] = e[5] if len(str(e[5])) > len(str(e[6])) else e[6]
    big = {"puk": "99999999", "readout_key": bytes(16), "failures": 0x3FFFFFFF}
    n = len(F.encode(widest, big))
    assert n <= F.max_size() < n + 64  # enough, and not wasteful
    buf = bytearray(F.max_size())
    assert F.encode_into(buf, widest, big) == n and bytes(buf[:n]) == F.encode(widest, big)
    with raises(ValueError):  # one byte short: refused, not cut
        F.encode_into(bytearray(n - 1), widest, big)


def test_a_save_writes_the_blob_without_objects_for_its_pieces():
    # every settings save (a PIN login, a change, the failure count) builds
    # the blob: the names and numbers go straight into the buffer, so a
    # save leaves little garbage (it took 4 KB on 32-bit, an object or two
    # per name and value)
    import gc
    import sys

    class Auth:
        puk, readout_key, failures = "12345678", bytes(range(16)), 3
    s = S.Settings()
    buf = bytearray(F.max_size())
    n = F.snapshot_into(buf, s, Auth())
    gc.collect()
    gc.disable()  # every byte allocated stays counted
    try:
        a = gc.mem_alloc()
        assert F.snapshot_into(buf, s, Auth()) == n
        spent = gc.mem_alloc() - a
    finally:
        gc.enable()
    word = 8 if sys.maxsize > 1 << 32 else 4
    assert spent <= 300 * word, spent  # the digest, the secrets and the two texts' JSON
    values, secrets, problems = F.decode(bytes(buf[:n]))
    assert values == s.values() and secrets["failures"] == 3 and problems == []
