# Hardware watchdog, fed only from the control loop: a stuck control task
# resets the board, and the gates come back up in their safe state.
from machine import WDT

TIMEOUT_MS = 5000  # the rp2 port accepts at most 8388 ms


class Watchdog:
    def __init__(self, timeout_ms=TIMEOUT_MS):
        self._wdt = WDT(timeout=timeout_ms)

    def feed(self):
        self._wdt.feed()
