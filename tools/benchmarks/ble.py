# Heap the BLE part takes: aioble (the stand-in, or the real one on
# AIOBLE_PATH), the simulated radio's GATT database, the service and a served,
# authenticated connection. Prints one JSON line: {"ble_heap_bytes": n}.
# usage: micropython tools/benchmarks/ble.py [--quick]
import sys
import gc
import json
import asyncio
import time

gc.collect()
base = gc.mem_alloc()
from boards.sim import bluetooth  # noqa: E402

sys.modules["bluetooth"] = bluetooth
from bms import client as P  # noqa: E402
from bms import auth as A  # noqa: E402
from bms.settings import Settings  # noqa: E402

gc.collect()
app_base = gc.mem_alloc()  # what the firmware has loaded anyway: not counted
import aioble  # noqa: E402
from drivers.ble_service import BleService  # noqa: E402


class _App:
    def __init__(self):
        self.settings = Settings()
        self.auth = A.Auth(self.settings, "12345678", bytes(16))
        self.clock = time.ticks_ms

    def status_bytes(self):
        return bytes(P.STATUS_LEN)

    def cells_bytes(self, first):
        return P.response(P.E_RANGE, first)

    def history_page(self, page):
        return None

    def save_auth(self):
        self.auth.dirty = False
        return True

    def apply_settings(self, changes):
        return self.settings.update(changes)

    def command(self, code):
        return P.OK


async def measure(rounds):
    service = BleService(_App())
    task = asyncio.create_task(service.run())
    worst = 0
    for _ in range(rounds):
        await asyncio.sleep_ms(20)
        phone = bluetooth.SimCentral().connect()
        phone.exchange_mtu(247)
        phone.subscribe(P.STATUS_UUID)
        r = P.decode_auth(await phone.request(P.AUTH_UUID, b"\x01"))
        await phone.request(P.AUTH_UUID, b"\x02" + A.proof("000000", P.PIN_LABEL, r["nonce"]))
        await phone.request(P.SETTINGS_UUID, b"\x02\x00")
        await asyncio.sleep_ms(150)
        phone.disconnect()
        del phone, r
        gc.collect()
        worst = max(worst, gc.mem_alloc() - app_base)
    task.cancel()
    return worst


quick = "--quick" in sys.argv
heap = asyncio.run(measure(2 if quick else 5))
print(json.dumps({"ble_heap_bytes": heap}))
