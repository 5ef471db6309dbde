# micropython
# The GATT service over the simulated radio, driven by SimCentral (the phone).
import sys
import asyncio
from boards.sim import bluetooth

sys.modules["bluetooth"] = bluetooth
import aioble  # noqa: E402  (the stand-in, or the real one with AIOBLE_PATH)
from bms import client as P  # noqa: E402
from bms import auth as A  # noqa: E402
from drivers.ble_service import BleService  # noqa: E402
from bleapp_double import App  # noqa: E402

_service = None


async def start(app=None):
    """One service per process (aioble registers services once); a fresh app."""
    global _service
    app = app or App()
    if _service is None:
        _service = BleService(app, clock=lambda: _clock[0])
        asyncio.create_task(_service.run())
    else:
        _service.seam = app
    for _ in range(50):
        if bluetooth.BLE().advertising and bluetooth.BLE().advertising[3]:
            break
        await asyncio.sleep_ms(5)
    return app


_clock = [1000]


async def connected(app=None, mtu=247, max_mtu=517):
    """A phone whose stack takes up to max_mtu, asking for `mtu` (0: it never asks)."""
    for left in list(bluetooth.BLE().centrals.values()):  # a failed test's phone
        left.disconnect()
    app = await start(app)
    phone = await bluetooth.SimCentral(max_mtu=max_mtu).connect_when_advertising()  # a loaded host is slow to re-advertise
    await asyncio.sleep_ms(5)
    if mtu:
        phone.exchange_mtu(mtu)
    return app, phone


async def login(phone, pin="000000"):
    r = P.decode_auth(await phone.request(P.AUTH_UUID, b"\x01"))
    assert r["code"] == P.OK and len(r["nonce"]) == 16, r
    mac = A.proof(pin, P.PIN_LABEL, r["nonce"])
    return P.decode_auth(await phone.request(P.AUTH_UUID, b"\x02" + mac))


async def bye(phone):
    phone.disconnect()
    await asyncio.sleep_ms(20)


async def test_advertises_name_and_service():
    await start()
    seen = bluetooth.SimCentral().scan()
    assert seen["connectable"]
    assert seen["name"] == "SmartBMS"
    assert bluetooth.UUID(P.SERVICE_UUID) in seen["services"]


async def test_device_information_is_readable_without_login():
    from version import VERSION
    _app, phone = await connected()
    assert phone.read(bluetooth.UUID(0x2A26)) == VERSION.encode()  # firmware revision
    assert phone.read(bluetooth.UUID(0x2A29)) == b"mpy-smartbms"  # manufacturer
    assert phone.read(bluetooth.UUID(0x2A24)) == b"SmartBMS 12 V"  # model
    assert phone.read(bluetooth.UUID(0x2A28)).startswith(b"MicroPython 1.")
    await bye(phone)


async def test_unauthenticated_writes_rejected_and_values_empty():
    app, phone = await connected()
    for uuid, req in ((P.SETTINGS_UUID, b"\x01\x14\x04\x00\x00\x00"), (P.COMMAND_UUID, b"\x01"),
                      (P.HISTORY_UUID, b"\x00"), (P.CELLS_UUID, b"\x00"),
                      (P.SETTINGS_UUID, b"\x02\x00"), (P.COMMAND_UUID, b"\x06")):
        code, op, payload = P.parse_response(await phone.request(uuid, req))
        assert code == P.E_NOT_AUTHENTICATED and payload == b"", uuid
    assert app.settings.battery_count == 1 and app.commands == []
    await asyncio.sleep_ms(30)
    assert phone.read(P.STATUS_UUID) == b""
    assert phone.notifications(P.STATUS_UUID) == []
    await bye(phone)


