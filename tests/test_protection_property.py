# micropython
# Random scenarios (fixed seeds) through the protection logic, with the
# safety invariants of tests/protect_invariants.py checked on every tick.
from bms import protection as P
from bms import undervoltage as UV
from bms import reasons as R
from protect_invariants import Invariants
from protect_rig import Lcg, Rig

SEEDS = (1, 2, 3, 5, 8, 13, 21, 34)
TICKS = 12000  # steps per seed
STEP_MS = 50  # coarser than the 10 ms tick: longer scenarios, same rules


def _targets(s):
    """Where the weakest cell heads in a phase: normal, around the pre-alarm,
    below load disconnect, below the emergency floor, near the OV stop."""
    return (3300, s.cell_prealarm_mv + 30, s.cell_prealarm_mv - 20, s.cell_uv_mv - 15,
            s.cell_uv_mv - 80, s.cell_uv_emergency_mv - 30, 3600)


def _settings(g):
    c = {"cell_uv_mv": g.between(2600, 2800), "uv_disconnect_delay_s": g.between(30, 40),
         "prealarm_mode": g.below(2), "remote_function": g.below(3),
         "lowpower_delay_min": 10, "temp_hyst_dc": g.between(10, 50)}
    c["cell_prealarm_mv"] = g.between(max(2850, c["cell_uv_mv"] + 1), 3150)
    return c


def run_seed(seed, ticks=TICKS):
    g = Lcg(seed)
    r = Rig(_settings(g))
    pack, meas = r.pack, r.meas
    pack.full_scan = False
    pack.data_ok = False
    inv = Invariants(r.settings)
    cell_lo, cell_hi, t_lo, t_hi = 3300, 3350, 200, 220
    target, phase_end = 3300, 0
    targets = _targets(r.settings)
    for k in range(ticks):
        if k >= phase_end:  # a new phase: where the weakest cell is heading
            phase_end = k + g.between(200, 1600)
            target = targets[g.below(len(targets))] + g.between(-20, 20)
        cell_lo += (target - cell_lo) // 20 + g.between(-3, 3)
        ev = g.below(1000)
        if k == 50:
            pack.full_scan = True
            pack.data_ok = True
        if ev < 30:
            cell_hi = cell_lo + g.between(0, 450)
        elif ev < 40:
            t_lo += g.between(-30, 30)
            t_hi = t_lo + g.between(0, 200)
        elif ev < 42 and pack.full_scan:
            pack.data_ok = not pack.data_ok
        elif ev < 48:
            meas.sys_mv = meas.bat_mv + (g.between(-800, 900) if g.below(3) == 0 else -100)
        elif ev < 54:
            meas.sys_ma = g.between(-450000, 30000) if g.below(4) == 0 else g.between(-50000, 3000)
        elif ev < 56:
            r.remote.on = not r.remote.on
        elif ev < 58:
            meas.alt_ma = g.between(0, 3000)
        elif ev < 59:
            meas.fet_ddegc = g.between(200, 1150)
        elif ev < 61:  # a battery's own alarm, by kind (0: none; 0x10: a v1 alarm)
            pack.alarm_kinds = g.below(32) if g.below(2) else 0
            pack.battery_alarm = pack.alarm_kinds != 0
        elif ev == 999 and r.p.uv.state == UV.LOAD_OFF and g.below(8) == 0:
            r.now += g.between(60000, 800000)  # a long quiet stretch: low-power off
        cell_lo = min(max(cell_lo, 2200), 3700)
        cell_hi = min(max(cell_hi, cell_lo), 3900)
        r.cells(cell_lo, cell_hi)
        r.temps(t_lo, t_hi)
        p = r.tick(STEP_MS)
        inv.observe(r.now, pack, meas, p)
    return inv


def test_invariants_hold_on_random_scenarios():
    cuts = emergency = 0
    for seed in SEEDS:
        inv = run_seed(seed)
        assert inv.violations == [], (seed, inv.violations)
        cuts += inv.uv_cuts
        emergency += inv.emergency_cuts
    assert cuts > 0  # the scenarios do reach the UV sequence
    assert emergency > 0


def test_checker_catches_a_broken_machine():
    # the checker must fail on a protection that ignores OV and UV
    r = Rig()
    inv = Invariants(r.settings)
    p = r.tick()
    p.atc = p.atd = p.chg_fet = p.dsg_fet = p.charge_out = p.load_out = True
    r.cells(3300, 3800)
    inv.observe(r.now, r.pack, r.meas, p)
    assert inv.violations and "charge path" in inv.violations[0][1]
    inv = Invariants(r.settings)
    p.block_dsg = R.CELL_UV
    inv.observe(r.now, r.pack, r.meas, p)
    assert any("pre-alarm" in v[1] for v in inv.violations)
