# micropython
# The alternator-charge scenario on the full simulator (real Controller, sim
# board, boards/sim/plant.py): ramp, limit, taper; never back to the starter.
import json

from boards.sim import scenario as SC
from boards.sim.runner import run_fast


class Records:
    def __init__(self):
        self.part = ""
        self.recs = []

    def write(self, s):
        self.part += s
        if s == "\n":
            r = json.loads(self.part)
            self.part = ""
            self.recs.append((r["t_ms"], r["alt_state"], r["alt_ma"], r["alt_target_ma"],
                              r["fuse_ok"], r["start_mv"], r["bat_mv"]))


def test_alternator_charge_ramps_limits_and_tapers():
    out = Records()
    run_fast(SC.load("alternator-charge"), 420000, out, 1000, "/tmp/bms-alt-sim-store")
    recs = out.recs
    assert all(r[2] >= 0 and r[4] for r in recs)  # never reverses, fuse intact
    ramp = [r for r in recs if r[1] == "ramping"]
    assert ramp and ramp[0][2] < 30000  # the soft start begins low
    limiting = [r for r in recs if r[1] == "limiting"]
    assert len(limiting) > 200
    for r in limiting[5:]:
        assert abs(r[2] - 90000) <= 1800, r  # +-2 % of 90 A
    first_limit = limiting[0][0]
    assert first_limit - ramp[0][0] < 12000
    taper = [r for r in recs if r[0] > first_limit and r[1] == "following"]
    assert taper and taper[-1][2] < 60000 and taper[-1][2] < taper[0][2]
