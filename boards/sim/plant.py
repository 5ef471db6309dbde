# The physical world around the BMS, for the simulated board: a bank of LFP
# batteries (4 cells each), a lead-acid starter battery, an engine-driven
# alternator, the fused alternator path through the BMS's buck power stage
# (boards/sim/buck.py),
# System+ loads and chargers through the charge/discharge MOSFETs, the Remote
# L/H terminals and the MOSFET temperature.
#
# Floats are fine here (this is not firmware). The electrical network is
# stepped at the control tick; cell state of charge, balancing, and the
# MOSFET temperature at a coarser CELL_STEP_MS to stay fast with 50 batteries.
# After every step the port quantities are also kept as integers (mV, mA,
# 0.1 degC) so that the sim board's Sense can read them without allocating.

from boards.sim.buck import BuckStage

CELL_STEP_MS = 100
# System+ hardware over-current comparator (docs/boards.md): above this the
# latch opens the System+ MOSFETs within microseconds, far inside one sample
SYS_OC_A = 450.0
# the discharge MOSFET's driver in its current limit (hw.dsg_limit): it holds
# the port at DSG_LIMIT_A, and sets the latch once it has for DSG_LIMIT_MS
DSG_LIMIT_A = 80.0
DSG_LIMIT_MS = 50
# the gate's 100 % duty, in 0.01 % (bms/alt_limiter.py DUTY_MAX_CPCT; written
# out because this module also runs in CPython, tests/test_sim_board.py checks)
DUTY_MAX_CPCT = 10000

ENGINE_MODES = ("off", "idle", "cruise", "start")
REMOTE_MODES = ("open", "bridged", "l_low", "h_high")

# Parameters: name -> (default, lo, hi, unit, meaning). None as default means
# "taken from elsewhere" (documented per key). The scenario loader validates
# against this table.
PARAMS = {
    "capacity_ah": (200.0, 5.0, 1000.0, "Ah", "capacity of each battery"),
    "soc_pct": (60.0, 0.0, 100.0, "%", "initial state of charge"),
    "cell_soc_spread_pct": (0.5, 0.0, 30.0, "%", "random initial SoC spread between cells"),
    "cell_capacity_spread_pct": (1.0, 0.0, 30.0, "%", "random capacity spread between cells"),
    "cell_r_mohm": (0.6, 0.05, 50.0, "mOhm", "internal resistance of a cell at 25 C"),
    "battery_wire_mohm": (0.5, 0.0, 50.0, "mOhm", "cabling of one battery to the bank bus"),
    "temp_c": (20.0, -30.0, 70.0, "C", "initial battery temperature"),
    "balance_ma": (500.0, 0.0, 5000.0, "mA", "cell balancer current inside each battery"),
    "balance_start_mv": (3450.0, 3300.0, 3700.0, "mV", "cells above this are balanced down"),
    "seed": (1, 0, 1000000, "", "seed for the per-cell spread"),
    "starter_ah": (70.0, 10.0, 300.0, "Ah", "starter battery capacity"),
    "starter_soc_pct": (80.0, 0.0, 100.0, "%", "starter battery initial state of charge"),
    "starter_r_mohm": (12.0, 1.0, 100.0, "mOhm", "starter battery internal resistance"),
    "alt_reg_mv": (14300.0, 13500.0, 15000.0, "mV", "alternator regulator voltage"),
    "alt_idle_a": (50.0, 0.0, 400.0, "A", "alternator current capability at idle"),
    "alt_cruise_a": (120.0, 0.0, 400.0, "A", "alternator current capability at cruise"),
    "alt_field_ms": (200.0, 10.0, 2000.0, "ms", "field lag: time constant of the alternator's available current"),
    "alt_wire_mohm": (4.0, 0.2, 200.0, "mOhm", "starter battery to BMS wiring (both poles)"),
    "stage_gain_pct": (-2.0, -5.0, 5.0, "%", "power stage current error: the current is this much off its reference"),
    "stage_offset_a": (-0.3, -0.5, 0.5, "A", "power stage current offset"),
    "fuse_a": (None, 5.0, 400.0, "A", "alternator path fuse fitted (default: the alt_fuse_a setting)"),
    "fuse_melt_s": (40.0, 1.0, 10000.0, "s", "fuse I2t budget, in rated-current-squared seconds"),
    "fet_alt_mohm": (1.0, 0.1, 50.0, "mOhm", "alternator port input switch on-resistance"),
    "fet_sys_mohm": (0.5, 0.1, 50.0, "mOhm", "System+ MOSFETs on-resistance"),
    "fet_diode_mv": (750.0, 300.0, 1500.0, "mV", "forward drop of a System+ MOSFET's body diode"),
    "sys_cap_mf": (0.0, 0.0, 500.0, "mF", "capacitors on System+ (an inverter's DC bus); 0: none"),
    "sys_cap_mohm": (2.0, 0.1, 50.0, "mOhm", "System+ wiring and capacitor ESR: the inrush path"),
    "fet_rth_k_per_w": (2.5, 0.1, 50.0, "K/W", "MOSFET heatsink thermal resistance"),
    "fet_tau_s": (90.0, 1.0, 3600.0, "s", "MOSFET heatsink thermal time constant"),
    "ambient_c": (25.0, -40.0, 85.0, "C", "air temperature around the BMS"),
    "load_on_load_out": (0, 0, 1, "", "1: System+ loads obey the Load disconnect output (inverter remote)"),
    "charger_on_charge_out": (0, 0, 1, "", "1: System+ chargers obey the Charge disconnect output"),
    "charger_mv": (14200.0, 12000.0, 15000.0, "mV", "constant-voltage level of a System+ charger"),
    "charger_mohm": (20.0, 1.0, 1000.0, "mOhm", "charger voltage droop (CV slope)"),
    "crank_a": (150.0, 0.0, 1000.0, "A", "starter motor current while cranking"),
    "crank_s": (2.0, 0.1, 30.0, "s", "cranking time of an engine start"),
    "bms_ma": (18.0, 0.0, 1000.0, "mA", "BMS own consumption from the bank"),
}

