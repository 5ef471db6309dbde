# Test rig for the protection logic: a fake Pack with the documented
# attributes (the real one lives in bms/pack.py), real Measurements, Remote
# and Settings, and a clock that steps in control ticks.
from bms.measure import Measurements
from bms.protection import Protection
from bms.fet_thermal import FetThermal
from bms.remote import Remote
from bms.settings import Settings

TICK_MS = 10


class Lcg:
    """Deterministic random inputs for the property tests (31-bit state: no
    bigint on the 32-bit build)."""

    def __init__(self, seed):
        self.x = seed * 2654435761 & 0x3FFFFFFF or 1

    def below(self, n):
        self.x = (self.x * 1103515245 + 12345) & 0x3FFFFFFF
        return (self.x >> 8) % n

    def between(self, lo, hi):
        return lo + self.below(hi - lo + 1)

    def pick(self, seq):
        return seq[self.below(len(seq))]


class FakePack:
    def __init__(self, n=1):
        self.configured = n
        self.seen = n
        self.data_ok = True
        self.lost = 0
        self.full_scan = True
        self.min_cell_mv = 3300
        self.min_cell_at = 0
        self.max_cell_mv = 3300
        self.max_cell_at = 0
        self.min_temp_ddegc = 200
        self.max_temp_ddegc = 200
        self.pack_mv = 13200
        self.battery_alarm = False
        self.count_mismatch = False
        self.alarm_kinds = 0  # linkframe A_* bits, pack.KIND_UNKNOWN


class FakeRemote:
    """The remote terminal as a test sets it: `on` by hand. `rose`, read
    once per protection step, is the edge since the last step, as
    Remote.step() finds it."""

    def __init__(self, on=True):
        self.on = on
        self.mode = 1 if on else 0
        self._was_on = False

    @property
    def rose(self):
        r = self.on and not self._was_on
        self._was_on = self.on
        return r


class Rig:
    def __init__(self, changes=None, remote_on=True):
        self.settings = Settings()
        if changes:
            errs = self.settings.update(changes)
            assert errs == [], errs
        self.pack = FakePack()
        self.meas = Measurements()
        m = self.meas
        m.stale = 0
        m.bat_mv = 13200
        m.sys_mv = 13100
        m.start_mv = 12600
        m.fet_ddegc = 300
        self.remote = FakeRemote(remote_on)
        self.p = Protection(self.settings, FetThermal(self.settings))
        self.now = 1000

    def tick(self, ms=TICK_MS):
        self.now += ms
        self.p.step(self.now, self.pack, self.meas, self.remote)
        return self.p

    def run(self, ms, step=TICK_MS):
        """Step for ms milliseconds, one call every step ms (coarse for long waits)."""
        end = self.now + ms
        while self.now < end:
            self.tick(step)
        return self.p

    def cells(self, lo, hi=None):
        self.pack.min_cell_mv = lo
        self.pack.max_cell_mv = lo if hi is None else hi

    def temps(self, lo, hi=None):
        self.pack.min_temp_ddegc = lo
        self.pack.max_temp_ddegc = lo if hi is None else hi


def rig(changes=None, remote_on=True):
    """A rig past boot, in the normal state."""
    r = Rig(changes, remote_on)
    r.tick()
    return r


def real_remote():
    return Remote()