async def test_login_settings_round_trip_with_refused_value():
    app, phone = await connected()
    r = await login(phone)
    assert r["code"] == P.OK and r["authenticated"]
    values, nxt = P.decode_settings_page(await phone.request(P.SETTINGS_UUID, b"\x02\x00"))
    assert nxt == 0 and values == {k: v for k, v in app.settings.values().items() if k != "pin"}
    ok = P.encode_set_request({"battery_count": 4, "device_name": "Van"})
    assert P.parse_response(await phone.request(P.SETTINGS_UUID, ok))[0] == P.OK
    assert app.settings.battery_count == 4 and app.settings.device_name == "Van"
    bad = P.encode_set_request({"battery_count": 3, "cell_ov_mv": 3800})  # 3800 out of range
    code, op, payload = P.parse_response(await phone.request(P.SETTINGS_UUID, bad))
    assert code == P.E_RANGE and P.decode_set_errors(payload) == [("cell_ov_mv", P.E_RANGE)]
    assert app.settings.battery_count == 4 and app.settings.cell_ov_mv == 3750  # nothing applied
    conflict = P.encode_set_request({"cell_prealarm_mv": 3150, "cell_uv_recover_mv": 3100})
    code, _op, payload = P.parse_response(await phone.request(P.SETTINGS_UUID, conflict))
    assert code == P.E_CONFLICT and app.settings.cell_uv_recover_mv == 3200
    values, _n = P.decode_settings_page(await phone.request(P.SETTINGS_UUID, b"\x02\x00"))
    assert values["battery_count"] == 4 and values["device_name"] == "Van"
    await bye(phone)


async def test_malformed_writes_get_codes_and_store_nothing():
    app, phone = await connected()
    await login(phone)
    before = app.settings.values()
    cases = (
        (P.SETTINGS_UUID, b"\x01", P.E_MALFORMED),  # no records
        (P.SETTINGS_UUID, b"\x01\x14\x04\x00", P.E_MALFORMED),  # truncated i32
        (P.SETTINGS_UUID, b"\x01\x63\x00\x00\x00\x00", P.E_UNKNOWN_KEY),  # id 99
        (P.SETTINGS_UUID, b"\x01\x14\x02\x00\x00\x00\x14\x02\x00\x00\x00", P.E_MALFORMED),
        (P.SETTINGS_UUID, b"\x01\x3c\x05ab", P.E_MALFORMED),  # text shorter than its length
        (P.SETTINGS_UUID, b"\x01\x3c\x02\xff\xfe", P.E_MALFORMED),  # not UTF-8
        (P.SETTINGS_UUID, b"\x01\x3c\x02a\x07", P.E_TYPE),  # control character
        (P.SETTINGS_UUID, b"\x01\x3e\x06123456", P.E_REFUSED),  # PIN only by command
        (P.SETTINGS_UUID, b"\x07", P.E_UNKNOWN_OP),
        (P.SETTINGS_UUID, b"\x02", P.E_MALFORMED),
        (P.SETTINGS_UUID, b"\x01" + b"\x14\x02\x00\x00\x00" * 13, P.E_MALFORMED),  # > 64 bytes
        (P.COMMAND_UUID, b"\x01\x00", P.E_MALFORMED),
        (P.COMMAND_UUID, b"\x05123", P.E_MALFORMED),
        (P.COMMAND_UUID, b"\x0512345x", P.E_TYPE),
        (P.COMMAND_UUID, b"\x63", P.E_UNKNOWN_OP),
        (P.CELLS_UUID, b"\x09", P.E_RANGE),
        (P.CELLS_UUID, b"\x00\x00", P.E_MALFORMED),
        (P.HISTORY_UUID, b"\x05", P.E_RANGE),
        (P.AUTH_UUID, b"\x02abc", P.E_MALFORMED),
        (P.AUTH_UUID, b"\x09", P.E_UNKNOWN_OP),
    )
    for uuid, req, want in cases:
        code = P.parse_response(await phone.request(uuid, req))[0]
        assert code == want, (req, code, want)
    assert P.parse_response(await phone.request(P.SETTINGS_UUID, b""))[0] == P.E_MALFORMED
    assert app.settings.values() == before and app.applied == []
    assert app.auth.authenticated  # the session survived all of it
    await bye(phone)


