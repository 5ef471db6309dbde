# Time for the simulated board. VirtualClock is moved on by the fast runner
# (as fast as the host allows); RealClock follows the wall clock for the live
# view. Both give ms ticks that wrap like time.ticks_ms().
import time

from bms import ticks


class VirtualClock:
    def __init__(self, start_ms=0):
        self.now_ms = start_ms

    def ticks_ms(self):
        return self.now_ms

    def advance(self, dt_ms):
        self.now_ms = ticks.add(self.now_ms, dt_ms)


class RealClock:
    def __init__(self):
        self._t0 = time.ticks_ms()

    def ticks_ms(self):
        return time.ticks_diff(time.ticks_ms(), self._t0) & ticks.MASK
