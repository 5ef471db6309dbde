# Runs a scenario on the simulated board with the real Controller and checks
# the protection invariants on every tick: on the firmware's view
# (protect_invariants.py) and against the plant's truth with the link delay
# allowed. Records every change of the protection outputs for the tests.
from bms import reasons as R
from bms import undervoltage as UV
from bms.controller import Controller
from boards.sim.runner import locked_tick  # an allocation in a tick fails the run
from boards.sim import make
from boards.sim import scenario as SC
from boards.sim.clock import VirtualClock
from protect_invariants import Invariants

TICK_MS = 10
MAX_CHANGES = 2000  # a chattering output must fail a test, not exhaust the heap
STORE = "/tmp/bms-protect-sim-store"


class Outcome:
    def __init__(self):
        self.changes = []  # (t_ms, what, value)
        self.truth_violations = []
        self.violations = []

    def first(self, what, value=True, after_ms=0):
        for t, w, v in self.changes:
            if w == what and v == value and t >= after_ms:
                return t
        return None

    def values(self, what):
        return [v for _, w, v in self.changes if w == what]


def _watch(p, remote):
    return (("state", UV.STATE_NAMES[p.uv.state]), ("atc", p.atc), ("atd", p.atd),
            ("chg_fet", p.chg_fet), ("dsg_fet", p.dsg_fet), ("alt_allowed", p.alt_allowed),
            ("prealarm_out", p.prealarm_out), ("remote_on", remote.on),
            ("block_chg", p.block_chg), ("block_dsg", p.block_dsg),
            ("block_alt", p.block_alt), ("block_sys", p.block_sys), ("warn", p.warn))


def run(scn, duration_ms=None, on_tick=None):
    """Run a parsed scenario; returns (Outcome, controller, board)."""
    clock = VirtualClock()
    board = make(scn, clock, STORE)
    ctl = Controller(board.settings, board)
    s = board.settings
    inv = Invariants(s)
    out = Outcome()
    last = {}
    ev = scn.events
    k = 0
    grace_ms = 2 * s.scan_period_ms + s.link_timeout_ms  # truth reaches the firmware late
    ov_since = None
    end = scn.duration_ms if duration_ms is None else duration_ms
    t = 0
    while t <= end:
        while k < len(ev) and ev[k][0] <= t:
            SC.apply(board, ev[k][1], ev[k][2])
            k += 1
        locked_tick(ctl, clock.now_ms)
        p = ctl.protection
        inv.observe(t, ctl.pack, ctl.meas, p)
        for what, v in _watch(p, ctl.remote):
            if last.get(what) != v:
                last[what] = v
                if len(out.changes) < MAX_CHANGES:
                    out.changes.append((t, what, v))
        # plant truth: a cell at the OV stop must open the charge path soon
        # (the ideal diode may keep the charge MOSFET closed while the bank
        # discharges through it, issue 15: not while nothing or charge flows)
        hi_mv = board.plant.cell_extremes()[2]
        if hi_mv >= s.cell_ov_mv and board.chg_gate.on and board.plant.sys_a >= 0.0:
            if ov_since is None:
                ov_since = t
            elif t - ov_since > grace_ms and len(out.truth_violations) < 10:
                out.truth_violations.append((t, "charge FET on with a cell at %d mV" % hi_mv))
        else:
            ov_since = None
        if on_tick:
            on_tick(t, ctl, board)
        board.step(TICK_MS)
        clock.advance(TICK_MS)
        t += TICK_MS
    out.violations = inv.violations
    out.uv_cuts = inv.uv_cuts
    out.emergency_cuts = inv.emergency_cuts
    return out, ctl, board


def run_named(name, duration_ms=None, on_tick=None):
    return run(SC.load(name), duration_ms, on_tick)


def has(mask, name):
    return name in R.names(mask)


# -- random scenarios on the whole simulated system (tests and the bench)

class Lcg:
    def __init__(self, seed):
        self.x = seed * 7919 + 1

    def below(self, n):
        self.x = (self.x * 1103515245 + 12345) & 0x3FFFFFFF
        return (self.x >> 8) % n


ACTIONS = (
    ("load_a", (0, 20, 80, 150, 260)), ("charger_a", (0, 20, 60)),
    ("engine", ("off", "idle", "cruise", "start")), ("remote", ("open", "bridged", "l_low")),
    ("temp_c", (-5, 20, 55, 63)), ("cable", ("unplug", "plug")), ("uart_noise", (200,)),
    ("alarms", ({"battery": 1, "kinds": ["low_temp"]}, {"battery": 1, "kinds": ["low_cell", "high_temp"]},
                {"battery": 1, "kinds": ["high_cell"]}, {"battery": 1, "kinds": []})),
)


def random_scenario(seed, duration_s=90):
    g = Lcg(seed)
    events = []
    t = 0
    while True:
        t += 1 + g.below(12)
        if t >= duration_s:
            break
        key, values = ACTIONS[g.below(len(ACTIONS))]
        events.append({"t_s": t, key: values[g.below(len(values))]})
    return SC.parse({"name": "random-%d" % seed, "duration_s": duration_s,
                     "batteries": 1 + g.below(4),
                     "plant": {"soc_pct": (1, 5, 50, 97)[g.below(4)], "capacity_ah": 100, "seed": seed},
                     "settings": {"remote_function": g.below(3), "prealarm_mode": g.below(2)},
                     "events": events}, "random")