async def test_commands_and_secrets():
    app, phone = await connected()
    await login(phone)
    for op in (P.CMD_CLEAR_ALARMS, P.CMD_CLEAR_HISTORY, P.CMD_RESTART):
        assert P.parse_response(await phone.request(P.COMMAND_UUID, bytes((op,))))[0] == P.OK
    assert app.commands == [P.CMD_CLEAR_ALARMS, P.CMD_CLEAR_HISTORY, P.CMD_RESTART]
    assert P.parse_response(await phone.request(P.COMMAND_UUID, b"\x03"))[0] == P.E_REFUSED
    code, _op, key = P.parse_response(await phone.request(P.COMMAND_UUID, b"\x06"))
    assert code == P.OK and key == bytes(range(16))
    code, _op, puk = P.parse_response(await phone.request(P.COMMAND_UUID, b"\x07"))
    assert puk == b"24681357"
    assert P.parse_response(await phone.request(P.COMMAND_UUID, b"\x05654321"))[0] == P.OK
    assert app.settings.pin == "654321" and app.auth.readout_key != bytes(range(16))
    assert app.auth_saves >= 1  # the new PIN and key were persisted
    await bye(phone)
    # secrets vanish with the session; the new PIN is needed now
    assert bluetooth.BLE().gatts_read(phone.handle(P.COMMAND_UUID)) == b""
    await phone.connect_when_advertising()
    await asyncio.sleep_ms(5)
    assert (await login(phone, "000000"))["code"] == P.E_BAD_PROOF
    assert (await login(phone, "654321"))["code"] == P.OK
    await bye(phone)


async def test_app_fault_answered_with_internal_error():
    app, phone = await connected()
    await login(phone)
    svc = _service
    resp = svc.answer(svc.chars[P.COMMAND_UUID], b"\x63")  # command 99 raises in the double
    assert P.parse_response(resp)[0] == P.E_UNKNOWN_OP  # unknown ops never reach the app
    app.command = lambda code: 1 // 0
    assert P.parse_response(await phone.request(P.COMMAND_UUID, b"\x01"))[0] == P.E_INTERNAL
    assert svc.errors >= 1
    assert P.parse_response(await phone.request(P.HISTORY_UUID, b"\x00"))[0] == P.OK
    await bye(phone)


async def test_cells_and_history_pages():
    app, phone = await connected()
    await login(phone)
    cells = P.decode_cells(await phone.request(P.CELLS_UUID, b"\x00"))
    assert cells["total"] == 2 and len(cells["batteries"]) == 2
    assert cells["batteries"][1]["cell_mv"] == [3304, 3305, 3306, 3307]
    assert cells["batteries"][1]["temp_dc"] == 201
    pages = []
    for page in range(3):
        code, got, body = P.parse_response(await phone.request(P.HISTORY_UUID, bytes((page,))))
        assert code == P.OK and got == page and body[0] == (1 if page < 2 else 0)
        pages.append(body[1:])
    counters, events = P.decode_history(pages)
    assert counters["lvd"] == 2 and events == app.history.events()
    assert P.parse_response(await phone.request(P.HISTORY_UUID, b"\x03"))[0] == P.E_RANGE
    await bye(phone)


async def test_status_notify_throttled_and_small_mtu_empty():
    app, phone = await connected()
    phone.subscribe(P.STATUS_UUID)
    await login(phone)
    await asyncio.sleep_ms(150)
    first = phone.notifications(P.STATUS_UUID)
    assert len(first) == 1, first
    st = P.decode_status(first[0])
    assert st["min_cell_mv"] == 3301 and st["alt_ma"] == 45678 and st["sys_ma"] == -12345
    assert st["atc"] and not st["dsg_fet"] and st["prealarm_out"] and st["remote_on"]
    # changes faster than the throttle: still one notification per second at most
    for i in range(20):
        app.ctl.meas.alt_ma = 1000 + i
        await asyncio.sleep_ms(50)
    n = len(phone.notifications(P.STATUS_UUID))
    assert 2 <= n <= 3, n
    # unchanged data: no notifications
    await asyncio.sleep_ms(1100)
    n2 = len(phone.notifications(P.STATUS_UUID))
    await asyncio.sleep_ms(1100)
    assert len(phone.notifications(P.STATUS_UUID)) == n2
    assert P.decode_status(phone.read(P.STATUS_UUID))["alt_ma"] == 1019
    await bye(phone)
    # a phone that cannot go above MTU 23: the notification is empty ("read
    # it"), the read is whole
    app, phone = await connected(mtu=0, max_mtu=23)
    phone.subscribe(P.STATUS_UUID)
    await login(phone)
    await asyncio.sleep_ms(150)
    assert phone.notifications(P.STATUS_UUID) == [b""]
    assert len(phone.read(P.STATUS_UUID)) == P.STATUS_LEN
    await bye(phone)


