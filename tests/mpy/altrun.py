# Closed-loop runs of AlternatorPort on a plant model, shared by the matrix
# test (tests/test_alternator_loop.py) and tools/benchmarks/limiter.py. The
# loop is checked on both models: altplant (stiff wiring, lagging regulator)
# and the simulator's plant (simaltplant).
from bms.settings import Settings
from bms.measure import Measurements
from bms import alternator as A
from bms.fet_thermal import FetThermal
from altplant import AltPlant, Permit, ENGINE_OFF, ENGINE_IDLE, ENGINE_CRUISE
from simaltplant import SimAltPlant
import math
from array import array

PLANTS = (AltPlant, SimAltPlant)

TICK_MS = 10
_TICK_S = TICK_MS / 1000
BAND_PCT = 2  # settled = within +-2 % of the target
SETTLED_TICKS = 50  # the soft start is over once limiting within the band this long


class Rig:
    """Plant + port + the checks that must hold on every tick."""

    def __init__(self, alt_a=200, fuse_a=100, batteries=4, soc_pct=50.0, on_delay_ms=3000,
                 seed=1, plant=AltPlant):
        s = Settings()
        assert s.update({"alt_fuse_a": fuse_a, "alt_on_delay_ms": on_delay_ms}) == []
        self.s = s
        self.plant = plant(alt_a=alt_a, fuse_a=s.alt_fuse_a, batteries=batteries,
                           soc_pct=soc_pct, engine=ENGINE_OFF, seed=seed)
        self.port = A.AlternatorPort(s, FetThermal(s))
        self.meas = Measurements()
        self.permit = Permit()
        self.now_ms = 0
        self.trace = None  # list of (ms, true port A, target mA, state) when recording
        self.metric = Metric(s.alt_fuse_a)  # the issue-15 figures over the whole run
        self.min_a = 0.0
        self.max_a = 0.0
        self.low_ms = 0  # how long the starter has read below the off level
        self.violations = []
        self._off_mv = s.alt_off_mv
        self._off_limit_ms = s.alt_off_delay_ms + TICK_MS
        self.plant.read(self.meas)

    def tick(self):
        port, plant, meas = self.port, self.plant, self.meas
        duty_cpct = port.step(self.now_ms, meas, self.permit)
        # gate must be open once the starter has been below the off level for
        # the off delay (plus the tick that notices it)
        if meas.start_mv < self._off_mv:
            self.low_ms += TICK_MS
            if duty_cpct and self.low_ms > self._off_limit_ms:
                self.violations.append(("gate on below off level", self.now_ms))
        else:
            self.low_ms = 0
        plant.advance(duty_cpct, _TICK_S)
        plant.read(meas)
        self.now_ms += TICK_MS
        a = plant.port_a
        if a < self.min_a:
            self.min_a = a
        elif a > self.max_a:
            self.max_a = a
        self.metric.add(a, port.target.ma / 1000, plant.fuse_ms, plant.fuse.i2t_pct)
        if self.trace is not None:
            self.trace.append((self.now_ms, a, port.target.ma, port.state))

    def run(self, ms):
        for _ in range(ms // TICK_MS):
            self.tick()

    def run_until_limiting(self, max_ms=20000):
        """Ticks until the port limits or follows; returns the ms it took."""
        t0 = self.now_ms
        while self.now_ms - t0 < max_ms:
            self.tick()
            if self.port.state in (A.LIMITING, A.FOLLOWING):
                return self.now_ms - t0
        return -1


WINDOW_TICKS = 1000 // TICK_MS  # the metric's 1 s


class Metric:
    """The limiter figures of issue 15 over a run, fed one tick at a time
    (docs/alternator.md, "The metric"):
    avg_pct   the 1 s moving average of the port current above the target
              (% of the target; windows in which the port had a target on
              every tick)
    peak_pct  the largest single tick above the target, % of the target
    peak_ticks the longest run of ticks above the target's +-2 % band
    i2t_pct   the most fuse heat at any tick, % of its melt budget
    rms_pct   the true RMS through the fuse over any 1 s, % of its rating
    Overshoot and settling belong to steps: step() takes the ticks after one."""

    def __init__(self, rating_a):
        self.rating_a = rating_a
        # arrays of doubles: a list would keep a float object alive per
        # entry, spread over the heap among the plant's float garbage, and
        # leave no contiguous block for anything larger
        self._a = array("d", bytes(8 * WINDOW_TICKS))
        self._t = array("d", bytes(8 * WINDOW_TICKS))
        self._ms = array("d", bytes(8 * WINDOW_TICKS))
        self._k = 0
        self._n = 0  # ticks seen, up to the window
        self._run = 0  # ticks in a row with a target
        self._sum_a = self._sum_t = self._sum_ms = 0.0
        self._above = 0
        self.avg_pct = self.peak_pct = self.i2t_pct = self.rms_pct = 0.0
        self.peak_ticks = 0
        self.overshoot_pct = 0.0
        self.settle_ms = 0

    def add(self, a, target_a, fuse_ms, i2t_pct):
        k = self._k
        self._sum_a += a - self._a[k]
        self._sum_t += target_a - self._t[k]
        self._sum_ms += fuse_ms - self._ms[k]
        self._a[k] = a
        self._t[k] = target_a
        self._ms[k] = fuse_ms
        self._k = k + 1 if k + 1 < WINDOW_TICKS else 0
        if self._n < WINDOW_TICKS:
            self._n += 1
        self._run = self._run + 1 if target_a > 0 else 0
        if self._run >= WINDOW_TICKS:
            e = (self._sum_a - self._sum_t) * 100 / self._sum_t
            if e > self.avg_pct:
                self.avg_pct = e
        if self._n == WINDOW_TICKS:
            r = math.sqrt(self._sum_ms / WINDOW_TICKS if self._sum_ms > 0 else 0.0)
            r = r * 100 / self.rating_a
            if r > self.rms_pct:
                self.rms_pct = r
        if i2t_pct > self.i2t_pct:
            self.i2t_pct = i2t_pct
        if target_a > 0:
            e = (a - target_a) * 100 / target_a
            if e > self.peak_pct:
                self.peak_pct = e
            self._above = self._above + 1 if e > BAND_PCT else 0
            if self._above > self.peak_ticks:
                self.peak_ticks = self._above
        else:
            self._above = 0

    def step(self, samples, target_a, direction=1, settles=True, blind=True):
        """The ticks after a step: overshoot from the first tick that can see
        it (a disturbance falls between ticks, so the first one is blind: a
        10 ms loop cannot act on it; a target step is known in its own tick,
        blind=False), and settling (where the port can still hold the
        target after it)."""
        ov = overshoot_pct(samples[1:] if blind else samples, target_a, direction)
        if ov > self.overshoot_pct:
            self.overshoot_pct = ov
        if settles:
            st = settle_ms(samples, target_a)
            if st > self.settle_ms:
                self.settle_ms = st


def worst(metrics):
    """The worst of each figure over several runs (a dict of metric names)."""
    out = {}
    for name in ("avg_pct", "overshoot_pct", "peak_pct", "peak_ticks", "i2t_pct", "rms_pct",
                 "settle_ms"):
        out[name] = max(getattr(m, name) for m in metrics)
    return out


def window(rig, ms):
    """Run ms and return the true port currents (A) of each tick."""
    # allocated up front, values inline (see Metric)
    out = array("d", bytes(8 * (ms // TICK_MS)))
    for k in range(len(out)):
        rig.tick()
        out[k] = rig.plant.port_a
    return out


def settle_ms(samples, target_a, band_pct=BAND_PCT):
    """ms from the first sample until the signal stays within the band."""
    band = target_a * band_pct / 100
    last_out = -1
    for k in range(len(samples)):
        if abs(samples[k] - target_a) > band:
            last_out = k
    return (last_out + 1) * TICK_MS


def overshoot_pct(samples, target_a, direction=1):
    """Largest excursion past the target in `direction` (+1 above), % of target."""
    worst = 0.0
    for a in samples:
        e = (a - target_a) * direction
        if e > worst:
            worst = e
    return worst * 100 / target_a


def ripple_pct(samples, target_a):
    return (max(samples) - min(samples)) * 100 / target_a


def error_pct(samples, target_a):
    return abs(sum(samples) / len(samples) - target_a) * 100 / target_a


def engine_start(rig, engine=ENGINE_CRUISE, max_ms=12000):
    """Start the engine; returns the soft-start time (gate first driven ->
    current within the band for good), or -1 when the target is not reached."""
    rig.plant.engine = engine
    t0 = None
    samples = array("d", bytes(8 * (max_ms // TICK_MS)))  # as in window()
    n = 0
    held = 0  # ticks limiting within the band
    for _ in range(max_ms // TICK_MS):
        rig.tick()
        if t0 is None and rig.port.state == A.RAMPING:
            t0 = rig.now_ms
        if t0 is not None:
            a = rig.plant.port_a
            samples[n] = a
            n += 1
            target_a = rig.port.target.ma / 1000
            if rig.port.state == A.LIMITING and abs(a - target_a) <= target_a * BAND_PCT / 100:
                held += 1
                if held >= SETTLED_TICKS:
                    break
            else:
                held = 0
    if t0 is None or rig.port.state != A.LIMITING:
        return -1
    return settle_ms(samples[:n], rig.port.target.ma / 1000)
