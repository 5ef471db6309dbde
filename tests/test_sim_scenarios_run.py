# micropython
# The shipped scenarios run the real controller on the sim board and show
# what they promise (checked on the trace records, as a user would read them).
from boards.sim import scenario as SC
from boards.sim.runner import run_fast
from trace_records import Records


KEEP = ("t_ms", "prealarm_out", "load_out", "dsg_fet", "block_dsg", "sys_ma", "atc",
        "alt_ma", "block_chg", "fuse_ok")


def run(name, seconds):
    out = Records(KEEP)
    run_fast(SC.load(name), seconds * 1000, out, 1000, "/tmp/bms-sim-test-store")
    assert len(out.recs) == seconds + 1
    return out.recs


def first(recs, cond):
    for r in recs:
        if cond(r):
            return r["t_ms"]
    return None


def test_deep_discharge_prealarm_comes_first_then_loads_go_off():
    recs = run("deep-discharge", 460)
    alarm = first(recs, lambda r: r["prealarm_out"])
    off = first(recs, lambda r: r["t_ms"] > 1000 and not r["load_out"])
    assert alarm is not None and off is not None
    assert off - alarm >= 30000
    for r in recs:
        if r["t_ms"] > off:
            assert not r["dsg_fet"] and "cell_uv" in r["block_dsg"] and r["sys_ma"] == 0


def test_cold_morning_no_charging_until_warm():
    recs = run("cold-morning", 320)
    for r in recs:
        # batteries at -5 .. 3 C; the first second after the first full scan is
        # protection's temperature filter (reported to the lead)
        if 2000 <= r["t_ms"] < 200000:
            assert not r["atc"] and r["alt_ma"] == 0, r["t_ms"]
            assert "temp_low_charge" in r["block_chg"]
    assert max(r["alt_ma"] for r in recs if r["t_ms"] > 290000) > 20000


def test_wrong_fuse_setting_lets_the_fuse_blow():
    recs = run("wrong-fuse", 80)
    assert recs[20]["fuse_ok"] and not recs[-1]["fuse_ok"]
    assert recs[-1]["alt_ma"] == 0
