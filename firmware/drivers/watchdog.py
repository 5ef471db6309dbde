# Hardware watchdog. The boards build it unarmed; main.py arms it once it
# knows the boot is a normal one (maintenance mode leaves it off: a watchdog
# cannot be stopped once armed, on the ESP32 nor on the rp2 port). From then
# on only the control task feeds it: a stuck boot or control task resets the
# board, and the gates come back up in their safe state. The simulated board's
# watchdog (boards/sim/hw.py) is this one with a feed log for the plant.
TIMEOUT_MS = 5000  # the rp2 port accepts at most 8388 ms


class Watchdog:
    def __init__(self, timeout_ms=TIMEOUT_MS):
        self.timeout_ms = timeout_ms
        self._wdt = None

    def arm(self):
        if self._wdt is None:
            from machine import WDT  # the board's (on the virtual board, its own)

            self._wdt = WDT(timeout=self.timeout_ms)

    @property
    def armed(self):
        return self._wdt is not None

    def feed(self):
        w = self._wdt
        if w is not None:  # unarmed in maintenance mode, where bench.run() ticks by hand
            w.feed()
