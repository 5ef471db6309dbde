# The alternator path's power stage as both plant models see it
# (docs/boards.md, "Alternator power stage"): a synchronous buck with a
# hardware average-current loop. The firmware's PWM, RC-filtered, is the
# loop's reference: duty 0..100 % asks for 0..REF_FULL_A of inductor current.
# The stage gives that current while it has the headroom; beyond it the
# high-side switch is held on (D_MAX) and the path is a resistance (which
# conducts both ways: blocking the way back is the firmware's job). Reference 0
# disables the stage and its input switch: nothing flows either way.
#
# Floats (plant side, not firmware). The network is solved by the plant at
# the end of each tick; this module gives the stage's terms for that solve
# and, once solved, the tick's average and mean-square currents on both
# sides: the approach to the new current with the loop's time constant
# within the tick and the switching ripple, so the fuse integrates the true
# current, not an average.
import math

REF_FULL_A = 150.0  # reference at full duty (bms/alt_limiter.py REF_FULL_MA)
DUTY_MAX_CPCT = 10000
F_SW_HZ = 100e3  # switching frequency
L_H = 4.7e-6  # power inductor
D_MAX = 1.0  # the controller holds the high-side switch on (charge-pump drive): 100 % duty
R_STAGE_OHM = 0.0015  # switch + inductor DCR + shunt, in the output path
TAU_S = 0.0004  # reference filter and current loop: the current reaches a new reference with this
I_Q_A = 0.15  # switching, gate-drive and controller losses, drawn from the input
# input filter: the stage's input capacitors against the cable inductance
# take the chopped input current; the residual reaches the fuse
_C_IN_F = 1.0e-3
_L_CABLE_H = 1.0e-6
_IN_ATTEN = 1.0 / ((2.0 * math.pi * F_SW_HZ) ** 2 * _L_CABLE_H * _C_IN_F - 1.0)
# the firmware's PWM at 20 kHz: 11 bits on the ESP32 (80 MHz / 20 kHz), the
# coarser of the two boards
PWM_LEVELS = 2048


class BuckStage:
    def __init__(self, gain=1.0, offset_a=0.0):
        # the stage's own sense amplifier and reference divider are off by
        # this (within +-5 % and +-0.5 A, docs/boards.md): the firmware trims
        # it out against the port's current sensor
        self.gain = gain
        self.offset_a = offset_a
        self.on = False
        self.ref_a = 0.0  # what the stage regulates to this tick
        self.i_l = 0.0  # inductor current at the end of the tick (A, + into the bank)
        self.duty = 0.0  # high-side duty at the end of the tick
        self.out_a = 0.0  # tick averages: into the bank, and in the fuse
        self.in_a = 0.0
        self.out_ms = 0.0  # tick mean squares (A^2): true RMS^2
        self.in_ms = 0.0
        self.ripple_a = 0.0  # inductor ripple, peak to peak
        self._dt = 0.0
        self._c1 = self._c2 = 0.0

    def command(self, duty_cpct):
        """Set the tick's reference from the gate duty (quantised like the PWM)."""
        levels = duty_cpct * PWM_LEVELS // DUTY_MAX_CPCT
        self.on = duty_cpct > 0
        r = (levels * REF_FULL_A / PWM_LEVELS) * self.gain + self.offset_a
        self.ref_a = r if (self.on and r > 0.0) else 0.0

    def saturated_path(self, r_out):
        """The path at D_MAX seen from the stage's input terminal: input
        current = g * (v_in - v_b0 / D_MAX) for a bank source v_b0 behind
        r_out (bank and cabling). Returns (g, 1 / D_MAX)."""
        return D_MAX * D_MAX / (R_STAGE_OHM + r_out), 1.0 / D_MAX

    def finish(self, i_l, v_in, v_bank, dt):
        """The inductor current the network settled at, the stage's input
        terminal and bank voltages: tick averages and mean squares."""
        if dt != self._dt:
            self._dt = dt
            k1 = math.exp(-dt / TAU_S) if dt > 0 else 1.0
            self._c1 = TAU_S / dt * (1.0 - k1) if dt > 0 else 1.0
            self._c2 = TAU_S / (2.0 * dt) * (1.0 - k1 * k1) if dt > 0 else 1.0
        d0 = self.i_l - i_l  # exponential approach from the last tick's current
        avg = i_l + d0 * self._c1
        ms = i_l * i_l + 2.0 * i_l * d0 * self._c1 + d0 * d0 * self._c2
        self.i_l = i_l
        if not self.on or v_in <= 0.0:
            self.duty = 0.0
            self.ripple_a = 0.0
            self.out_a = self.in_a = avg
            self.out_ms = self.in_ms = ms
            return
        v_sw = v_bank + i_l * R_STAGE_OHM
        d = v_sw / v_in
        d = D_MAX if d > D_MAX else (0.0 if d < 0.0 else d)
        self.duty = d
        rip = v_in * d * (1.0 - d) / (L_H * F_SW_HZ)
        self.ripple_a = rip
        self.out_a = avg
        self.out_ms = ms + rip * rip / 12.0
        self.in_a = d * avg + I_Q_A
        ac = avg * math.sqrt(d * (1.0 - d)) * _IN_ATTEN
        self.in_ms = d * d * ms + 2.0 * d * avg * I_Q_A + I_Q_A * I_Q_A + ac * ac

    def input_a(self, i_l, v_in, v_bank):
        """Input current for an inductor current in current control (the
        stage's duty set by the voltages: power in = power out + losses)."""
        if not self.on or v_in <= 0.0:
            return 0.0
        d = (v_bank + i_l * R_STAGE_OHM) / v_in
        d = D_MAX if d > D_MAX else (0.0 if d < 0.0 else d)
        return d * i_l + I_Q_A
