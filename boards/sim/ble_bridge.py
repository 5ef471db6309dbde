# The simulated board's radio behind a pipe: runs the BLE service on the
# simulated `bluetooth` module inside MicroPython and lets a host tool act as
# the phone over JSON lines on stdin/stdout (tools/bmsctl.py --sim).
#
# usage: micropython boards/sim/ble_bridge.py MODULE
#   MODULE.make_app() returns what the service serves: the seam of
#   drivers/ble_service.py (the firmware's app.ble, or a test double).
# Requests (one JSON object per line) and their answers:
#   {"op": "scan"}                        {"ok": true, "adv": {...}} or {"ok": true, "adv": null}
#   {"op": "connect", "mtu": 247}         {"ok": true, "mtu": n}  (mtu: the most the phone takes)
#   {"op": "disconnect"}                  {"ok": true}
#   {"op": "read", "uuid": U}             {"ok": true, "data": HEX}
#   {"op": "write", "uuid": U, "data": HEX}     {"ok": true}
#   {"op": "request", "uuid": U, "data": HEX}   {"ok": true, "data": HEX}  (write, await answer)
#   {"op": "subscribe", "uuid": U}        {"ok": true}
#   {"op": "notifications", "uuid": U}    {"ok": true, "data": [HEX, ...]}  (and forgets them)
#   {"op": "wait", "ms": n}               {"ok": true}  (lets the firmware run)
# Failures answer {"ok": false, "error": "..."}; the bridge keeps running.
# Lines that are not JSON objects (the simulator's own status output) are not
# answers: readers skip them.
import sys
import json
import asyncio
from binascii import hexlify, unhexlify

from boards.sim import bluetooth

sys.modules["bluetooth"] = bluetooth
from drivers.ble_service import BleService  # noqa: E402


def _hex(b):
    return hexlify(bytes(b)).decode()


def _uuid(text):
    """Bluetooth SIG UUIDs (0000xxxx-0000-1000-8000-00805f9b34fb) are 16-bit on the radio."""
    if text.startswith("0000") and text.endswith("-0000-1000-8000-00805f9b34fb"):
        return bluetooth.UUID(int(text[4:8], 16))
    return bluetooth.UUID(text)


async def _handle(phone, req):
    op = req["op"]
    if op == "scan":
        adv = phone.scan()
        if adv is not None:
            adv = {"name": adv.get("name"), "connectable": adv["connectable"],
                   "services": [str(u) for u in adv["services"]],
                   "manufacturer": [[cid, _hex(d)] for cid, d in adv["manufacturer"]],
                   "adv_data": _hex(adv["adv_data"]), "resp_data": _hex(adv["resp_data"])}
        return {"adv": adv}
    if op == "connect":
        phone.max_mtu = req.get("mtu", 247)
        await phone.connect_when_advertising()
        await asyncio.sleep_ms(10)
        return {"mtu": phone.exchange_mtu(req.get("mtu", 247))}
    if op == "disconnect":
        phone.disconnect()
        await asyncio.sleep_ms(10)
        return {}
    if op == "read":
        return {"data": _hex(phone.read(_uuid(req["uuid"])))}
    if op == "write":
        phone.write(req["uuid"], unhexlify(req["data"]))
        await asyncio.sleep_ms(5)
        return {}
    if op == "request":
        return {"data": _hex(await phone.request(req["uuid"], unhexlify(req["data"])))}
    if op == "subscribe":
        phone.subscribe(req["uuid"])
        return {}
    if op == "notifications":
        h = phone.handle(req["uuid"])
        got = [_hex(v) for (hh, v) in phone.notified if hh == h]
        phone.notified = [n for n in phone.notified if n[0] != h]
        return {"data": got}
    if op == "wait":
        await asyncio.sleep_ms(req["ms"])
        return {}
    raise ValueError("unknown op " + op)


async def main(module):
    __import__(module)
    seam = sys.modules[module].make_app()
    service = BleService(seam)
    asyncio.create_task(service.run())
    await asyncio.sleep_ms(20)
    phone = bluetooth.SimCentral()
    out = sys.stdout
    out.write(json.dumps({"ok": True, "ready": True}) + "\n")
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        try:
            ans = await _handle(phone, json.loads(line))
            ans["ok"] = True
        except Exception as e:
            ans = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        out.write(json.dumps(ans) + "\n")
        if hasattr(out, "flush"):
            out.flush()


asyncio.run(main(sys.argv[1]))