# LFP open-circuit voltage (mV) against state of charge (fraction). Beyond
# 0..1 the curve runs steeply on so that over- and under-charge show up.
OCV_SOC = (-0.05, 0.0, 0.01, 0.03, 0.06, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8,
           0.9, 0.95, 0.98, 0.995, 1.0, 1.01, 1.02, 1.05, 1.1)
OCV_MV = (1500.0, 2500.0, 2800.0, 3000.0, 3120.0, 3200.0, 3250.0, 3275.0, 3290.0,
          3300.0, 3310.0, 3325.0, 3335.0, 3345.0, 3370.0, 3420.0, 3500.0, 3550.0,
          3650.0, 3800.0, 4200.0, 4500.0)
SOC_MIN = OCV_SOC[0]
SOC_MAX = OCV_SOC[-1]


def ocv_mv(soc):
    """LFP cell open-circuit voltage in mV for a state of charge (fraction)."""
    if soc <= SOC_MIN:
        return OCV_MV[0]
    if soc >= SOC_MAX:
        return OCV_MV[-1]
    lo, hi = 0, len(OCV_SOC) - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if OCV_SOC[mid] <= soc:
            lo = mid
        else:
            hi = mid
    s0 = OCV_SOC[lo]
    v0 = OCV_MV[lo]
    return v0 + (OCV_MV[hi] - v0) * (soc - s0) / (OCV_SOC[hi] - s0)


def starter_ocv(soc):
    """Lead-acid 12 V battery resting voltage (V): 11.9 V empty to 12.8 V full."""
    if soc < 0.0:
        soc = 0.0
    return 11.9 + 0.9 * soc


def _spread(state, pct):
    """Next value of a small LCG, and a deviation in -pct..+pct percent (fraction)."""
    state = (state * 1103515245 + 12345) & 0x7FFFFFFF
    return state, (((state >> 8) % 20001) - 10000) / 10000.0 * pct / 100.0


