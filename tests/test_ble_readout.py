# micropython
# drivers/ble_readout.py on its own, then as the app's adv_payload() behind the
# real BLE service on the simulated radio, seen by a scanning phone.
import sys
import asyncio
import cryptolib
from boards.sim import bluetooth

sys.modules["bluetooth"] = bluetooth
from bms import client as P  # noqa: E402
from bms import auth as A  # noqa: E402
from bms import readout_frame as RF  # noqa: E402
from drivers.ble_readout import BleReadout  # noqa: E402
from bleapp_double import App  # noqa: E402
from readout_double import make_ctl, tick  # noqa: E402
from bms.measure import CH_ALL  # noqa: E402


def randoms(n):
    return bytes(range(0x40, 0x40 + n))


def rig():
    app = App()
    ctl = make_ctl(app.settings, bat_mv=13200, alt_ma=1000, sys_ma=-3000, seen=0)
    tick(ctl, 0)  # the controller has counted the SoC once
    ro = BleReadout(ctl, app.auth, randoms)
    return app, ctl, ro


def plaintext(mfr, key):
    out = bytearray(16)
    ctr = RF.AesCtr(cryptolib.aes(key, 1))
    ctr.start(bytes(mfr[5:7]) + bytes(14))
    ctr.crypt(bytes(mfr[8:]), out, 16)
    return out


def test_payload_carries_the_record_name_and_service():
    app, ctl, ro = rig()
    adv, resp = ro.payload()
    assert len(adv) == 31 and bytes(adv[:7]) == b"\x02\x01\x06\x1b\xff\xe1\x02"
    assert ro.readout.advert.nonce == 0x4140  # from the random bytes
    found = bluetooth.decode_adv(resp)
    assert found["name"] == "SmartBMS" and resp[1] == 0x09
    assert found["services"] == [bluetooth.UUID(P.SERVICE_UUID)]
    assert len(resp) <= 31
    assert plaintext(ro.readout.mfr, app.auth.readout_key) == ro.readout.plain


def test_long_name_is_shortened_beside_the_uuid():
    app, ctl, ro = rig()
    app.settings.update({"device_name": "A" * 20})
    _adv, resp = ro.payload()
    assert len(resp) == 31 and resp[1] == 0x08
    assert bluetooth.decode_adv(resp)["name"] == "A" * 11
    app.settings.update({"device_name": "A" * 11})
    assert ro.payload()[1][1] == 0x09


def test_flags_only_when_disabled_or_without_data():
    app, ctl, ro = rig()
    ctl.meas.stale = CH_ALL
    assert ro.payload()[0] == b"\x02\x01\x06"
    ctl.meas.stale = 0
    assert len(ro.payload()[0]) == 31
    app.settings.update({"readout_enabled": 0})
    adv, resp = ro.payload()
    assert adv == b"\x02\x01\x06" and bluetooth.decode_adv(resp)["name"] == "SmartBMS"


def test_new_key_after_pin_change_is_followed():
    app, ctl, ro = rig()
    adv, _resp = ro.payload()
    old = app.auth.readout_key
    assert adv[14] == old[0]
    app.auth.authenticated = True
    assert app.auth.change_pin("135790", bytes(range(100, 116)), app.save_auth) == P.OK
    adv, _resp = ro.payload()
    key = app.auth.readout_key
    assert adv[14] == (old[0] + 1) & 0xFF == key[0]
    assert plaintext(ro.readout.mfr, key) == ro.readout.plain


async def test_phone_sees_the_readout_and_the_key_renewed_by_a_pin_change():
    import aioble  # noqa: F401  (the stand-in, or the real one with AIOBLE_PATH)
    from drivers.ble_service import BleService

    app, ctl, ro = rig()
    app.adv_payload = ro.payload
    clock = [1000]
    service = BleService(app, clock=lambda: clock[0])
    task = asyncio.create_task(service.run())
    await asyncio.sleep_ms(20)
    seen = bluetooth.SimCentral().scan()
    assert seen["connectable"] and seen["name"] == "SmartBMS"
    assert bluetooth.UUID(P.SERVICE_UUID) in seen["services"]
    (company, data), = seen["manufacturer"]
    assert company == 0x02E1 and data[:5] == b"\x10\x02\xe8\xa3\x0a"
    key = app.auth.readout_key
    assert data[7] == key[0] and plaintext(data, key) == ro.readout.plain
    # new values reach the air within a second
    ctl.meas.sys_ma = -20000
    ctl.now_ms = 1000
    await asyncio.sleep_ms(1100)
    data2 = bluetooth.SimCentral().scan()["manufacturer"][0][1]
    assert data2[5:7] != data[5:7]
    assert plaintext(data2, key) == ro.readout.plain
    # a PIN change over the air renews the key with byte 0 stepped
    phone = bluetooth.SimCentral().connect()
    await asyncio.sleep_ms(5)
    phone.exchange_mtu(247)
    r = P.decode_auth(await phone.request(P.AUTH_UUID, b"\x01"))
    mac = A.proof("000000", P.PIN_LABEL, r["nonce"])
    assert P.decode_auth(await phone.request(P.AUTH_UUID, b"\x02" + mac))["code"] == P.OK
    assert P.parse_response(await phone.request(P.COMMAND_UUID, b"\x05246802"))[0] == P.OK
    new = app.auth.readout_key
    assert new[0] == (key[0] + 1) & 0xFF and new[1:] != key[1:]
    phone.disconnect()
    await asyncio.sleep_ms(1100)
    data3 = bluetooth.SimCentral().scan()["manufacturer"][0][1]
    assert data3[7] == new[0] and plaintext(data3, new) == ro.readout.plain
    task.cancel()
    await asyncio.sleep_ms(5)
