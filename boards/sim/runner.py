# Runs the firmware's controller against the simulated board.
#   fast:      a virtual-clock loop (events, controller.tick, trace, plant step)
#              as fast as the host allows;
#   real time: the real asyncio app.main() with the plant advanced by a task
#              on the wall clock, status records on stdout for the live view.
# Both run the same Controller code. Run inside MicroPython:
#   micropython -m boards.sim.runner --scenario NAME|FILE [--fast] [--duration S]
#       [--trace FILE] [--trace-ms N] [--status-ms N] [--store DIR]
# Lines for the host CLI start with a marker: @@STATUS@@, @@DONE@@, @@ERROR@@.
# Ctrl-C (SIGINT) ends a run early: the trace is closed and @@DONE@@ carries
# the totals so far with "interrupted": true.
import json
import sys
import time

from micropython import heap_lock, heap_unlock

from boards.sim import make
from boards.sim import scenario as SC
from boards.sim import trace as T
from boards.sim.clock import RealClock, VirtualClock

TICK_MS = 10
STATUS = "@@STATUS@@ "
DONE = "@@DONE@@ "
ERROR = "@@ERROR@@ "
# settings the plot draws as threshold lines (tools/sim_cli.py)
PLOT_SETTINGS = ("cell_prealarm_mv", "cell_uv_mv", "cell_uv_emergency_mv", "cell_uv_recover_mv",
                 "cell_ov_mv", "cell_ov_release_mv")


class Run:
    """One simulation: the board, the events still to come, the trace, totals."""

    def __init__(self, scn, clock, duration_ms=None, trace_stream=None, trace_ms=1000,
                 store_dir="/tmp/bms-sim-store"):
        self.scn = scn
        self.board = make(scn, clock, store_dir)
        self.clock = clock
        self.duration_ms = scn.duration_ms if duration_ms is None else duration_ms
        self.t_ms = 0  # sim time since the start (not wrapped)
        self._ev = 0
        self.trace = T.TraceWriter(trace_stream, trace_ms) if trace_stream else None
        self.wdt_starved = 0

    def apply_due_events(self):
        ev = self.scn.events
        while self._ev < len(ev) and ev[self._ev][0] <= self.t_ms:
            SC.apply(self.board, ev[self._ev][1], ev[self._ev][2])
            self._ev += 1

    def after_tick(self, ctl):
        self.board.readout.step(self.t_ms, ctl)
        if self.trace and self.trace.due(self.t_ms):
            self.trace.write(T.record(self.t_ms, self.board, ctl))
        if self.board.wdt.starved(self.clock.ticks_ms()):
            self.wdt_starved += 1

    def totals(self, ctl, wall_ms):
        p = self.board.plant
        return {
            "scenario": self.scn.name, "sim_ms": self.t_ms, "wall_ms": wall_ms,
            "speed_x": round(self.t_ms / wall_ms, 1) if wall_ms else 0,
            "alt_ah": round(p.alt_as / 3600.0, 3), "fuse_ok": p.fuse_ok,
            "fuse_blown_ms": p.fuse_blown_ms, "soc_pct": round(p.soc_pct(), 2),
            "wdt_starved": self.wdt_starved, "trace_records": self.trace.count if self.trace else 0,
            "ticks": ctl.ticks,
            "settings": dict((k, getattr(ctl.settings, k)) for k in PLOT_SETTINGS),
        }


def locked_tick(ctl, now_ms):
    """One control tick with the heap locked: an allocation in it raises
    MemoryError, so every scenario run checks that the tick allocates nothing
    (its logic and the simulated board's drivers). The board does not lock it:
    on the Pico W the BLE events are scheduled callbacks that run inside
    whatever Python code is running, and with the heap locked they would fail."""
    heap_lock()
    try:
        ctl.tick(now_ms)
    finally:
        heap_unlock()


