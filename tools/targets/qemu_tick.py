# Instructions per control tick on the qemu Cortex-M3 image (tools/port.py
# target "qemu", run by tools/benchmarks_target.py with -icount shift=0, where
# one instruction is one nanosecond of ticks_us). qemu_tick.main(ticks)
# prints one JSON line of figures.
#
# The controller runs as the app runs it, with 50 batteries streaming real
# frames from fakehw's ring. On a board the ring is a UART (readinto and
# write are C); here it is Python that encodes 50 batteries' frames, so the
# ring times itself and that time is taken off each tick it ran in.
# Run 1 times whole ticks; run 2 times the parts (decoder: feed and expect;
# pack: evaluate; protection, alternator, history: step) through wrappers
# that read ticks_us around the call only. Run 3 times whole ticks again
# with every cell and temperature moving by a few LSB each scan (the
# _noisy keys): constant readings let the change gates skip more than a real
# bank does.
import gc
import time

from bms.settings import Settings
from bms.controller import Controller, CONTROL_PERIOD_MS
import fakehw

BATTERIES = 50
WARMUP_TICKS = 300  # a full scan and the gates closed before counting
TICKS = 1000  # the bench's count; a smoke test asks for fewer


class Ring(fakehw.Ring):
    # the base class is called by name: super() allocates in MicroPython, and
    # a collection could then land in a measured tick
    def __init__(self, count, noisy=False):
        fakehw.Ring.__init__(self, count)
        self.spent_us = 0  # time inside the double, since the bench last took it
        self.noisy = noisy
        self._x = 1  # the noise generator (ZX81's: small ints, no allocation)

    def write(self, buf, n):
        t0 = time.ticks_us()
        if self.noisy:  # each scan, every cell and sensor moves by a few LSB, as a real ADC's do
            x = self._x
            for a in range(self.count):
                cells = self.cells[a]
                for k in range(4):
                    x = (x * 75 + 74) % 65537
                    cells[k] = 3297 + x % 7
                x = (x * 75 + 74) % 65537
                self.temp_ddegc[a] = 249 + x % 3
            self._x = x
        fakehw.Ring.write(self, buf, n)
        self.spent_us += time.ticks_diff(time.ticks_us(), t0)

    def readinto(self, buf):
        t0 = time.ticks_us()
        k = fakehw.Ring.readinto(self, buf)
        self.spent_us += time.ticks_diff(time.ticks_us(), t0)
        return k


def make(noisy=False):
    s = Settings()
    s.update({"battery_count": BATTERIES})
    hw = fakehw.Hw(BATTERIES)
    hw.link = Ring(BATTERIES, noisy)
    c = Controller(s, hw)
    t = 0
    for _ in range(WARMUP_TICKS):
        c.tick(t)
        t += CONTROL_PERIOD_MS
    if not (c.pack.full_scan and c.pack.data_ok and hw.chg_gate.on):
        raise RuntimeError("50 batteries did not come up in the warm-up")
    return c, t


def whole_ticks(count, noisy=False):
    c, t = make(noisy)
    us = time.ticks_us
    diff = time.ticks_diff
    total = worst = 0
    gc.collect()
    ring = c.hw.link
    for _ in range(count):
        ring.spent_us = 0
        t0 = us()
        c.tick(t)
        d = diff(us(), t0) - ring.spent_us
        total += d
        if d > worst:
            worst = d
        t += CONTROL_PERIOD_MS
    return total, worst


def _timed(acc, i, f):
    us = time.ticks_us
    diff = time.ticks_diff

    def w(*args):
        t0 = us()
        r = f(*args)
        acc[i] += diff(us(), t0)
        return r
    return w


PARTS = ("decoder", "pack", "protection", "alternator", "history")


def parts(count):
    c, t = make()
    acc = [0] * len(PARTS)
    c.decoder.feed = _timed(acc, 0, c.decoder.feed)
    c.decoder.expect = _timed(acc, 0, c.decoder.expect)
    c.pack.evaluate = _timed(acc, 1, c.pack.evaluate)
    c.protection.step = _timed(acc, 2, c.protection.step)
    c.alternator.step = _timed(acc, 3, c.alternator.step)
    c.history.step = _timed(acc, 4, c.history.step)
    gc.collect()
    for _ in range(count):
        c.tick(t)
        t += CONTROL_PERIOD_MS
    return acc


def gc_pause(lives, repeats=3):
    """For each heap in use in `lives` (ascending bytes): the longest of
    `repeats` collections (thousands of instructions) with the controller of
    50 batteries and ballast holding that much, and garbage filling the heap
    to three quarters, where app.py collects after a tick. The ballast is
    small lists (two blocks each, scanned like the firmware's objects), the
    garbage 32-byte buffers."""
    c, t = make()
    us = time.ticks_us
    diff = time.ticks_diff
    gc.collect()
    heap = gc.mem_alloc() + gc.mem_free()
    ballast = []
    pauses = []
    held = []
    for live_bytes in lives:
        while gc.mem_alloc() < live_bytes:
            ballast.append([0, 0, 0])
        gc.collect()
        held.append(gc.mem_alloc())
        worst = 0
        for _ in range(repeats):
            junk = []
            while gc.mem_alloc() < heap * 3 // 4:
                junk.append(bytearray(24))
            junk = None
            t0 = us()
            gc.collect()
            d = diff(us(), t0)
            if d > worst:
                worst = d
        pauses.append(worst)
    c.tick(t)  # the controller is live through every collection
    print('{"gc_pause_kinstr": %s, "gc_live_bytes": %s, "gc_heap_bytes": %d}' % (pauses, held, heap))


def main(count=TICKS):
    total, worst = whole_ticks(count)
    acc = parts(count)
    out = ['"tick_kinstr_50batt_mean": %d' % ((total + count // 2) // count),
           '"tick_kinstr_50batt_max": %d' % worst]
    for name, a in zip(PARTS, acc):
        out.append('"tick_kinstr_50batt_%s": %d' % (name, (a + count // 2) // count))
    total, worst = whole_ticks(count, noisy=True)
    out.append('"tick_kinstr_50batt_noisy_mean": %d' % ((total + count // 2) // count))
    out.append('"tick_kinstr_50batt_noisy_max": %d' % worst)
    out.append('"tick_count": %d' % count)
    print("{" + ", ".join(out) + "}")