async def test_lockout_grows_and_survives_reconnect():
    app, phone = await connected()
    for i in range(3):
        assert (await login(phone, "111111"))["code"] == P.E_BAD_PROOF
    r = await login(phone, "222222")
    assert r["code"] == P.E_BAD_PROOF and r["wait_s"] == 5 and r["failures"] == 4
    await bye(phone)
    await phone.connect_when_advertising()
    await asyncio.sleep_ms(5)
    r = P.decode_auth(await phone.request(P.AUTH_UUID, b"\x01"))
    assert r["code"] == P.E_LOCKED_OUT and r["nonce"] == b"" and r["wait_s"] == 5
    _clock[0] += 5000
    r = await login(phone, "333333")
    assert r["code"] == P.E_BAD_PROOF and r["wait_s"] == 10
    _clock[0] += 10000
    assert (await login(phone))["code"] == P.OK
    assert app.auth.failures == 0 and not app.auth.dirty
    assert app.auth_saves == 7  # every proof counted before it was checked, then the reset
    await bye(phone)


async def test_one_central_at_a_time():
    app, phone = await connected()
    await asyncio.sleep_ms(20)
    adv = bluetooth.BLE().advertising
    assert adv is None or not adv[3]  # still beaconing, but not connectable
    with_raises = False
    try:
        bluetooth.SimCentral(b"\x01\x02\x03\x04\x05\x06").connect()
    except OSError:
        with_raises = True
    assert with_raises
    await bye(phone)
    await asyncio.sleep_ms(20)
    assert bluetooth.BLE().advertising[3]  # connectable again


async def test_bad_readout_payload_and_status_fault_keep_service_up():
    app = App()
    app.adv_payload = lambda: (bytes(40), b"")  # longer than a legacy advertisement
    await start(app)
    errors = _service.errors
    for _ in range(30):  # the payload is rebuilt every second
        if _service.errors > errors:
            break
        await asyncio.sleep_ms(100)
    await asyncio.sleep_ms(20)
    seen = bluetooth.SimCentral().scan()
    assert seen["connectable"] and seen["name"] == "SmartBMS"  # the fallback payload
    assert _service.errors > errors
    app.adv_payload = lambda: (b"\x02\x01\x06\x03\xff\xe1\x02", b"")
    await asyncio.sleep_ms(1100)  # the payload is rebuilt every second
    assert bluetooth.SimCentral().scan()["manufacturer"] == [(0x02E1, b"")]

    def broken():
        raise ValueError("no data")
    app.status_bytes = broken
    app2, phone = await connected(app)
    assert (await login(phone))["code"] == P.OK
    await asyncio.sleep_ms(250)
    assert phone.read(P.STATUS_UUID) == b""
    assert P.parse_response(await phone.request(P.HISTORY_UUID, b"\x00"))[0] == P.OK
    await bye(phone)
    del app.adv_payload


async def test_a_central_that_never_logs_in_is_sent_away():
    await start()
    _service.login_grace_ms = 200
    try:
        app, phone = await connected()
        await asyncio.sleep_ms(300)
        assert not phone.connected() and _service.login_timeouts == 1
        await asyncio.sleep_ms(20)
        assert bluetooth.BLE().advertising[3]  # the slot is free again
        app, phone = await connected()  # the owner logs in in time and stays
        assert (await login(phone))["code"] == P.OK
        await asyncio.sleep_ms(300)
        assert phone.connected() and _service.login_timeouts == 1
        await bye(phone)
    finally:
        _service.login_grace_ms = 60000


