# Simulator figures (runs inside MicroPython; tools/bench.py collects them):
#   sim_speed_x_4batt, sim_speed_x_50batt: simulated seconds per wall second of
#     the fast runner (plant + battery chain + real Controller at a 10 ms tick),
#     alternator charging at cruise with a System+ load; best of several runs.
#   heap_after_boot_bytes: heap held by the firmware after boot: importing the
#     app and building it on a board (the sim board's own heap left out).
# Prints one JSON line. --quick keeps it to a few seconds.
import gc
import json
import sys
import time

QUICK = "--quick" in sys.argv


def heap_after_boot():
    gc.collect()
    base = gc.mem_alloc()
    import app

    gc.collect()
    imported = gc.mem_alloc() - base
    from boards.sim import make
    from boards.sim.scenario import parse

    scn = parse({"name": "bench", "batteries": 4}, "bench")
    board = make(scn, None, "/tmp/bms-bench-store")
    gc.collect()
    before = gc.mem_alloc()
    the_app = app.App(board)
    gc.collect()
    built = gc.mem_alloc() - before
    return imported + built, the_app


def speed(batteries, sim_s, repeats):
    from boards.sim.runner import run_fast
    from boards.sim.scenario import parse

    scn = parse({"name": "bench", "batteries": batteries, "duration_s": sim_s, "events": [
        {"t_s": 0, "load_a": 20}, {"t_s": 0, "engine": "cruise"}]}, "bench")
    best = 0.0
    for _ in range(repeats):
        gc.collect()
        t0 = time.ticks_us()
        run, _ctl, _wall = run_fast(scn, None, None, 1000, "/tmp/bms-bench-store")
        us = time.ticks_diff(time.ticks_us(), t0)
        best = max(best, run.t_ms * 1000.0 / us)
    return round(best, 1)


def main():
    heap, _app = heap_after_boot()
    out = {"heap_after_boot_bytes": heap}
    if QUICK:
        out["sim_speed_x_4batt"] = speed(4, 20, 2)
        out["sim_speed_x_50batt"] = speed(50, 5, 1)
    else:
        out["sim_speed_x_4batt"] = speed(4, 120, 5)
        out["sim_speed_x_50batt"] = speed(50, 30, 3)
    print(json.dumps(out))


main()
