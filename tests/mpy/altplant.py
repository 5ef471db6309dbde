# Plant model of the Alternator/Starter port for closed-loop tests and the
# limiter benchmark (host only, floats allowed: this is not firmware).
#
#   alternator (regulator, capability by engine state through a field lag)
#     || starter battery (charge / discharge resistance) || ignition load
#     -- R_wire -- fuse -- [PWM gate, R_fet] -- lithium bank (OCV(SoC), R_bank)
#                                                 || System+ load
#
# The gate is modelled by its average over a PWM period: the cable
# inductance (L/R ~ 1 ms) is assumed to smooth the chopped current, so the
# fuse sees the average current. The current sensor reads through an RC
# anti-alias filter and adds noise. One advance() = one control tick.
import math

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
    """Thermal fuse model: normalised heat follows (I / I_rated)^2 with a time
    constant; it blows when the heat reaches 1.35^2, so 100 % is carried for
    ever, 135 % blows in the long run, 200 % in a few seconds."""

    BLOW = 1.35 * 1.35

    def __init__(self, rating_a, tau_s=5.0):
        self.rating_a = rating_a
        self.tau_s = tau_s
        self.heat = 0.0
        self.blown = False
        self.peak_heat = 0.0

    def advance(self, amps, dt_s):
        if self.blown:
            return
        r = amps / self.rating_a
        target = r * r
        self.heat += (target - self.heat) * _lag(dt_s, self.tau_s)
        if self.heat > self.peak_heat:
            self.peak_heat = self.heat
        if self.heat >= self.BLOW:
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
        self.port_a = 0.0  # true average port current, + into the bank
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

    def _path(self, d, ocv):
        """Gate path conductance at duty d (0..1), the bank's source voltage
        and the ignition load: what the starter node sees of the rest."""
        load = self.ign_a if self.engine != ENGINE_OFF else 0.0
        vb0 = ocv + self.sys_a * self.r_bank
        if self.fuse.blown or d <= 0:
            return 0.0, vb0, load
        return d / (self.r_wire + self.r_fet + d * self.r_bank), vb0, load

    def _solve(self, gp, vb0, load):
        """Starter node voltage and average port current."""
        r_s = self.r_start_chg
        v = (self.alt_out - load + self.start_ocv / r_s + gp * vb0) / (1.0 / r_s + gp)
        if v < self.start_ocv:
            r_s = self.r_start_dis
            v = (self.alt_out - load + self.start_ocv / r_s + gp * vb0) / (1.0 / r_s + gp)
        return v, gp * (v - vb0)

    def advance(self, duty_cpct, dt_s=0.01):
        self.duty_cpct = duty_cpct
        if dt_s != self._dt_s:  # lag factors for this step length
            self._dt_s = dt_s
            self._k_field = _lag(dt_s, self.tau_field_s)
            self._k_reg = _lag(dt_s, self.tau_reg_s)
            self._k_adc = _lag(dt_s, self.tau_adc_s)
        gp, vb0, load = self._path(duty_cpct / 10000.0, bank_ocv(self.soc_pct))
        # regulator: the output moves toward what holds vreg, within what the
        # field makes available
        need = (self.vreg - self.start_ocv) / self.r_start_chg + load + gp * (self.vreg - vb0)
        self.avail_a += (self.capability() - self.avail_a) * self._k_field
        cap = self.avail_a
        need = 0.0 if need < 0 else (cap if need > cap else need)
        self.alt_out += (need - self.alt_out) * self._k_reg
        v, i_p = self._solve(gp, vb0, load)
        self.v_start = v - i_p * self.r_wire
        self.port_a = i_p
        self.v_bank = vb0 + i_p * self.r_bank
        self.fuse.advance(abs(i_p), dt_s)
        self.soc_pct += (i_p + self.sys_a) * dt_s / self.capacity_as * 100.0
        if self.soc_pct > 100.0:
            self.soc_pct = 100.0
        elif self.soc_pct < 0.0:
            self.soc_pct = 0.0
        self.sense_a += (i_p - self.sense_a) * self._k_adc

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
