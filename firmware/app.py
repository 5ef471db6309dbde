# The firmware's asyncio application: one control task on absolute deadlines
# (the only place the watchdog is fed), a persistence task, and the Bluetooth
# tasks when the port has them. Safety never waits for Bluetooth: the BLE
# tasks only read the controller's state between ticks and change settings
# through the same validation as everything else.
import asyncio
import os
import time

from bms.settings import Settings
from bms.controller import Controller, CONTROL_PERIOD_MS
from bms.history import History
from bms.auth import Auth
from bms.undervoltage import LOW_POWER
from bms import protocol as P
from bms import settingsfile
from bms import ticks

SETTINGS_FILE = "settings.bin"
HISTORY_FILE = "history.bin"
_MAX_FAULTY_TICKS = 20  # then stop feeding the watchdog: a reset is safer
_PERSIST_MS = 1000  # how often the persistence task looks for changes

current = None  # the running App, for the bench module at the REPL


def clock_ms():
    # the stubs type ticks_ms() as an opaque _TicksMs; on every port it is a small int
    return time.ticks_ms() & ticks.MASK  # type: ignore[operator]


class App:
    """The firmware: settings, secrets, history, controller, and the seam the
    Bluetooth service (drivers/ble_service.py) and the bench module use."""

    def __init__(self, hw, clock=clock_ms, rand=os.urandom, restartable=False):
        self.hw = hw
        self.clock = clock
        self.rand = rand
        self.restartable = restartable  # main.py resets the board after a restart command
        self.store = hw.store
        self.settings = Settings()
        values, secrets, self.problems = settingsfile.load(self.store.read(SETTINGS_FILE), rand)
        errors = self.settings.update(values)
        if errors:  # load() checked every rule: only a schema change gets here
            self.problems.append("stored settings refused: " + errors[0][2])
        self.auth = Auth(self.settings, secrets["puk"], secrets["readout_key"], secrets["failures"])
        self.first_boot = "new" in secrets
        if self.first_boot:  # the USB console is the owner's; the air is not
            print("BMS: new PUK %s - keep it, it resets a forgotten PIN" % self.auth.puk)
        self.history = History()
        blob = self.store.read(HISTORY_FILE)
        if blob is not None and not self.history.from_bytes(blob):
            self.problems.append("history file corrupt: counters start from zero")
        self.save_settings()  # first boot or a repaired file: secrets persist now
        self.controller = Controller(self.settings, hw, self.history)
        self.readout = None  # Instant Readout, made when Bluetooth starts
        self.overruns = 0
        self.tick_us = 0  # cost of the last control tick, and the largest since boot:
        self.tick_us_max = 0  # the board's own figure against CONTROL_PERIOD_MS
        self.faults = 0
        self.last_fault = None
        self.running = True
        self.restart_requested = False

    # -- persistence ----------------------------------------------------------
    def save_settings(self):
        """Settings and secrets to flash (the store skips unchanged bytes);
        False when the flash refused them: auth stays dirty, so the
        persistence task tries again."""
        ok = self.store.write(SETTINGS_FILE, settingsfile.snapshot(self.settings, self.auth))
        self.auth.dirty = not ok
        return ok

    def save_history(self):
        ok = self.store.write(HISTORY_FILE, self.history.to_bytes())
        if ok:
            self.history.saved(self.clock())
        return ok

    async def persist(self):
        """History when its policy asks (important events, else every few
        minutes), secrets when auth changed (again after a failed write);
        never from the control task."""
        while True:
            await asyncio.sleep_ms(_PERSIST_MS)
            self.auth.expire(self.clock())
            if self.auth.dirty:
                self.save_settings()
            if self.history.dirty:
                self.save_history()

    # -- the Bluetooth seam (docs/ble-protocol.md) ----------------------------
    def status_bytes(self):
        return P.encode_status(self.controller)

    def cells_bytes(self, first):
        return P.encode_cells(self.controller.pack, first)

    def history_page(self, page):
        return P.encode_history_page(self.history, page)

    def apply_settings(self, changes):
        """Settings.update, then flash; a change the flash refuses is undone
        (E_INTERNAL), so what the phone is told matches what a reboot keeps."""
        old = self.settings.values()
        errors = self.settings.update(changes)
        if errors or self.save_settings():
            return errors
        self.settings.update({n: old[n] for n in changes})
        first = list(changes)[:1] or [""]
        return [(first[0], P.E_INTERNAL, "settings not stored (flash write failed); unchanged")]

    def save_auth(self):
        self.save_settings()

    def command(self, code):
        prot = self.controller.protection
        if code == P.CMD_CLEAR_ALARMS:
            prot.clear_alarms()
        elif code == P.CMD_CLEAR_HISTORY:
            self.history.clear()
            self.save_history()
        elif code == P.CMD_WAKE:
            if prot.uv.state != LOW_POWER:
                return P.E_REFUSED
            prot.wake()
        elif code == P.CMD_RESTART:
            if not self.restartable:
                return P.E_REFUSED
            self.restart_requested = True
            self.running = False  # the control task opens everything and ends
        else:
            return P.E_UNKNOWN_OP
        return P.OK

    def adv_payload(self):
        if self.readout is None:
            return None
        return self.readout.payload()

    def bluetooth(self):
        """The BLE coroutine, or None on a port without Bluetooth or aioble."""
        try:
            import bluetooth  # noqa: F401
            import aioble  # noqa: F401
        except ImportError as e:  # ESP32 without aioble installed, or the unix port
            self.problems.append("Bluetooth off: " + str(e))
            return None
        from drivers import ble_service

        self.start_readout()
        return ble_service.run(self)

    def start_readout(self):
        """Instant Readout (advertised by the BLE service through adv_payload)."""
        from drivers.ble_readout import BleReadout

        self.readout = BleReadout(self.controller, self.auth, self.rand)

    # -- control ----------------------------------------------------------------
    async def control(self):
        try:
            await self._loop()
        finally:  # cancelled or stopped: open everything
            self.controller.safe_outputs()

    async def _loop(self):
        ctl = self.controller
        clock = self.clock
        nxt = clock()
        faulty = 0
        while self.running:
            try:
                t0 = time.ticks_us()
                ctl.tick(clock())
                us = time.ticks_diff(time.ticks_us(), t0)
                self.tick_us = us
                if us > self.tick_us_max:
                    self.tick_us_max = us
                faulty = 0
            except Exception as e:  # never leave a gate on after a logic fault
                ctl.safe_outputs()
                self.faults += 1
                self.last_fault = repr(e)
                faulty += 1
                if faulty < _MAX_FAULTY_TICKS:
                    self.hw.wdt.feed()
            nxt = ticks.add(nxt, CONTROL_PERIOD_MS)
            delay = ticks.diff(nxt, clock())
            if delay < 0:
                self.overruns += 1
                nxt = clock()
                delay = 0
            await asyncio.sleep_ms(delay)


async def main(hw, clock=clock_ms, app=None, bluetooth=True):
    """Run until the control task ends (a restart command); returns the App."""
    global current
    app = app if app is not None else App(hw, clock)
    current = app
    tasks = [asyncio.create_task(app.persist())]
    ble = app.bluetooth() if bluetooth else None
    if ble is not None:
        tasks.append(asyncio.create_task(ble))
    try:
        await app.control()
    finally:
        for t in tasks:
            t.cancel()
        if app.history.dirty:
            app.save_history()
    return app
