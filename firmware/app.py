# The firmware's asyncio application and its composition root: one control
# task on absolute deadlines (the only place the watchdog is fed), the
# persistence task (persist.py), and the Bluetooth tasks when the port has
# them, serving the seam of ble_seam.py. Safety never waits for Bluetooth:
# the BLE tasks only read the controller's state between ticks and change
# settings through the same validation as everything else.
import asyncio
import gc
import os
import time

from micropython import const

from bms.settings import Settings
from bms.controller import Controller, CONTROL_PERIOD_MS
from bms import ticks
from ble_seam import BleSeam
from persist import Persistence

_MAX_FAULTY_TICKS = 20  # then stop feeding the watchdog: a reset is safer
# The heap is collected right after a tick, when less than a quarter of it is
# free (looked at every tenth tick): the pause falls in the slack before the
# next deadline, and the BLE and persistence tasks seldom run the heap dry, so
# the collector's own trigger (at any moment, e.g. just before a deadline) is
# rare. A full heap takes as long to collect as a tidy one: collecting more
# often would only pause more often.
_GC_CHECK_TICKS = const(10)


def clock_ms():
    # the stubs type ticks_ms() as an opaque _TicksMs; on every port it is a small int
    return time.ticks_ms() & ticks.MASK  # type: ignore[operator]


class App:
    """The composition root: settings, the flash-backed state (persist.py),
    the controller and the Bluetooth seam (ble_seam.py), and the tasks that
    run them."""

    def __init__(self, hw, clock=clock_ms, rand=os.urandom, restartable=False):
        self.hw = hw
        self.clock = clock
        self.rand = rand
        self.restartable = restartable  # main.py resets the board after a restart command
        self.settings = Settings()
        self.persistence = Persistence(hw.store, self.settings, clock, rand)
        self.auth = self.persistence.auth
        self.history = self.persistence.history
        self.problems = self.persistence.problems  # what the boot had to work around
        if self.persistence.first_boot:  # the USB console is the owner's; the air is not
            if self.persistence.secrets_stored:
                print("BMS: new PUK %s - keep it, it resets a forgotten PIN" % self.auth.puk)
            else:
                print("BMS: new PUK %s - NOT stored (flash refused): good until a restart"
                      % self.auth.puk)
        self.controller = Controller(self.settings, hw, self.history)
        self.ble = BleSeam(self.settings, self.auth, clock, self.controller, self.history,
                           self.persistence, self.restart)
        self.overruns = 0
        self.tick_us = 0  # cost of the last control tick, and the largest since boot:
        self.tick_us_max = 0  # the board's own figure against CONTROL_PERIOD_MS
        self.gc_reserve = (gc.mem_free() + gc.mem_alloc()) // 4  # free bytes below which it collects
        self.gc_runs = 0  # collections between ticks since boot, the last one's pause and the longest
        self.gc_us = 0
        self.gc_us_max = 0
        self.faults = 0
        self.last_fault = None
        self.running = True
        self.restart_requested = False

    def restart(self):
        """The restart command: the control task opens everything and ends,
        then main.py resets the board. False where nothing would reset it."""
        if not self.restartable:
            return False
        self.restart_requested = True
        self.running = False
        return True

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
        return ble_service.run(self.ble)

    def start_readout(self):
        """Instant Readout (advertised by the BLE service through the seam's adv_payload)."""
        from drivers.ble_readout import BleReadout

        self.ble.readout = BleReadout(self.controller, self.auth, self.rand)

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
        remote_on = False
        gc_in = _GC_CHECK_TICKS
        while self.running:
            try:
                t0 = time.ticks_us()
                ctl.tick(clock())
                if ctl.remote.on is not remote_on:  # off, then on: the owner's login window
                    remote_on = ctl.remote.on
                    self.auth.remote(remote_on, clock())
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
            gc_in -= 1
            if gc_in <= 0:
                gc_in = _GC_CHECK_TICKS
                if gc.mem_free() < self.gc_reserve:
                    self._collect()
            nxt = ticks.add(nxt, CONTROL_PERIOD_MS)
            delay = ticks.diff(nxt, clock())
            if delay < 0:
                self.overruns += 1
                nxt = clock()
                delay = 0
            await asyncio.sleep_ms(delay)

    def _collect(self):
        t0 = time.ticks_us()
        gc.collect()
        us = time.ticks_diff(time.ticks_us(), t0)
        self.gc_runs += 1
        self.gc_us = us
        if us > self.gc_us_max:
            self.gc_us_max = us


async def main(hw, clock=clock_ms, app=None, bluetooth=True):
    """Run until the control task ends (a restart command); returns the App."""
    app = app if app is not None else App(hw, clock)
    tasks = [asyncio.create_task(app.persistence.run())]
    ble = app.bluetooth() if bluetooth else None
    if ble is not None:
        tasks.append(asyncio.create_task(ble))
    try:
        await app.control()
    finally:
        for t in tasks:
            t.cancel()
        if app.history.dirty:
            app.persistence.save_history()
    return app
