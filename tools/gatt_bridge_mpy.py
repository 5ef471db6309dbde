# MicroPython side of the GATT bridge (host side: tools/gatt_bridge.py).
# Runs the firmware on the simulated board in real time -- the control task,
# the plant, and the real BLE service (drivers/ble_service.py) on the
# simulated radio -- and acts as the phone: each JSON line on stdin becomes a
# SimCentral call; answers and notifications go out as JSON lines on stdout.
# Unlike boards/sim/ble_bridge.py (bmsctl: one request at a time, a test
# double app) the firmware runs between requests and notifications are pushed.
#   micropython tools/gatt_bridge_mpy.py [--scenario NAME] [--store DIR] [--mtu N]
import os
import sys
import json
import asyncio
import binascii

from boards.sim import bluetooth

sys.modules["bluetooth"] = bluetooth
import aioble  # noqa: E402,F401  (the stand-in, or the real one with AIOBLE_PATH)
import app as firmware_app  # noqa: E402
from boards.sim import runner  # noqa: E402
from boards.sim import scenario as SC  # noqa: E402
from boards.sim.clock import RealClock  # noqa: E402
from drivers.ble_service import BleService  # noqa: E402
from bms import protocol as P  # noqa: E402

_LONG_MS = 1000000000  # the bridge runs until stdin closes
_NOTIFY_POLL_MS = 10


def _out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")


def _hex(b):
    return binascii.hexlify(bytes(b)).decode()


_SIG_BASE = "-0000-1000-8000-00805f9b34fb"


def _uuid(text):
    """A characteristic UUID as the radio registered it: the Bluetooth SIG
    ones (0000xxxx-0000-1000-8000-00805f9b34fb) are 16-bit."""
    if text.startswith("0000") and text.endswith(_SIG_BASE):
        return bluetooth.UUID(int(text[4:8], 16))
    return bluetooth.UUID(text)


def advert(seen):
    """What a scan sees (SimCentral.scan()) as JSON: name, services, manufacturer data."""
    if seen is None:
        return None
    return {"name": seen.get("name"), "connectable": seen["connectable"],
            "services": [str(u) for u in seen["services"]],
            "manufacturer": [[cid, _hex(d)] for cid, d in seen["manufacturer"]],
            "adv_data": _hex(seen["adv_data"]), "resp_data": _hex(seen["resp_data"])}


class Bridge:
    def __init__(self, scenario, store_dir, mtu):
        scn = SC.load(scenario)
        self.run = runner.Run(scn, RealClock(), _LONG_MS, None, 1000, store_dir)
        self.app = firmware_app.App(self.run.board, self.run.clock.ticks_ms)
        errors = self.app.settings.update(scn.settings)
        if errors:
            raise SC.ScenarioError("settings: " + errors[0][2])
        self.ble = self.app.ble  # the App's Bluetooth seam
        self.app.start_readout()
        self.service = BleService(self.ble, clock=self.run.clock.ticks_ms)
        self.mtu = mtu
        self.phone = None
        self.seen = 0  # notifications already forwarded
        self.uuids = {}

    def _uuid_of(self, handle):
        if not self.uuids:
            for u in (P.STATUS_UUID, P.CELLS_UUID, P.SETTINGS_UUID, P.COMMAND_UUID, P.HISTORY_UUID,
                      P.AUTH_UUID):
                self.uuids[self.phone.handle(u)] = u
        return self.uuids.get(handle, "handle %d" % handle)

    async def op(self, msg):
        op = msg["op"]
        if op == "ready":
            return {}
        if op == "connect":
            # a connection attempt from the browser is a new link: the old one is over
            if self.phone is not None and self.phone.connected():
                self.phone.disconnect()
                await asyncio.sleep_ms(5)
            self.phone = await bluetooth.SimCentral(max_mtu=self.mtu).connect_when_advertising()
            self.seen = 0
            await asyncio.sleep_ms(5)
            self.phone.exchange_mtu(self.mtu)
            return {"name": self.ble.settings.device_name}
        if op == "disconnect":
            if self.phone is not None:
                self.phone.disconnect()
                self.phone = None
            await asyncio.sleep_ms(5)
            return {}
        if op == "event":
            SC.apply(self.run.board, msg["kind"], msg["arg"])
            return {}
        if op == "scan":
            return {"adv": advert(bluetooth.SimCentral().scan())}
        if self.phone is None or not self.phone.connected():
            raise OSError("not connected")
        uuid = _uuid(msg["uuid"])
        if op == "read":
            return {"data": _hex(self.phone.read(uuid))}
        if op == "write":
            data = binascii.unhexlify(msg["data"])
            # A request characteristic answers in its value: return once the
            # service has written the answer, as a phone's next read expects.
            await self.phone.request(uuid, data)
            return {}
        if op == "subscribe":
            self.phone.subscribe(uuid)
            return {}
        raise ValueError("unknown op " + op)

    async def commands(self):
        reader = asyncio.StreamReader(sys.stdin)
        while True:
            line = await reader.readline()
            if not line:
                break
            msg = json.loads(line)
            try:
                reply = await self.op(msg)
                reply["ok"] = True
            except Exception as e:
                reply = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
            reply["id"] = msg.get("id")
            _out(reply)

    async def notifications(self):
        while True:
            await asyncio.sleep_ms(_NOTIFY_POLL_MS)
            phone = self.phone
            if phone is None:
                continue
            while self.seen < len(phone.notified):
                h, value = phone.notified[self.seen]
                self.seen += 1
                _out({"event": "notify", "uuid": self._uuid_of(h), "data": _hex(value)})

    async def _watch(self, name, coro):
        # a task that dies says why on stderr (the host shows it with the next error)
        try:
            await coro
        except Exception as e:
            sys.stderr.write("gatt bridge: %s task failed\n" % name)
            sys.print_exception(e, sys.stderr)

    async def main(self):
        asyncio.create_task(self._watch("plant", runner._plant_task(self.run, self.app, _LONG_MS)))
        asyncio.create_task(self._watch("control", self.app.control()))
        asyncio.create_task(self._watch("ble service", self.service.run()))
        asyncio.create_task(self.notifications())
        await self.commands()
        self.app.running = False


def _args(argv):
    opts = {"scenario": "idle", "store": "/tmp/bms-web-bridge", "mtu": "247"}
    for i in range(0, len(argv) - 1, 2):
        opts[argv[i][2:]] = argv[i + 1]
    return opts


def main(argv):
    o = _args(argv)
    asyncio.run(Bridge(o["scenario"], o["store"], int(o["mtu"])).main())


main(sys.argv[1:])
