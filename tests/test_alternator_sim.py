# micropython
# The alternator-charge scenario on the full simulator (real Controller, sim
# board, boards/sim/plant.py): ramp, limit, taper; never back to the starter.
from boards.sim import scenario as SC
from boards.sim.runner import run_fast
from trace_records import Records


def test_alternator_charge_ramps_limits_and_tapers():
    out = Records(("t_ms", "alt_state", "alt_ma", "fuse_ok"))
    run_fast(SC.load("alternator-charge"), 420000, out, 1000, "/tmp/bms-alt-sim-store")
    recs = out.recs
    assert all(r["alt_ma"] >= 0 and r["fuse_ok"] for r in recs)  # never reverses, fuse intact
    ramp = [r for r in recs if r["alt_state"] == "ramping"]
    assert ramp and ramp[0]["alt_ma"] < 30000  # the soft start begins low
    limiting = [r for r in recs if r["alt_state"] == "limiting"]
    assert len(limiting) > 200
    for r in limiting[5:]:
        assert abs(r["alt_ma"] - 90000) <= 1800, r  # +-2 % of 90 A
    first_limit = limiting[0]["t_ms"]
    assert first_limit - ramp[0]["t_ms"] < 12000
    taper = [r for r in recs if r["t_ms"] > first_limit and r["alt_state"] == "following"]
    assert taper and taper[-1]["alt_ma"] < 60000 and taper[-1]["alt_ma"] < taper[0]["alt_ma"]
