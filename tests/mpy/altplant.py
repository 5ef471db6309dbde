# Plant model of the Alternator/Starter port for closed-loop tests and the
# limiter benchmark (host only, floats allowed: this is not firmware).
#
#   alternator (regulator, capability by engine state through a field lag)
#     || starter battery (charge / discharge resistance) || ignition load
#     -- R_wire -- fuse -- [input switch, R_fet] -- buck stage -- lithium bank
#                                                   (OCV(SoC), R_bank) || System+ load
#
# The power stage is the simulator's (boards/sim/buck.py): a synchronous buck
# whose hardware loop holds the inductor current at the gate's reference
# while it has the headroom. The fuse integrates the true current (the mean
# square over the tick, ripple included). The current sensor reads the
# inductor current through an RC anti-alias filter and adds noise. One
# advance() = one control tick.
import math

from boards.sim.buck import BuckStage

ENGINE_OFF = 0
ENGINE_IDLE = 1
ENGINE_CRUISE = 2
_IDLE_SHARE = 0.45  # capability at idle, share of the rated current

# LiFePO4 12.8 V battery: open-circuit volts by state of charge (%)
_OCV = ((0, 11.8), (5, 12.8), (10, 12.95), (20, 13.1), (50, 13.22), (80, 13.32),
        (90, 13.38), (95, 13.45), (98, 13.6), (99.5, 13.9), (100, 14.3))


def bank_ocv(soc_pct):
    if soc_pct <= 0:
        return _OCV[0][1]
    for k in range(1, len(_OCV)):
        s1, v1 = _OCV[k]
        if soc_pct <= s1:
            s0, v0 = _OCV[k - 1]
            return v0 + (v1 - v0) * (soc_pct - s0) / (s1 - s0)
    return _OCV[-1][1]


_lags = {}


def _lag(dt_s, tau_s):
    """Share of the way a first-order lag moves toward its input in dt_s."""
    k = (dt_s, tau_s)
    v = _lags.get(k)
    if v is None:
        v = _lags[k] = 1.0 - math.exp(-dt_s / tau_s)
    return v


class Fuse:
    """Two fuse models on the same true current (RMS over the step):
    thermal, normalised heat following (I / I_rated)^2 with a time constant,
    blowing at 1.35^2 (100 % is carried for ever, 135 % blows in the long
    run, 200 % in a few seconds); and the simulator's I2t budget (heat
    += ((I / I_rated)^2 - 1) dt, never below 0, blowing at melt_s rated^2 s,
    boards/sim/plant.py). i2t_pct: the budget used, % of melt."""

    BLOW = 1.35 * 1.35

    def __init__(self, rating_a, tau_s=5.0, melt_s=40.0):
        self.rating_a = rating_a
        self.tau_s = tau_s
        self.melt_s = melt_s
        self.heat = 0.0
        self.blown = False
        self.peak_heat = 0.0
        self.i2t = 0.0

    @property
    def i2t_pct(self):
        return self.i2t * 100.0 / self.melt_s

    def advance(self, amps, dt_s):
        if self.blown:
            return
        r = amps / self.rating_a
        target = r * r
        self.heat += (target - self.heat) * _lag(dt_s, self.tau_s)
        if self.heat > self.peak_heat:
            self.peak_heat = self.heat
        h = self.i2t + (target - 1.0) * dt_s
        self.i2t = h if h > 0.0 else 0.0
        if self.heat >= self.BLOW or self.i2t >= self.melt_s:
            self.blown = True


