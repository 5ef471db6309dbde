# The firmware's asyncio application: one control task on absolute deadlines
# (the only place the watchdog is fed), a persistence task, and the Bluetooth
# tasks when aioble is present. Safety never waits for Bluetooth.
import asyncio
import time

from bms.settings import Settings
from bms.controller import Controller, CONTROL_PERIOD_MS
from bms.history import History
from bms import ticks

_MAX_FAULTY_TICKS = 20  # then stop feeding the watchdog: a reset is safer

current = None  # the running App, for the bench module at the REPL


def clock_ms():
    # the stubs type ticks_ms() as an opaque _TicksMs; on every port it is a small int
    return time.ticks_ms() & ticks.MASK  # type: ignore[operator]


class App:
    """What the Bluetooth service and the bench module talk to."""

    def __init__(self, hw, clock=clock_ms):
        self.hw = hw
        self.clock = clock
        self.settings = Settings()
        self.history = History()
        self.controller = Controller(self.settings, hw, self.history)
        self.overruns = 0
        self.faults = 0
        self.last_fault = None
        self.running = True

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
                ctl.tick(clock())
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


async def main(hw, clock=clock_ms, app=None):
    global current
    app = app if app is not None else App(hw, clock)
    current = app
    await app.control()
