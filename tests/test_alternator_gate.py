# micropython
# The port works out the MOSFET trip and its target only when an input they
# read moved (AlternatorPort.step), and its fault timers are reset only when
# one ran (PortChecks.check). This holds the gated port to the same code
# with those gates forced open before every step: both get the same inputs,
# random sequences with engine starts and stops, limiting and following,
# reverse current, MOSFET heating up to the trip, implausible and stale
# readings, protection's permit and cap, settings changes, alternator
# protection and time jumps, and every output must be equal on every tick.
from bms import alternator as A
from bms.alt_limiter import DUTY_MAX_CPCT
from bms.fet_thermal import FetThermal
from bms.measure import Measurements, CH_ALT_I, CH_BAT, CH_FET, CH_REMOTE_L
from bms.settings import Settings
from bms.ticks import MASK
from altplant import Permit
from protect_rig import Lcg

SEEDS = (1, 5, 9, 13)
TICKS = 24000


def outputs(port, duty):
    t, lim = port.target, port.limiter
    return (duty, port.state, port.fault, t.ma, t.reason, t.reduced, t.heat_ms, lim.duty_cpct,
            lim.ref_ma, lim.cmd_ma, lim.filtered_ma, lim.reached, lim.follows, port.fet.tripped)


def force_open(port):
    # every key that gates the MOSFET trip and the target unlike any input
    port._fet = port._cap = None
    port._ver = -1
    port.target.due = True
    port.checks._timing = True  # the fault timers reset as on every tick


SETTINGS = (
    {"alt_fuse_a": 60}, {"alt_fuse_a": 125}, {"alt_fuse_a": 20}, {"alt_fuse_a": 100},
    {"fet_derate_dc": 700, "fet_trip_dc": 900}, {"fet_derate_dc": 850, "fet_trip_dc": 1050},
    {"alt_protect": 1, "alt_protect_after_s": 30, "alt_protect_pct": 50}, {"alt_protect": 0},
    {"alt_protect_pct": 80}, {"alt_on_delay_ms": 0}, {"alt_on_delay_ms": 3000},
    {"alt_off_delay_ms": 0}, {"alt_off_delay_ms": 2000},
)


class Scenario:
    """The readings: an alternator that gives up to avail_ma (its current
    answers the last duty, like the power stage's reference), a bank, the
    MOSFETs heating while current flows, and rare faults."""

    def __init__(self, seed):
        self.g = Lcg(seed)
        self.engine = False
        self.avail_ma = 120000
        self.fet = 400
        self.quiet = 0  # ticks left with the readings held as they are
        self.calm = False  # events ten times rarer, no reversal or fault: long runs
        self.bad = 0  # ticks left of a broken current reading (fault timers)
        self.bad_ma = 0  # its value: None, the sensor stuck at zero

    def next(self, m, p, s, duty):
        g = self.g
        r = g.below(10000 if self.calm else 1000)
        if r < 1:
            self.calm = not self.calm
        elif r < 4:
            self.engine = not self.engine
        elif r < 6:
            self.avail_ma = g.between(5000, 200000)
        elif r < 8:
            self.quiet = g.between(10, 400)
        elif r < 10:
            assert s.update(g.pick(SETTINGS)) == []
        elif r < 13:
            p.alt_allowed = g.below(8) != 0
        elif r < 16:
            p.alt_limit_ma = g.pick((0, 0, -1, 20000, 60000, 95000))
        elif r < 18:
            self.fet = g.between(300, 1200)  # a step: the trip and its re-arm
        elif r < 20 and not self.calm:
            # an offset (a leak with the gate open), stuck at zero, or far
            # above the fuse: on and off, so the timers must restart
            self.bad = g.between(1, 60)
            self.bad_ma = g.pick((4000, -4000, None, 160000))
        if self.quiet:  # the readings held; settings may change meanwhile
            self.quiet -= 1
            if g.below(50) == 0:  # the fuse, or the MOSFET levels
                assert s.update(SETTINGS[g.below(6)]) == []
            return 10
        m.stale = 0
        bat = 13300 + g.between(-3, 3)
        if self.engine:
            start = 14200 + g.between(-5, 5) - duty // 40  # the wiring's drop under load
            i = duty * 15
            if i > self.avail_ma:
                i = self.avail_ma
        else:
            start = g.pick((12600, 12600, 12600, 12900, 13250)) + g.between(-2, 2)
            i = 0
        if not self.calm and g.below(50) == 0:
            start = bat - g.between(0, 300)  # starter onto the bank: reverse
            i = -g.between(0, 3000)
        i += g.between(-300, 300)
        if self.bad:
            self.bad -= 1
            i = 0 if self.bad_ma is None else i + self.bad_ma
        # the MOSFETs warm with the current and cool without it; the
        # reading moves by an LSB now and then
        if duty > DUTY_MAX_CPCT // 2:
            self.fet += g.below(16) == 0
        else:
            self.fet -= g.below(4) == 0
        if self.fet < 250:
            self.fet = 250
        fet = self.fet + (g.between(-1, 1) if g.below(8) == 0 else 0)
        r = 9 if self.calm else g.below(3000)
        if r < 3:
            m.stale = g.pick((CH_ALT_I, CH_BAT, CH_FET, CH_REMOTE_L))
        elif r < 5:
            i = g.pick((250000, -250000))  # out of the sensor's range
        elif r < 6:
            fet = g.pick((-500, 1600))
        elif r < 7:
            bat = 20000
        m.bat_mv = bat
        m.start_mv = start
        m.alt_ma = i
        m.fet_ddegc = fet
        if g.below(2000) == 0:
            return g.pick((0, 3, 40, 1500, 1 << 29))  # a late tick, a jump
        return 10


def run(seed):
    s = Settings()
    assert s.update({"alt_protect": 1, "alt_protect_after_s": 30}) == []
    m = Measurements()
    p = Permit()
    gated = A.AlternatorPort(s, FetThermal(s))
    plain = A.AlternatorPort(s, FetThermal(s))
    sc = Scenario(seed)
    now = 0
    duty = 0
    seen = set()
    for n in range(TICKS):
        now = (now + sc.next(m, p, s, duty)) & MASK
        force_open(plain)
        want = outputs(plain, plain.step(now, m, p))
        duty = gated.step(now, m, p)
        got = outputs(gated, duty)
        assert got == want, (seed, n, got, want)
        seen.add(gated.state)
        if gated.target.reduced:
            seen.add("reduced")
        if gated.fault:
            seen.add("fault")
    return seen


def test_gated_port_equals_the_port_with_its_gates_open():
    seen = set()
    for seed in SEEDS:
        seen |= run(seed)
    # the sequences reached every state, alternator protection and faults
    assert seen >= set(range(len(A.STATE_NAMES))) | {"reduced", "fault"}, seen
