# micropython
# The firmware App on the simulated board behind the real BLE service on the
# simulated radio: the service runs on the app's clock, secrets the flash
# refuses are never answered OK, a guess the flash cannot count is never
# checked, and the owner's remote toggle lets them past a stranger's lockout.
import sys
import asyncio
from boards.sim import bluetooth

sys.modules["bluetooth"] = bluetooth
import aioble  # noqa: E402,F401  (the stand-in, or the real one with AIOBLE_PATH)
import app as firmware_app  # noqa: E402
from boards.sim import runner  # noqa: E402
from boards.sim import scenario as SC  # noqa: E402
from boards.sim.clock import RealClock  # noqa: E402
from bms import client as P  # noqa: E402
from bms import auth as A  # noqa: E402
from bms import ticks  # noqa: E402
from bms.measure import CH_REMOTE_L, CH_REMOTE_H  # noqa: E402
from drivers.ble_service import BleService  # noqa: E402
from drivers.storage import Store  # noqa: E402
from memfs import MemFs  # noqa: E402

_service = None
_tasks = []


class FarClock(RealClock):
    """The board's clock in real time, half a tick period away from
    time.ticks_ms(): a part that reads the wrong clock shows at once."""

    def ticks_ms(self):
        return (RealClock.ticks_ms(self) + (1 << 28)) & ticks.MASK


def rand(n):
    return bytes((i * 37 + 11) % 250 for i in range(n))


def boot(fs):
    clock = FarClock()
    run = runner.Run(SC.load("idle"), clock, 10 ** 9, None, 1000, "/tmp/bms-ble-app-test")
    run.board.store = Store("", fs)
    app = firmware_app.App(run.board, clock.ticks_ms, rand)
    assert app.settings.update(run.scn.settings) == []
    return app, run


async def plant(run):
    last = run.clock.ticks_ms()
    while True:
        await asyncio.sleep_ms(5)
        now = run.clock.ticks_ms()
        while ticks.diff(now, last) >= runner.TICK_MS:
            run.board.step(runner.TICK_MS)
            last = ticks.add(last, runner.TICK_MS)


async def serve(fs):
    """A booted app: its control and persistence tasks, the plant, and the
    one BLE service of this process (aioble registers services once)."""
    global _service
    for t in _tasks:
        t.cancel()
    del _tasks[:]
    for left in list(bluetooth.BLE().centrals.values()):  # a failed test's phone
        left.disconnect()
    app, run = boot(fs)
    if _service is None:
        _service = BleService(app.ble, rand)  # no clock given: the app's
        asyncio.create_task(_service.run())
    else:
        _service.seam = app.ble
    _tasks.extend((asyncio.create_task(app.control()), asyncio.create_task(app.persistence.run()),
                   asyncio.create_task(plant(run))))
    phone = await bluetooth.SimCentral().connect_when_advertising()
    await asyncio.sleep_ms(5)
    phone.exchange_mtu(247)
    return app, run, phone


async def hello(phone):
    return P.decode_auth(await phone.request(P.AUTH_UUID, b"\x01"))


async def login(phone, secret="000000", op=P.AUTH_PIN, label=P.PIN_LABEL):
    r = await hello(phone)
    if r["code"]:
        return r
    mac = A.proof(secret, label, r["nonce"])
    return P.decode_auth(await phone.request(P.AUTH_UUID, bytes((op,)) + mac))


async def command(phone, data):
    return P.parse_response(await phone.request(P.COMMAND_UUID, data))[0]


