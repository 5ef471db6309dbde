# Hardware doubles for controller tests: recording switches, a fixed sense, and
# a battery ring that answers each scan request with real frames, all without
# allocating once built (so a whole tick can run under heap_lock).
from bms import linkframe as F


class Out:
    def __init__(self):
        self.on = False
        self.changes = 0
        self.writes = 0

    def set(self, on):
        self.writes += 1
        if on != self.on:
            self.on = on
            self.changes += 1


class Pwm:
    def __init__(self):
        self.duty_cpct = 0
        self.writes = 0

    def set_duty(self, d):
        self.writes += 1
        self.duty_cpct = d


class Sense:
    def __init__(self):
        self.bat_mv = 13200
        self.start_mv = 12600
        self.sys_mv = 13200
        self.alt_ma = 0
        self.sys_ma = -5000
        self.fet_ddegc = 250
        self.remote_l_mv = 6000  # L-H bridged: both near half battery voltage
        self.remote_h_mv = 6000

    def read(self, m):
        m.bat_mv = self.bat_mv
        m.start_mv = self.start_mv
        m.sys_mv = self.sys_mv
        m.alt_ma = self.alt_ma
        m.sys_ma = self.sys_ma
        m.fet_ddegc = self.fet_ddegc
        m.remote_l_mv = self.remote_l_mv
        m.remote_h_mv = self.remote_h_mv
        m.stale = 0


class Ring:
    """count batteries; bytes_per_tick models the line rate per 10 ms tick."""

    def __init__(self, count, bytes_per_tick=115):
        self.count = count
        self.cells = [[3300, 3300, 3300, 3300] for _ in range(count)]
        self.temp_ddegc = [250] * count
        self.flags = [0] * count
        self.out = bytearray(F.REQUEST_BYTES + count * F.CELLS_BYTES)
        self.n = 0  # bytes queued in out
        self.pos = 0  # bytes already delivered
        self.per_tick = bytes_per_tick
        self.plugged = True

    def write(self, buf, n):
        if not self.plugged or n < F.REQUEST_BYTES:
            return
        seq = buf[F.O_SEQ]
        o = F.encode_request(self.out, 0, self.count, seq)
        for a in range(self.count):
            o += F.encode_cells(self.out, o, a + 1, seq, self.cells[a], self.temp_ddegc[a],
                                self.flags[a])
        self.n = o
        self.pos = 0

    def readinto(self, buf):
        k = self.n - self.pos
        if k > self.per_tick:
            k = self.per_tick
        if k > len(buf):
            k = len(buf)
        out = self.out
        p = self.pos
        for i in range(k):
            buf[i] = out[p + i]
        self.pos = p + k
        return k


class Latch:
    """The System+ over-current latch: set by a test, counts re-arms."""

    def __init__(self):
        self.set = False
        self.rearms = 0

    def tripped(self):
        return self.set

    def rearm(self):
        self.set = False
        self.rearms += 1


class Nothing:
    def set(self, on):
        pass

    def feed(self):
        pass


class Hw:
    def __init__(self, count):
        self.name = "fake"
        self.chg_gate = Out()
        self.dsg_gate = Out()
        self.dsg_limit = Out()
        self.alt_gate = Pwm()
        self.load_out = Out()
        self.charge_out = Out()
        self.prealarm_out = Out()
        self.sense = Sense()
        self.link = Ring(count)
        self.led = Nothing()
        self.wdt = Nothing()
        self.store = None
        self.sys_oc = Latch()