class AltPlant:
    def __init__(self, alt_a=200, fuse_a=100, batteries=4, soc_pct=50.0, ah_per_battery=200,
                 vreg=14.3, engine=ENGINE_CRUISE, noise_ma=300, seed=1):
        self.alt_a = alt_a
        self.vreg = vreg
        self.engine = engine
        self.batteries = batteries
        self.capacity_as = ah_per_battery * batteries * 3600.0
        self.soc_pct = soc_pct
        self.r_bank = 0.006 / batteries + 0.0005  # cells + bus bar / cable
        self.r_wire = 0.003  # alternator/starter node to the BMS, fuse included
        self.r_fet = 0.001
        self.start_ocv = 12.75
        self.r_start_chg = 0.05  # lead-acid charge acceptance
        self.r_start_dis = 0.008
        self.ign_a = 5.0  # ignition and engine electronics while running
        self.sys_a = 0.0  # System+ current, + into the bank (load is -)
        self.tau_reg_s = 0.06  # regulator: output toward what holds vreg
        # field lag: the available current follows the engine state (and a
        # change of alt_a) with this time constant, so idle -> cruise or an
        # engine stop is no instant step
        self.tau_field_s = 0.2
        self.avail_a = 0.0
        self.tau_adc_s = 0.005
        self.noise_ma = noise_ma
        self.fuse = Fuse(fuse_a)
        self.fet_ddegc = 400
        self.alt_out = 0.0
        # the stage's current error: its current is above the reference (the
        # simulator's default is below: the trim is checked both ways)
        self.stage = BuckStage(gain=1.03, offset_a=0.4)
        self.port_a = 0.0  # port current into the bank, tick average
        self.fuse_ms = 0.0  # fuse current, mean square over the tick (A^2)
        self._in_a = 0.0  # the stage's input current at the last tick
        self.sense_a = 0.0
        self.v_start = self.start_ocv
        self.v_bank = bank_ocv(soc_pct)
        self.duty_cpct = 0
        self._seed = seed
        self._dt_s = 0.0

    def capability(self):
        if self.engine == ENGINE_OFF:
            return 0.0
        if self.engine == ENGINE_IDLE:
            return self.alt_a * _IDLE_SHARE
        return float(self.alt_a)

    def _noise(self):
        # deterministic LCG, roughly uniform in [-noise, +noise] mA
        self._seed = (self._seed * 1103515245 + 12345) & 0x7FFFFFFF
        return ((self._seed >> 8) % 2001 - 1000) * self.noise_ma // 1000

    def _node(self, a, load):
        """Starter node voltage with the path taking current a from it."""
        r_s = self.r_start_chg
        v = self.start_ocv + (self.alt_out - load - a) * r_s
        if v < self.start_ocv:
            v = self.start_ocv + (self.alt_out - load - a) * self.r_start_dis
        return v

    def _solve_sat(self, gp, vb, load):
        """Starter node voltage and the path current, the stage at its
        highest duty (a resistance gp to the voltage vb)."""
        r_s = self.r_start_chg
        v = (self.alt_out - load + self.start_ocv / r_s + gp * vb) / (1.0 / r_s + gp)
        if v < self.start_ocv:
            r_s = self.r_start_dis
            v = (self.alt_out - load + self.start_ocv / r_s + gp * vb) / (1.0 / r_s + gp)
        return v, gp * (v - vb)

    def advance(self, duty_cpct, dt_s=0.01):
        self.duty_cpct = duty_cpct
        if dt_s != self._dt_s:  # lag factors for this step length
            self._dt_s = dt_s
            self._k_field = _lag(dt_s, self.tau_field_s)
            self._k_reg = _lag(dt_s, self.tau_reg_s)
            self._k_adc = _lag(dt_s, self.tau_adc_s)
        st = self.stage
        st.command(0 if self.fuse.blown else duty_cpct)
        load = self.ign_a if self.engine != ENGINE_OFF else 0.0
        vb0 = bank_ocv(self.soc_pct) + self.sys_a * self.r_bank
        r_w = self.r_wire + self.r_fet
        if st.on:
            # the stage at its highest duty: forward, or back through its
            # high-side switch once the bank is above the starter
            g_s, k = st.saturated_path(self.r_bank)
            gp = 1.0 / (r_w + 1.0 / g_s)
            vb = vb0 * k
        else:
            gp, k, vb = 0.0, 0.0, vb0
        i_ref = st.ref_a
        # in current control the stage takes what its reference needs (duty
        # from the last tick's voltages: a slow change)
        a_cc = st.input_a(i_ref, self.v_start - self._in_a * self.r_fet, vb0 + i_ref * self.r_bank)
        # regulator: the output moves toward what holds vreg, within what the
        # field makes available
        a_reg = gp * (self.vreg - vb)
        if st.on and a_reg * k > i_ref:
            a_reg = a_cc
        need = (self.vreg - self.start_ocv) / self.r_start_chg + load + a_reg
        self.avail_a += (self.capability() - self.avail_a) * self._k_field
        cap = self.avail_a
        need = 0.0 if need < 0 else (cap if need > cap else need)
        self.alt_out += (need - self.alt_out) * self._k_reg
        v, a = self._solve_sat(gp, vb, load)
        i_l = a * k
        if st.on and i_l > i_ref:
            i_l = i_ref
            a = a_cc
            v = self._node(a, load)
        self._in_a = a
        self.v_start = v - a * self.r_wire
        v_bank = vb0 + i_l * self.r_bank
        st.finish(i_l, self.v_start - a * self.r_fet, v_bank, dt_s)
        self.port_a = st.out_a
        self.v_bank = v_bank
        self.fuse_ms = st.in_ms
        self.fuse.advance(math.sqrt(st.in_ms), dt_s)
        self.soc_pct += (st.out_a + self.sys_a) * dt_s / self.capacity_as * 100.0
        if self.soc_pct > 100.0:
            self.soc_pct = 100.0
        elif self.soc_pct < 0.0:
            self.soc_pct = 0.0
        self.sense_a += (i_l - self.sense_a) * self._k_adc

    def read(self, meas):
        meas.start_mv = int(self.v_start * 1000)
        meas.bat_mv = int(self.v_bank * 1000)
        meas.sys_mv = meas.bat_mv
        meas.alt_ma = int(self.sense_a * 1000) + self._noise()
        meas.sys_ma = int(self.sys_a * 1000)
        meas.fet_ddegc = self.fet_ddegc
        meas.stale = 0


class Permit:
    """What protection hands the port: allowed and an optional cap."""

    def __init__(self, allowed=True, limit_ma=0):
        self.alt_allowed = allowed
        self.alt_limit_ma = limit_ma
