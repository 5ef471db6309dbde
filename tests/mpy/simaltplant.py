# The simulator's plant (boards/sim/plant.py) seen through the AltPlant
# interface of tests/mpy/altplant.py, so the closed-loop runs of altrun and the
# limiter benchmark check the loop on both models.
#
# Both have the same buck power stage (boards/sim/buck.py), with current
# errors of opposite sign. They differ where it matters for the loop:
# altplant has a regulator with a 60 ms lag and an RC-filtered noisy sensor;
# the simulator has a regulator that holds its voltage up to the available
# current, and the sim board's quantised ADC with the Pico W's slow channels
# (the bank voltage 10..40 ms old).
import math

from altplant import Fuse, ENGINE_OFF
from boards.sim.hw import Sense
from boards.sim.plant import Plant

_ENGINE_MODES = ("off", "idle", "cruise")  # by altplant's ENGINE_* number
_IDLE_SHARE = 0.45  # capability at idle, as in altplant


class _FuseView:
    """The simulator's fuse (its I2t budget decides whether it blows) and
    altplant's thermal model run on the same current, so peak_heat means the
    same on both plants (1.0 = as warm as carrying the rating for good)."""

    def __init__(self, plant, rating_a):
        self._plant = plant
        self.rating_a = rating_a
        self.thermal = Fuse(rating_a)

    @property
    def blown(self):
        return not self._plant.fuse_ok

    @property
    def peak_heat(self):
        return self.thermal.peak_heat

    @property
    def i2t_pct(self):
        return self._plant.fuse_heat * 100.0 / self._plant.p["fuse_melt_s"]


class SimAltPlant:
    # the sim board's ADCs (boards/sim/hw.py ADC_PROFILES): the Pico W's bank
    # voltage is 10..40 ms old; `phase` shifts its round robin
    profile = "pico_w"
    phase = 0

    def __init__(self, alt_a=200, fuse_a=100, batteries=4, soc_pct=50.0, engine=ENGINE_OFF,
                 seed=1):
        p = Plant(batteries, {"soc_pct": float(soc_pct), "seed": seed}, fuse_a=fuse_a)
        p.chg_on = p.dsg_on = True  # System+ loads reach the bank
        self.plant = p
        self.fuse = _FuseView(p, fuse_a)
        self._sense = Sense(p, profile=self.profile, phase=self.phase)
        self._engine = engine
        self.alt_a = alt_a
        self.fet_ddegc = None  # None: the plant's own MOSFET temperature

    @property
    def alt_a(self):
        """Alternator capability at cruise (A)."""
        return self.plant.p["alt_cruise_a"]

    @alt_a.setter
    def alt_a(self, amps):
        self.plant.p["alt_cruise_a"] = float(amps)
        self.plant.p["alt_idle_a"] = amps * _IDLE_SHARE
        self.plant.set_engine(_ENGINE_MODES[self._engine])

    @property
    def engine(self):
        return self._engine

    @engine.setter
    def engine(self, mode):
        self._engine = mode
        self.plant.set_engine(_ENGINE_MODES[mode])

    @property
    def sys_a(self):
        """System+ current, + into the bank (a load is negative)."""
        return -self.plant.load_a

    @sys_a.setter
    def sys_a(self, amps):
        self.plant.load_a = -amps

    @property
    def port_a(self):
        """Port current into the bank, tick average."""
        return self.plant.alt_a

    @property
    def fuse_ms(self):
        """Fuse current, mean square over the tick (A^2)."""
        return self.plant.fuse_ms

    def advance(self, duty_cpct, dt_s=0.01):
        self.plant.alt_duty_cpct = duty_cpct
        self.plant.step(int(dt_s * 1000 + 0.5))
        self.fuse.thermal.advance(math.sqrt(self.plant.fuse_ms), dt_s)

    def read(self, meas):
        self._sense.read(meas)
        if self.fet_ddegc is not None:
            meas.fet_ddegc = self.fet_ddegc