async def until(cond, ms=5000):
    for _ in range(ms // 10):
        if cond():
            return
        await asyncio.sleep_ms(10)
    raise AssertionError("condition not met in %d ms" % ms)


async def bye(phone):
    phone.disconnect()
    await asyncio.sleep_ms(20)


async def test_a_lockout_cannot_be_skipped_on_the_simulated_board():
    fs = MemFs()
    app, run, phone = await serve(fs)
    for _ in range(4):
        r = await login(phone, "111111")
    assert r["code"] == P.E_BAD_PROOF and r["wait_s"] == 5
    app.auth.expire(app.clock())  # what the persistence task does every second
    r = await hello(phone)
    assert r["code"] == P.E_LOCKED_OUT and r["wait_s"] >= 1, r
    await bye(phone)


async def test_a_pin_change_the_flash_refuses_is_answered_with_an_error():
    fs = MemFs()
    app, run, phone = await serve(fs)
    assert (await login(phone))["code"] == P.OK
    fs.full = True
    assert await command(phone, b"\x05123456") == P.E_INTERNAL
    assert app.settings.pin == "000000"
    fs.full = False
    await bye(phone)
    app, run, phone = await serve(fs)  # a reboot: the PIN the phone was told
    assert (await login(phone, "123456"))["code"] == P.E_BAD_PROOF
    assert (await login(phone))["code"] == P.OK
    assert await command(phone, b"\x05123456") == P.OK
    await bye(phone)
    app, run, phone = await serve(fs)
    assert (await login(phone, "123456"))["code"] == P.OK
    await bye(phone)


async def test_a_puk_reset_the_flash_refuses_is_answered_with_an_error():
    fs = MemFs()
    app, run, phone = await serve(fs)
    assert (await login(phone))["code"] == P.OK
    assert await command(phone, b"\x05246810") == P.OK
    puk, key = app.auth.puk, app.auth.readout_key
    await bye(phone)
    await phone.connect_when_advertising()
    await asyncio.sleep_ms(5)
    fs.full = True
    app.auth.owner_present(app.clock())  # in the window a proof is checked though not counted
    r = await login(phone, puk, P.AUTH_PUK, P.PUK_LABEL)
    assert r["code"] == P.E_INTERNAL and not r["authenticated"]
    assert app.settings.pin == "246810" and app.auth.readout_key == key
    fs.full = False
    await bye(phone)
    app, run, phone = await serve(fs)
    assert (await login(phone, "246810"))["code"] == P.OK
    await bye(phone)


async def test_a_reboot_never_forgets_a_guess_the_flash_refused():
    fs = MemFs()
    app, run, phone = await serve(fs)
    checked = 0
    for _ in range(4):
        checked += (await login(phone, "111111"))["code"] == P.E_BAD_PROOF
    fs.full = True  # the flash dies
    await asyncio.sleep_ms(5100)  # the stranger waits out the lockout
    for _ in range(3):
        r = await login(phone, "222222")
        checked += r["code"] == P.E_BAD_PROOF
    assert r["code"] == P.E_INTERNAL  # cannot be counted: not checked
    await bye(phone)
    fs.full = False
    app, run, phone = await serve(fs)  # a reboot
    assert app.auth.failures >= checked == 4
    assert (await hello(phone))["code"] == P.E_LOCKED_OUT
    await bye(phone)


async def test_the_owner_gets_past_a_strangers_lockout_by_toggling_the_remote():
    fs = MemFs()
    app, run, phone = await serve(fs)
    await until(lambda: app.controller.remote.on)  # bridged: on after its debounce
    for _ in range(8):  # a stranger: locked out for 80 s now
        await login(phone, "999999")
    await bye(phone)
    await phone.connect_when_advertising()
    await asyncio.sleep_ms(5)
    assert (await hello(phone))["code"] == P.E_LOCKED_OUT
    run.board.plant.set_remote("open")
    await until(lambda: not app.controller.remote.on)
    run.board.plant.set_remote("bridged")
    await until(lambda: app.controller.remote.on)
    await asyncio.sleep_ms(30)  # the control task has passed it on
    r = await login(phone)
    assert r["code"] == P.OK and r["failures"] == 0
    await bye(phone)


async def test_a_remote_adc_that_goes_dead_and_back_is_not_the_owners_toggle():
    # the remote keeps its mode while its terminals are stale (bms/remote.py),
    # so a dead ADC coming back never reads as off, then on
    fs = MemFs()
    app, run, phone = await serve(fs)
    await until(lambda: app.controller.remote.on)
    for _ in range(8):
        await login(phone, "999999")
    await bye(phone)
    await phone.connect_when_advertising()
    await asyncio.sleep_ms(5)
    assert (await hello(phone))["code"] == P.E_LOCKED_OUT
    run.board.sense.stale = CH_REMOTE_L | CH_REMOTE_H  # the remote's ADC dies
    run.board.plant.set_remote("open")  # and misses what happens meanwhile
    await until(lambda: app.controller.meas.stale)
    await asyncio.sleep_ms(300)
    assert app.controller.remote.on
    run.board.plant.set_remote("bridged")
    run.board.sense.stale = 0  # back, reading the remote on as before
    await until(lambda: not app.controller.meas.stale)
    await asyncio.sleep_ms(300)
    assert app.controller.remote.on
    r = await hello(phone)
    assert r["code"] == P.E_LOCKED_OUT, r
    await bye(phone)