def run_fast(scn, duration_ms=None, trace_stream=None, trace_ms=1000, store_dir="/tmp/bms-sim-store",
             state=None):
    """state: a dict that gets "run", "ctl" and "t0" as soon as they exist
    (the totals of a run that Ctrl-C ends)."""
    from bms.controller import Controller

    clock = VirtualClock()
    run = Run(scn, clock, duration_ms, trace_stream, trace_ms, store_dir)
    board = run.board
    ctl = Controller(board.settings, board)
    t0 = time.ticks_ms()
    if state is not None:
        state.update(run=run, ctl=ctl, t0=t0)
    end = run.duration_ms
    while run.t_ms <= end:
        run.apply_due_events()
        locked_tick(ctl, clock.now_ms)
        run.after_tick(ctl)
        board.step(TICK_MS)
        clock.advance(TICK_MS)
        run.t_ms += TICK_MS
    run.t_ms -= TICK_MS
    return run, ctl, time.ticks_diff(time.ticks_ms(), t0)


async def _plant_task(run, app, status_ms):
    import asyncio

    clock = run.clock
    board = run.board
    ctl = app.controller
    last = clock.ticks_ms()
    board.t_ms = last  # the plant's time starts with this task
    next_status = 0
    while run.t_ms < run.duration_ms:
        await asyncio.sleep_ms(TICK_MS // 2)
        now = clock.ticks_ms()
        while time.ticks_diff(now, last) >= TICK_MS:
            run.apply_due_events()
            board.step(TICK_MS)
            last += TICK_MS
            run.t_ms += TICK_MS
        run.after_tick(ctl)
        if run.t_ms >= next_status:
            next_status = run.t_ms + status_ms
            sys.stdout.write(STATUS + T.dumps(T.record(run.t_ms, board, ctl)) + "\n")
    app.running = False


def run_realtime(scn, duration_ms=None, trace_stream=None, trace_ms=1000, status_ms=250,
                 store_dir="/tmp/bms-sim-store", state=None):
    import asyncio
    import app as firmware_app

    clock = RealClock()
    run = Run(scn, clock, duration_ms, trace_stream, trace_ms, store_dir)
    app = firmware_app.App(run.board, clock.ticks_ms)
    errors = app.settings.update(scn.settings)
    if errors:
        raise SC.ScenarioError("settings: " + errors[0][2])
    t0 = time.ticks_ms()
    if state is not None:
        state.update(run=run, ctl=app.controller, t0=t0)

    async def both():
        asyncio.create_task(_plant_task(run, app, status_ms))
        await firmware_app.main(run.board, clock.ticks_ms, app)

    asyncio.run(both())
    totals = run.totals(app.controller, time.ticks_diff(time.ticks_ms(), t0))
    totals["overruns"] = app.overruns
    totals["faults"] = app.faults
    return run, app.controller, totals


def _args(argv):
    opts = {"scenario": "idle", "fast": False, "duration": None, "trace": None,
            "trace-ms": 1000, "status-ms": 250, "store": "/tmp/bms-sim-store"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("--") or a[2:] not in opts:
            raise SC.ScenarioError("runner: unknown argument " + a)
        key = a[2:]
        if key == "fast":
            opts["fast"] = True
            i += 1
            continue
        if i + 1 >= len(argv):
            raise SC.ScenarioError("runner: %s needs a value" % a)
        opts[key] = argv[i + 1]
        i += 2
    return opts


def main(argv):
    try:
        o = _args(argv)
        scn = SC.load(o["scenario"])
        duration_ms = int(float(o["duration"]) * 1000) if o["duration"] else None
        trace_ms = int(o["trace-ms"])
        status_ms = int(o["status-ms"])
    except (SC.ScenarioError, ValueError) as e:
        sys.stdout.write(ERROR + str(e) + "\n")
        return 2
    stream = open(o["trace"], "w") if o["trace"] else None
    state = {}
    try:
        if o["fast"]:
            run, ctl, wall_ms = run_fast(scn, duration_ms, stream, trace_ms, o["store"], state)
            totals = run.totals(ctl, wall_ms)
        else:
            run, ctl, totals = run_realtime(scn, duration_ms, stream, trace_ms, status_ms,
                                            o["store"], state)
    except KeyboardInterrupt:  # Ctrl-C: the run so far
        if "run" not in state:
            return 130
        totals = state["run"].totals(state["ctl"], time.ticks_diff(time.ticks_ms(), state["t0"]))
        totals["interrupted"] = True
    finally:
        if stream:
            stream.close()
    sys.stdout.write(DONE + json.dumps(totals) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