async def test_any_readout_fault_falls_back_to_the_plain_advertisement():
    app = App()

    def broken():
        raise KeyError("readout")
    app.adv_payload = broken
    await start(app)
    errors = _service.errors
    await asyncio.sleep_ms(1100)  # the payload is rebuilt every second
    seen = bluetooth.SimCentral().scan()
    assert seen["connectable"] and seen["name"] == "SmartBMS"
    assert _service.errors > errors
    del app.adv_payload


async def test_the_device_asks_for_the_larger_mtu_when_the_phone_does_not():
    app, phone = await connected(mtu=0)  # its stack takes 517 but never asks
    assert bluetooth.BLE().config("mtu") == P.PREFERRED_MTU
    phone.subscribe(P.STATUS_UUID)
    # the exchange takes a round trip after the connection: on a loaded host
    # a fixed wait let the login's notification go out before it, at MTU 23
    for _ in range(200):
        if phone.conn.mtu != bluetooth._ATT_MTU_MIN:
            break
        await asyncio.sleep_ms(10)
    assert phone.conn.mtu == P.PREFERRED_MTU
    await login(phone)
    for _ in range(200):  # the session's first notification, within a poll of the notifier
        if phone.notifications(P.STATUS_UUID):
            break
        await asyncio.sleep_ms(10)
    await asyncio.sleep_ms(150)  # and no second one of the same bytes
    got = phone.notifications(P.STATUS_UUID)
    assert len(got) == 1 and P.decode_status(got[0])["alt_ma"] == app.ctl.meas.alt_ma
    await bye(phone)


async def request_at_23(phone, uuid, data):
    """A request at MTU 23: every notification is the whole answer or empty,
    never cut; the answer is read with Read Blob requests."""
    before = len(phone.notifications(uuid))
    resp = await phone.request(uuid, data)
    for note in phone.notifications(uuid)[before:]:
        assert note in (b"", resp), (data, note, resp)
    return resp


async def test_every_characteristic_works_at_mtu_23():
    app, phone = await connected(mtu=0, max_mtu=23)
    for uuid in (P.STATUS_UUID, P.AUTH_UUID, P.SETTINGS_UUID, P.COMMAND_UUID, P.CELLS_UUID,
                 P.HISTORY_UUID):
        phone.subscribe(uuid)
    await asyncio.sleep_ms(50)
    assert phone.conn.mtu == 23
    r = P.decode_auth(await request_at_23(phone, P.AUTH_UUID, b"\x01"))  # 22 bytes
    mac = A.proof("000000", P.PIN_LABEL, r["nonce"])
    assert P.decode_auth(await request_at_23(phone, P.AUTH_UUID, b"\x02" + mac))["authenticated"]
    # a settings page of up to 180 bytes, read in 22-byte parts
    values, nxt = {}, 0
    while True:
        v, nxt = P.decode_settings_page(await request_at_23(phone, P.SETTINGS_UUID, bytes((2, nxt))))
        values.update(v)
        if not nxt:
            break
    assert values == {k: v for k, v in app.settings.values().items() if k != "pin"}
    # writes longer than 20 bytes go in parts: a 20-character name, five settings at once
    for change in ({"device_name": "Van battery bank 123"},
                   {"battery_count": 3, "cell_ov_mv": 3700, "cell_prealarm_mv": 3150,
                    "uv_disconnect_delay_s": 90, "device_name": "Boat"}):
        writes = P.split_write(P.encode_set_request(change))
        assert len(writes) > 1 and all(len(w) <= 20 for w in writes)
        for w in writes[:-1]:
            assert P.parse_response(await request_at_23(phone, P.SETTINGS_UUID, w)) == (P.OK, P.SET_PART, b"")
        assert P.parse_response(await request_at_23(phone, P.SETTINGS_UUID, writes[-1]))[0] == P.OK
        assert {k: app.settings.values()[k] for k in change} == change
    # a refused write in parts changes nothing and names the value
    writes = P.split_write(P.encode_set_request({"device_name": "Long name of twenty", "cell_ov_mv": 9}))
    for w in writes[:-1]:
        await request_at_23(phone, P.SETTINGS_UUID, w)
    code, _op, payload = P.parse_response(await request_at_23(phone, P.SETTINGS_UUID, writes[-1]))
    assert code == P.E_RANGE and P.decode_set_errors(payload) == [("cell_ov_mv", P.E_RANGE)]
    assert app.settings.device_name == "Boat"
    cells = P.decode_cells(await request_at_23(phone, P.CELLS_UUID, b"\x00"))
    assert cells["batteries"][1]["cell_mv"] == [3304, 3305, 3306, 3307]
    pages = []
    for page in range(3):
        pages.append(P.parse_response(await request_at_23(phone, P.HISTORY_UUID, bytes((page,))))[2][1:])
    assert P.decode_history(pages)[1] == app.history.events()
    code, _op, key = P.parse_response(await request_at_23(phone, P.COMMAND_UUID, b"\x06"))
    assert key == app.auth.readout_key
    # the status: an empty notification, then a read in four parts
    await asyncio.sleep_ms(150)
    assert phone.notifications(P.STATUS_UUID)[-1:] == [b""]
    assert P.decode_status(await phone.read_long(P.STATUS_UUID))["sys_ma"] == -12345
    await bye(phone)