class Plant:
    def __init__(self, batteries=4, params=None, fuse_a=100):
        if not 1 <= batteries <= 50:
            raise ValueError("batteries: %d outside 1..50" % batteries)
        p = {}
        for k in PARAMS:
            p[k] = PARAMS[k][0]
        if params:
            for k in params:
                if k not in PARAMS:
                    raise ValueError("unknown plant parameter " + k)
                p[k] = params[k]
        if p["fuse_a"] is None:
            p["fuse_a"] = fuse_a
        self.p = p
        self.batteries = batteries
        n = batteries * 4
        # cells: state of charge, capacity (A s), resistance (ohm at 25 C)
        self.soc = [0.0] * n
        self.cap_as = [0.0] * n
        self.r25 = [p["cell_r_mohm"] / 1000.0] * n
        self.cell_mv = [0] * n  # integer terminal voltages for the battery chain
        self._ocv = [0.0] * n  # work lists of the slow step
        self._r_cell = [0.0] * n
        self._ocv_b = [0.0] * batteries
        self._r_b = [0.0] * batteries
        self.temp_c = [float(p["temp_c"])] * batteries
        self.bat_a = [0.0] * batteries  # current into each battery
        seed = int(p["seed"]) or 1
        for i in range(n):
            seed, d = _spread(seed, p["cell_soc_spread_pct"])
            self.soc[i] = p["soc_pct"] / 100.0 + d
            seed, d = _spread(seed, p["cell_capacity_spread_pct"])
            self.cap_as[i] = p["capacity_ah"] * 3600.0 * (1.0 + d)
        self.wire_ohm = p["battery_wire_mohm"] / 1000.0
        # starter battery and alternator
        self.sb_soc = p["starter_soc_pct"] / 100.0
        self.sb_cap_as = p["starter_ah"] * 3600.0
        self.sb_r = p["starter_r_mohm"] / 1000.0
        self.engine = "off"
        self.crank_left_ms = 0
        self.alt_out_a = 0.0  # what the alternator delivers
        # BMS switches (set by the sim board's drivers)
        self.alt_duty_cpct = 0
        self.chg_on = False
        self.dsg_on = False
        self.load_out = False
        self.charge_out = False
        self.prealarm_out = False
        self.dsg_limit = False  # the discharge driver in its current limit (start)
        self.sys_oc_latched = False  # the comparator's latch: System+ gates disabled
        self.sys_oc_trips = 0  # times the latch was set (for tests and the trace)
        # System+ side
        self.load_a = 0.0
        self.charger_a = 0.0
        # fuse
        self.fuse_heat = 0.0
        self.fuse_ok = True
        self.fuse_blown_ms = -1
        self.fuse_ms = 0.0  # mean square of the fuse current over the last step (A^2)
        self.stage = BuckStage(1.0 + p["stage_gain_pct"] / 100.0, p["stage_offset_a"])
        self.fet_c = float(p["ambient_c"])
        self.remote = "bridged"  # the factory wire loop is fitted
        # network state
        self.v_bank = 0.0
        self.v_start = 0.0
        self.v_sys = 0.0
        self.alt_a = 0.0
        self.sys_a = 0.0
        self._q_as = 0.0  # bank charge since the last cell step
        self._cell_ms = 0
        self.t_ms = 0
        self.alt_as = 0.0  # charge delivered by the alternator (A s)
        # constants of the fast step
        self._chg_v = p["charger_mv"] / 1000.0
        self._load_follows = bool(p["load_on_load_out"])
        self._chg_follows = bool(p["charger_on_charge_out"])
        self._chg_g = 1000.0 / p["charger_mohm"]
        self._fet_sys_r = p["fet_sys_mohm"] / 1000.0
        self._diode_v = p["fet_diode_mv"] / 1000.0
        self.diode_w = 0.0  # heat in a System+ body diode now
        self._cap_f = p["sys_cap_mf"] / 1000.0
        self._dc_link_r = self._fet_sys_r + p["sys_cap_mohm"] / 1000.0
        self.v_cap = 0.0  # the capacitors start empty: the port is open at boot
        self._limit_ms = 0
        self._v_reg = p["alt_reg_mv"] / 1000.0
        self._r_cable = p["alt_wire_mohm"] / 1000.0
        self._r_wire = self._r_cable + p["fet_alt_mohm"] / 1000.0
        self._field_dt_ms = 0
        self._fuse_inv2 = 1.0 / (p["fuse_a"] * p["fuse_a"])
        self._fuse_melt = p["fuse_melt_s"]
        self._bms_a = p["bms_ma"] / 1000.0
        self._in_a = 0.0  # the stage's input current (fuse, wiring) at the last step
        self._i_max = self._other = self._need = self._vs = 0.0  # the node solve's terms
        self._held = False
        self._alt_max_a = 0.0  # capability of the engine state
        self._alt_avail_a = 0.0  # what the field lets the alternator give now
        self._field = 0.0
        self.bat_mv = self.start_mv = self.sys_mv = self.alt_ma = self.sys_ma = 0
        self._starter_state()
        self._update_cells(0.0)
        self.v_bank = self._v0
        self.v_start = self._sb_ocv
        self.step(0)
        self._publish_slow()

    # ---- commands from scenarios
    def set_engine(self, mode):
        if mode not in ENGINE_MODES:
            raise ValueError("engine mode %r not one of %s" % (mode, ENGINE_MODES))
        self.crank_left_ms = int(self.p["crank_s"] * 1000) if mode == "start" else 0
        self.engine = mode
        self._alt_max_a = self.alt_capability_a()

    def set_remote(self, mode):
        if mode not in REMOTE_MODES:
            raise ValueError("remote mode %r not one of %s" % (mode, REMOTE_MODES))
        self.remote = mode
        self._publish_slow()

    def replace_fuse(self):
        self.fuse_heat = 0.0
        self.fuse_ok = True
        self.fuse_blown_ms = -1

    def alt_capability_a(self):
        if self.engine == "idle" or (self.engine == "start" and not self.crank_left_ms):
            return self.p["alt_idle_a"]
        if self.engine == "cruise":
            return self.p["alt_cruise_a"]
        return 0.0

    # ---- the fast electrical step (kept lean: it runs every control tick)
    def step(self, dt_ms):
        dt = dt_ms / 1000.0
        if dt_ms != self._field_dt_ms:
            self._field = dt / (self.p["alt_field_ms"] / 1000.0 + dt)
            self._field_dt_ms = dt_ms
        v_bank = self.v_bank
        self._system_plus(dt, dt_ms, v_bank)
        # starter node and alternator path, solved together (implicitly: the
        # starter battery's charge resistance is high, and an explicit step
        # would make the node ring from tick to tick). The alternator holds
        # its regulator voltage up to its current capability; beyond that the
        # starter battery makes up the rest and the node sags.
        # Path: wiring and fuse, the input switch, the buck stage
        # (boards/sim/buck.py): the stage's inductor current is its reference
        # while it has the headroom; without it (or reversed) the stage is at
        # its highest duty and the path a resistance, which conducts both
        # ways: keeping current from flowing back to the starter is the
        # firmware's job, not the plant's. (The bank's own resistance is seen
        # once: referenced to its open-circuit voltage plus the System+ share.)
        other = 0.0
        if self.crank_left_ms > 0:
            self.crank_left_ms = max(0, self.crank_left_ms - dt_ms)
            if self.crank_left_ms:
                other = self.p["crank_a"]
            else:  # the engine runs
                self.engine = "idle"
                self._alt_max_a = self.p["alt_idle_a"]
        # field lag: engine speed and field current take a while to follow
        # an engine-state change, so idle -> cruise is no instant step
        i_max = self._alt_avail_a + (self._alt_max_a - self._alt_avail_a) * self._field
        self._alt_avail_a = i_max
        st = self.stage
        st.command(self.alt_duty_cpct if self.fuse_ok else 0)
        r_bank = self._r_bank
        v_b0 = self._v0 + (self.sys_a - self._bms_a) * r_bank
        self._i_max = i_max
        self._other = other
        i_l = 0.0
        if st.on:
            # the stage at its highest duty first: the most it can pass
            # (negative: back through the high-side switch, the bank above
            # the starter)
            g_s, k = st.saturated_path(r_bank)
            a = self._path(1.0 / (self._r_wire + 1.0 / g_s), v_b0 * k)
            i_l = a * k
            if i_l > st.ref_a:
                # current control: the stage takes what its reference needs
                # from its input (duty from the last tick's voltages)
                i_l = st.ref_a
                v_in = self.v_start - self._in_a * self._r_wire
                a = self._sink(st.input_a(i_l, v_in, v_b0 + i_l * r_bank))
        else:
            a = self._sink(0.0)
        v_start = self._vs
        held = self._held
        need = self._need
        self.alt_out_a = (need if need > 0.0 else 0.0) if held else i_max
        self._in_a = a
        self.v_start = v_start
        st.finish(i_l, v_start - a * self._r_wire, v_b0 + i_l * r_bank, dt)
        self.alt_a = a = st.out_a  # the port current, tick average
        # fuse I2t of the true current (mean square over the step, ripple
        # included): heats above its rating, cools below it
        ms = st.in_ms
        self.fuse_ms = ms
        if ms != 0.0 or self.fuse_heat > 0.0:
            h = self.fuse_heat + (ms * self._fuse_inv2 - 1.0) * dt
            self.fuse_heat = h if h > 0.0 else 0.0
            if h >= self._fuse_melt:
                self.fuse_ok = False
                self.fuse_blown_ms = self.t_ms
                st.command(0)
                st.i_l = 0.0
                i_l = 0.0
                self.alt_a = 0.0
        i_bank = i_l + self.sys_a - self._bms_a
        self.v_bank = self._v0 + i_bank * self._r_bank
        self._q_as += i_bank * dt
        self.t_ms += dt_ms
        self._cell_ms += dt_ms
        if self._cell_ms >= CELL_STEP_MS:
            self._slow_step(self._cell_ms / 1000.0)
            self._cell_ms = 0
        self.bat_mv = int(self.v_bank * 1000.0)
        # the BMS reads its own terminal, after the starter cable's drop
        self.start_mv = int((v_start - self._in_a * self._r_cable) * 1000.0)
        self.sys_mv = int(self.v_sys * 1000.0)
        self.alt_ma = int(i_l * 1000.0)  # the sensor samples the present current
        self.sys_ma = int(self.sys_a * 1000.0)

    # ---- System+ (part of the fast step)
    def _system_plus(self, dt, dt_ms, v_bank):
        # Chargers and loads meet at the port; what is left over flows into
        # or out of the bank only through the FET for that direction. Loads
        # and chargers wired to the BMS outputs switch with them.
        charger = self.charger_a if (self.charge_out or not self._chg_follows) else 0.0
        cap = self._cap_f
        v_node = self.v_cap if cap else v_bank
        chg_a = 0.0
        if charger > 0.0:
            chg_a = (self._chg_v - v_node) * self._chg_g
            chg_a = 0.0 if chg_a < 0.0 else (charger if chg_a > charger else chg_a)
        net = chg_a - (self.load_a if (self.load_out or not self._load_follows) else 0.0)
        # the latch disables the gate drivers, whatever the firmware drives
        chg_on = self.chg_on and not self.sys_oc_latched
        dsg_on = self.dsg_on and not self.sys_oc_latched
        limit = dsg_on and self.dsg_limit
        # a capacitor bank on the port (an inverter) off the bank's voltage:
        # closing onto it equalises it within microseconds (through
        # _dc_link_r), or at the discharge driver's 80 A limit
        eq_a = 0.0  # equalising current out of the bank, sample average
        if cap:
            d = v_bank - v_node
            if d > 0.0 and dsg_on:
                if limit:
                    dv = (DSG_LIMIT_A + net) * dt / cap
                    if v_node + dv < v_bank:  # at the limit the whole sample
                        self.v_cap = v_node + dv if v_node + dv > 0.0 else 0.0
                        self.sys_a = -DSG_LIMIT_A
                        self.v_sys = self.v_cap
                        self.diode_w = 0.0
                        self._limit_step(dt_ms)
                        return
                    eq_a = cap * d / dt
                elif d > SYS_OC_A * self._dc_link_r:
                    self._trip_latch()
                    chg_on = dsg_on = False
                else:
                    eq_a = cap * d / dt
            elif d < 0.0 and chg_on:
                if -d > SYS_OC_A * self._dc_link_r:
                    self._trip_latch()
                    chg_on = dsg_on = False
                else:
                    eq_a = cap * d / dt
        if (net > SYS_OC_A or net < -SYS_OC_A) and ((net > 0.0 and chg_on) or (net < 0.0 and dsg_on)):
            self._trip_latch()
            chg_on = dsg_on = False
        if limit and net < -DSG_LIMIT_A and dsg_on:
            # no capacitor, loads above the limit: the driver holds 80 A and
            # the loads (taken as resistive) see the voltage that leaves them
            self.sys_a = -DSG_LIMIT_A
            self.v_sys = v_bank * DSG_LIMIT_A / -net
            self.diode_w = 0.0
            if cap:
                self.v_cap = self.v_sys
            self._limit_step(dt_ms)
            return
        self._limit_ms = 0
        flows = (net > 0.0 and chg_on) or (net < 0.0 and dsg_on)
        if flows or eq_a:
            f = net if flows else 0.0
            self.sys_a = f - eq_a
            # with the other MOSFET off its body diode carries the current
            diode = flows and (not dsg_on if net > 0.0 else not chg_on)
            drop = self._diode_v if diode else 0.0
            if f < 0.0:
                drop = -drop
            self.diode_w = drop * f
            self.v_sys = v_bank + f * self._fet_sys_r + drop
        elif net == 0.0 and chg_on and dsg_on:
            self.sys_a = 0.0
            self.diode_w = 0.0
            self.v_sys = v_bank
        elif cap:
            # port cut off: chargers fill the capacitors, loads drain them
            self.sys_a = 0.0
            self.diode_w = 0.0
            v = v_node + net * dt / cap
            self.v_sys = 0.0 if v < 0.0 else v
        else:
            self.sys_a = 0.0
            self.diode_w = 0.0
            # port cut off: a charger holds its own voltage unless the
            # loads take more than it gives
            self.v_sys = self._chg_v if (charger > 0.0 and net >= 0.0) else 0.0
        if cap:
            self.v_cap = self.v_sys

    def _trip_latch(self):
        # the comparator trips on the rising edge, microseconds into the
        # sample: the sample's charge is that of those microseconds, nil
        self.sys_oc_latched = True
        self.sys_oc_trips += 1

    def _limit_step(self, dt_ms):
        # the driver's SOA timer: held at its limit this long, it sets the latch
        self._limit_ms += dt_ms
        if self._limit_ms >= DSG_LIMIT_MS:
            self._trip_latch()
            self._limit_ms = 0

    def _path(self, g, vb):
        """Starter node with a path of conductance g to the voltage vb: the
        path's current; the node voltage, whether the regulator holds it and
        what it is asked for are left in _vs, _held, _need."""
        sb_ocv = self._sb_ocv
        r_chg = self._sb_r_chg
        i_max = self._i_max
        other = self._other
        a = g * (self._v_reg - vb)
        need = (self._v_reg - sb_ocv) / r_chg + other + a
        self._need = need
        self._held = i_max > 0.0 and need <= i_max
        if self._held:
            self._vs = self._v_reg
            return a
        for r_s in (r_chg, self.sb_r):
            a = g * (sb_ocv + (i_max - other) * r_s - vb) / (1.0 + g * r_s)
            spare = i_max - other - a  # > 0: the starter battery charges
            if (spare > 0.0) == (r_s == r_chg):
                break
        self._vs = sb_ocv + spare * r_s
        return a

    def _sink(self, a):
        """Starter node with the path taking the current a from it."""
        i_max = self._i_max
        need = (self._v_reg - self._sb_ocv) / self._sb_r_chg + self._other + a
        self._need = need
        self._held = i_max > 0.0 and need <= i_max
        if self._held:
            self._vs = self._v_reg
        else:
            spare = i_max - self._other - a
            self._vs = self._sb_ocv + spare * (self._sb_r_chg if spare > 0.0 else self.sb_r)
        return a

    # ---- the slow step: state of charge, balancing, temperatures
    def _slow_step(self, dt):
        p = self.p
        i_bank = self._q_as / dt
        self._q_as = 0.0
        # slow quantities integrate the currents at this instant
        d = self.v_start - self._sb_ocv
        self.sb_soc += d * dt / (self._sb_r_chg if d > 0.0 else self.sb_r) / self.sb_cap_as
        self.alt_as += self.alt_a * dt
        self._starter_state()
        # MOSFET heating from the currents at this instant (the heatsink's
        # time constant is far longer than this step)
        watts = (self.fuse_ms * p["fet_alt_mohm"]
                 + self.sys_a * self.sys_a * p["fet_sys_mohm"]) / 1000.0 + self.diode_w
        k = dt / (p["fet_tau_s"] + dt)
        self.fet_c += (p["ambient_c"] + watts * p["fet_rth_k_per_w"] - self.fet_c) * k
        self._update_cells(i_bank, dt)
        self._publish_slow()

    def _starter_state(self):
        # A lead-acid battery takes less and less charge as it fills: model
        # that as a charge resistance rising with state of charge.
        soc = self.sb_soc
        self._sb_ocv = starter_ocv(soc)
        self._sb_r_chg = self.sb_r * (1.0 + 15.0 * (soc if soc > 0.0 else 0.0))

    def _update_cells(self, i_bank, dt=0.0):
        """Share the bank current between batteries, integrate SoC, balance,
        and work out the bank's Thevenin equivalent (v0, r) for the fast step.
        Each cell's OCV is looked up once, at the state before this step."""
        p = self.p
        soc = self.soc
        cap = self.cap_as
        ocv = self._ocv
        r_cell = self._r_cell
        n = self.batteries
        ocv_b = self._ocv_b
        r_b = self._r_b
        g_sum = 0.0
        gv_sum = 0.0
        for b in range(n):
            t = self.temp_c[b]
            cold = 1.0 + 0.03 * (25.0 - t) if t < 25.0 else 1.0
            v = 0.0
            r = self.wire_ohm
            for i in range(b * 4, b * 4 + 4):
                o = ocv_mv(soc[i])
                ocv[i] = o
                v += o
                rc = self.r25[i] * cold
                r_cell[i] = rc
                r += rc
            vb = v / 1000.0
            ocv_b[b] = vb
            r_b[b] = r
            g_sum += 1.0 / r
            gv_sum += vb / r
        v0 = gv_sum / g_sum
        r_bank = 1.0 / g_sum
        v_bank = v0 + i_bank * r_bank
        bal_q = p["balance_ma"] / 1000.0 * dt
        bal_mv = p["balance_start_mv"]
        mv = self.cell_mv
        for b in range(n):
            ib = (v_bank - ocv_b[b]) / r_b[b]
            self.bat_a[b] = ib
            lo_i = hi_i = b * 4
            for i in range(b * 4, b * 4 + 4):
                if dt:
                    x = soc[i] + ib * dt / cap[i]
                    soc[i] = SOC_MIN if x < SOC_MIN else (SOC_MAX if x > SOC_MAX else x)
                mv[i] = int(ocv[i] + ib * r_cell[i] * 1000.0)
                if mv[i] < mv[lo_i]:
                    lo_i = i
                if mv[i] > mv[hi_i]:
                    hi_i = i
            # active balancer: a cell well above the lowest one, and above
            # the start level, moves charge to the lowest cell
            if bal_q > 0.0 and mv[hi_i] > bal_mv:
                lo_mv = mv[lo_i]
                for i in range(b * 4, b * 4 + 4):
                    if mv[i] > bal_mv and mv[i] > lo_mv + 10:
                        soc[i] -= bal_q / cap[i]
                        soc[lo_i] += bal_q / cap[lo_i]
        self._v0 = v0
        self._r_bank = r_bank

    def _publish_slow(self):
        self.fet_ddegc = int(self.fet_c * 10.0)
        # Remote terminals as the BMS front end sees them (docs/protection.md):
        # L pulled up to the bank by 22 kohm, H down to minus by 100 kohm, so
        # a wire loop between them sits at 100/122 of the bank voltage.
        mode = self.remote
        bat = self.bat_mv
        if mode == "open":
            self.remote_l_mv, self.remote_h_mv = bat, 0
        elif mode == "bridged":
            self.remote_l_mv = self.remote_h_mv = bat * 100 // 122
        elif mode == "l_low":
            self.remote_l_mv, self.remote_h_mv = 20, 0
        else:  # h_high: an external switch drives H to the bank voltage
            self.remote_l_mv, self.remote_h_mv = bat, bat - 200

    # ---- views for traces and tests
    def temp_ddegc(self, b):
        return int(self.temp_c[b] * 10.0)

    def soc_pct(self):
        n = len(self.soc)
        return sum(self.soc) * 100.0 / n

    def cell_extremes(self):
        """(min_mv, min_index, max_mv, max_index) over all cells (flat index)."""
        mv = self.cell_mv
        lo = hi = 0
        for i in range(1, len(mv)):
            if mv[i] < mv[lo]:
                lo = i
            if mv[i] > mv[hi]:
                hi = i
        return mv[lo], lo, mv[hi], hi
