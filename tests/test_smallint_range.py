# micropython
# Every integer the control path holds stays below 2**30 in magnitude: the
# boards' small ints are 31-bit, this port's are 63-bit, so an overflow into a
# heap-allocated big int on a board would pass unseen here without this walk.
# Extreme settings (every INT at its low, then its high end) meet extreme port
# readings and battery frames; after every tick each int attribute (and each
# element of an int array) of the controller's objects is checked.
from bms.settings import Settings, SCHEMA, INT, CHOICE
from bms.controller import Controller
from bms import linkscan
from boards.sim.chain import BatteryChain
from mpytest import raises

LIMIT = 1 << 30
TICK_MS = 10


class Out:
    def __init__(self):
        self.on = False
        self.duty_cpct = 0

    def set(self, on):
        self.on = on

    def set_duty(self, d):
        self.duty_cpct = d


class Sense:
    def __init__(self):
        self.values = {}

    def read(self, m):
        for k in self.values:
            setattr(m, k, self.values[k])
        m.stale = 0


class Link:
    def __init__(self, chain):
        self.chain = chain
        self.now_ms = 0

    def readinto(self, buf):
        return self.chain.readinto(buf, self.now_ms)

    def write(self, buf, n):
        self.chain.write(buf, n, self.now_ms)


class Hw:
    name = "range-test"

    def __init__(self, chain):
        self.chg_gate, self.dsg_gate, self.alt_gate = Out(), Out(), Out()
        self.load_out, self.charge_out, self.prealarm_out = Out(), Out(), Out()
        self.led, self.wdt = Out(), Out()
        self.wdt.feed = lambda: None
        self.sense = Sense()
        self.link = Link(chain)
        self.sys_oc = Latch()
        self.dsg_limit = Out()


class Latch:
    def tripped(self):
        return False

    def rearm(self):
        pass


def preset(end):
    """Every INT/CHOICE setting at its low (end=0) or high (end=1) extreme."""
    changes = {}
    for e in SCHEMA:
        if e[2] == INT:
            changes[e[1]] = e[5 + end]
        elif e[2] == CHOICE:
            changes[e[1]] = e[8][-end]
    return changes


# port readings at the ends of what the ADCs can report
READINGS = (
    {"bat_mv": 0, "start_mv": 0, "sys_mv": 0, "alt_ma": 0, "sys_ma": 0, "fet_ddegc": -400,
     "remote_l_mv": 0, "remote_h_mv": 0},
    {"bat_mv": 20000, "start_mv": 20000, "sys_mv": 20000, "alt_ma": 250000, "sys_ma": 500000,
     "fet_ddegc": 1300, "remote_l_mv": 33000, "remote_h_mv": 33000},
    {"bat_mv": 14600, "start_mv": 15000, "sys_mv": 14000, "alt_ma": -250000, "sys_ma": -500000,
     "fet_ddegc": 900, "remote_l_mv": 33000, "remote_h_mv": 0},
)
CELLS = ((0, 0, 0, 0), (65535, 65535, 65535, 65535), (2300, 3750, 3300, 3650))
TEMPS = (-32768, 32767, 250)


def _walk(obj, path, where, seen):
    # the logic objects' parts (alternator.limiter, protection.uv, ...) too
    seen.append(obj)
    for k in obj.__dict__:
        v = obj.__dict__[k]
        if isinstance(v, int) and not isinstance(v, bool):
            assert -LIMIT < v < LIMIT, "%s: %s.%s = %d" % (where, path, k, v)
        elif isinstance(v, (list, tuple)) or type(v).__name__ == "array":
            # the decoder's state ends in the addresses bind() stored for its
            # viper code, machine words that Python never computes with
            end = linkscan.S_TABLE if path == "decoder" and k == "_st" else len(v)
            for i in range(end):
                x = v[i]
                if isinstance(x, int) and not isinstance(x, bool):
                    assert -LIMIT < x < LIMIT, "%s: %s.%s[%d] = %d" % (where, path, k, i, x)
        elif hasattr(v, "__dict__") and not any(v is o for o in seen):
            _walk(v, path + "." + k, where, seen)


def check(c, where):
    seen = [c.settings, c.hw]
    for name in ("meas", "pack", "decoder", "master", "remote", "protection", "alternator",
                 "history"):
        _walk(getattr(c, name), name, where, seen)


def walk(end):
    s = Settings()
    errors = s.update(preset(end))
    assert errors == [], errors
    chain = BatteryChain(s.battery_count)
    hw = Hw(chain)
    c = Controller(s, hw)
    now = 0
    for r in range(len(READINGS)):
        hw.sense.values = READINGS[r]
        for b in range(1, s.battery_count + 1):
            cells = CELLS[(r + b) % len(CELLS)]
            chain.set_cells(b, cells[0], cells[1], cells[2], cells[3])
            chain.set_temp(b, TEMPS[(r + b) % len(TEMPS)])
        for _ in range(400):  # 4 s: delays, ramps and timeouts get to move
            now += TICK_MS
            hw.link.now_ms = now
            c.tick(now)
            check(c, "settings end %d, readings %d, t=%d ms" % (end, r, now))
    assert chain.frames_sent > 0 and c.pack.full_scan  # the frames did reach the pack


def test_low_ends_of_every_setting():
    walk(0)


def test_high_ends_of_every_setting():
    walk(1)


def test_the_walk_catches_an_int_past_30_bits():
    s = Settings()
    c = Controller(s, Hw(BatteryChain(1)))
    c.alternator.target.ma = 1 << 30
    with raises(AssertionError, match="alternator.target.ma"):
        check(c, "planted")
    c.alternator.target.ma = 0
    c.pack.probe = [0, -(1 << 30)]
    with raises(AssertionError, match="pack.probe[1]"):
        check(c, "planted")