async def test_settings_parts_are_bounded_and_end_with_the_session():
    app, phone = await connected()
    await login(phone)
    part = bytes((P.SET_PART,)) + P.encode_set_request({"battery_count": 3})[1:]
    for _ in range(12):  # 12 x 5 bytes: the joined write is 61 bytes
        assert P.parse_response(await phone.request(P.SETTINGS_UUID, part))[0] == P.OK
    assert P.parse_response(await phone.request(P.SETTINGS_UUID, part))[0] == P.E_MALFORMED
    await bye(phone)
    await phone.connect_when_advertising()  # the service advertises again after its disconnect
    await asyncio.sleep_ms(5)
    await login(phone)
    await phone.request(P.SETTINGS_UUID, part)
    await bye(phone)  # a part left at the disconnect is dropped
    await phone.connect_when_advertising()
    await asyncio.sleep_ms(5)
    await login(phone)
    ok = P.encode_set_request({"cell_ov_mv": 3700})
    assert P.parse_response(await phone.request(P.SETTINGS_UUID, ok))[0] == P.OK
    assert app.settings.battery_count == 1 and app.settings.cell_ov_mv == 3700
    await bye(phone)


async def test_a_status_read_after_its_notification_is_never_torn():
    # at MTU 23 a status read takes four round trips; a read that spans a
    # change of the value gets parts of two values (the radio models that)
    app, phone = await connected(mtu=0, max_mtu=23)
    phone.subscribe(P.STATUS_UUID)
    await login(phone)
    await asyncio.sleep_ms(120)
    value = _service.status.read()
    task = asyncio.create_task(phone.read_long(P.STATUS_UUID))
    await asyncio.sleep_ms(20)
    _service.status.write(bytes(len(value)))
    torn = await task
    assert len(torn) == len(value) and torn[:22] == value[:22] and torn[-22:] == bytes(22)
    # the service changes the value at most once a second, right before its
    # notification: a read started on the notification ends long before the next
    seen = len(phone.notifications(P.STATUS_UUID))
    for i in range(3):
        app.ctl.meas.alt_ma = 2000 + i
        while len(phone.notifications(P.STATUS_UUID)) == seen:
            await asyncio.sleep_ms(5)
        seen = len(phone.notifications(P.STATUS_UUID))
        got = await phone.read_long(P.STATUS_UUID)
        assert got == _service.status.read() and P.decode_status(got)["alt_ma"] == 2000 + i
    await bye(phone)
