"""bms-sim: run the firmware on the simulated board.

The controller and the plant run inside the MicroPython unix port
(boards/sim/runner.py); this host side checks the scenario, starts
MicroPython, shows a live dashboard (real time) or a progress line (--fast),
then a one-screen summary, and optionally a plot of the trace.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tools import mpy

ROOT = mpy.ROOT
DEFAULT_SCENARIO = "alternator-charge"
FALLBACK_SCENARIO = "engine-cycles"
MARK_STATUS = "@@STATUS@@ "
MARK_DONE = "@@DONE@@ "
MARK_ERROR = "@@ERROR@@ "


def _scenario_module():
    for p in (str(ROOT), str(ROOT / "firmware")):
        if p not in sys.path:
            sys.path.insert(0, p)
    from boards.sim import scenario

    return scenario


def default_scenario():
    sc = _scenario_module()
    return DEFAULT_SCENARIO if DEFAULT_SCENARIO in sc.names() else FALLBACK_SCENARIO


def load_scenario(name):
    """Check the scenario on the host first: a mistake gets a clear message at once."""
    sc = _scenario_module()
    if name.endswith(".json") or "/" in name:
        name = str(Path(name).resolve())
        try:
            text = Path(name).read_text(encoding="utf-8")
        except OSError as e:
            raise sc.ScenarioError("%s: cannot read (%s)" % (name, e.strerror)) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise sc.ScenarioError("%s: not valid JSON at line %d column %d: %s"
                                   % (Path(name).name, e.lineno, e.colno, e.msg)) from None
        return name, sc.parse(data, Path(name).name)
    return name, sc.load(name)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bms-sim", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", help="shipped scenario name or a JSON file "
                    "(default: %s)" % DEFAULT_SCENARIO)
    ap.add_argument("--fast", action="store_true", help="as fast as possible (virtual clock)")
    ap.add_argument("--duration", type=float, help="seconds of simulated time (default: the scenario's)")
    ap.add_argument("--trace", help="write the trace (JSON lines) to this file")
    ap.add_argument("--trace-ms", type=int, default=1000, help="trace interval in sim ms (default 1000)")
    ap.add_argument("--plot", help="draw cells, currents and gate/output states to this PNG")
    ap.add_argument("--list", action="store_true", help="list the shipped scenarios and exit")
    ap.add_argument("--plain", action="store_true", help="no live dashboard: plain status lines")
    ap.add_argument("--web", type=int, metavar="PORT",
                    help="serve the phone page on http://127.0.0.1:PORT/ with this simulator behind it")
    args = ap.parse_args(argv)
    if args.trace_ms < 10:
        ap.error("--trace-ms must be at least 10")
    if args.duration is not None and args.duration <= 0:
        ap.error("--duration must be positive")
    return args


def runner_command(scenario, args, trace_path, store_dir):
    cmd = mpy.command() + ["-m", "boards.sim.runner", "--scenario", scenario,
                           "--trace", trace_path, "--trace-ms", str(args.trace_ms),
                           "--store", store_dir]
    if args.fast:
        cmd.append("--fast")
    if args.duration is not None:
        cmd += ["--duration", str(args.duration)]
    return cmd


# ---------------------------------------------------------------- live view
def _onoff(v):
    return "[green]on[/]" if v else "[red]off[/]"


def dashboard(rec, scn):
    from rich.columns import Columns
    from rich.panel import Panel
    from rich.table import Table

    t = rec["t_ms"] / 1000.0
    cells = Table.grid(padding=(0, 1))
    cells.add_row("min cell", "%d mV @ %s" % (rec["cell_min_mv"], rec["cell_min_at"]))
    cells.add_row("max cell", "%d mV @ %s" % (rec["cell_max_mv"], rec["cell_max_at"]))
    cells.add_row("bank SoC", "%.1f %%" % rec["soc_pct"])
    cells.add_row("link", "ok, %d seen" % rec["link_seen"] if rec["link_ok"]
                  else "[red]lost: %s[/]" % ", ".join(rec["link_lost"]))
    ports = Table.grid(padding=(0, 1))
    ports.add_row("Li-ion", "%6.2f V" % (rec["bat_mv"] / 1000))
    ports.add_row("starter", "%6.2f V  engine %s" % (rec["start_mv"] / 1000, rec["engine"]))
    ports.add_row("System+", "%6.2f V  %+7.1f A" % (rec["sys_mv"] / 1000, rec["sys_ma"] / 1000))
    ports.add_row("alternator", "%+7.1f A  fuse %s" % (
        rec["alt_ma"] / 1000, "ok" if rec["fuse_ok"] else "[red]BLOWN[/]"))
    ports.add_row("MOSFETs", "%5.1f C" % (rec["fet_dc"] / 10))
    gates = Table.grid(padding=(0, 1))
    for k in ("chg_fet", "dsg_fet", "load_out", "charge_out", "prealarm_out"):
        gates.add_row(k, _onoff(rec[k]))
    gates.add_row("alt duty", "%5.1f %%" % (rec["alt_duty"] / 100))
    gates.add_row("led", rec["led"])
    prot = Table.grid(padding=(0, 1))
    prot.add_row("state", rec["prot_state"])
    prot.add_row("ATC / ATD", "%s / %s" % (_onoff(rec["atc"]), _onoff(rec["atd"])))
    prot.add_row("no charge", ", ".join(rec["block_chg"]) or "-")
    prot.add_row("no discharge", ", ".join(rec["block_dsg"]) or "-")
    prot.add_row("warnings", ", ".join(rec["warn"]) or "-")
    prot.add_row("remote", "%s (%s)" % (rec["remote_mode"], rec["remote_terminals"]))
    alt = Table.grid(padding=(0, 1))
    alt.add_row("port", rec["alt_state"])
    alt.add_row("target", "%.1f A" % (rec["alt_target_ma"] / 1000))
    alt.add_row("limited by", rec["alt_limit_reason"])
    alt.add_row("fault", ", ".join(rec["alt_fault"]) or "-")
    return Panel(Columns([Panel(cells, title="battery bank"), Panel(ports, title="ports"),
                          Panel(gates, title="gates / outputs"), Panel(prot, title="protection"),
                          Panel(alt, title="alternator port")]),
                 title="bms-sim  %s  t = %d:%02d" % (scn.name, int(t) // 60, int(t) % 60),
                 subtitle="Ctrl-C stops")


def plain_line(rec):
    return ("t=%7.1fs cells %4d..%4d mV bank %5.2f V start %5.2f V alt %+6.1f A sys %+6.1f A "
            "prot %s alt %s duty %.1f%%" % (
                rec["t_ms"] / 1000, rec["cell_min_mv"], rec["cell_max_mv"], rec["bat_mv"] / 1000,
                rec["start_mv"] / 1000, rec["alt_ma"] / 1000, rec["sys_ma"] / 1000,
                rec["prot_state"], rec["alt_state"], rec["alt_duty"] / 100))


# ---------------------------------------------------------------- summary
def summarize(records, done):
    """Key facts of a run, from its trace records and the runner's totals."""
    s = {"records": len(records)}
    if done:
        s.update(done)
    if not records:
        return s
    lo = min(records, key=lambda r: r["cell_min_mv"])
    hi = max(records, key=lambda r: r["cell_max_mv"])
    s["cell_low"] = (lo["cell_min_mv"], lo["cell_min_at"], lo["t_ms"])
    s["cell_high"] = (hi["cell_max_mv"], hi["cell_max_at"], hi["t_ms"])
    s["start_min_mv"] = min(r["start_mv"] for r in records)
    s["alt_max_ma"] = max(r["alt_ma"] for r in records)
    s["fet_max_dc"] = max(r["fet_dc"] for r in records)
    step = records[1]["t_ms"] - records[0]["t_ms"] if len(records) > 1 else 0
    s["no_charge_s"] = sum(step for r in records if not r["atc"]) / 1000
    s["no_discharge_s"] = sum(step for r in records if not r["atd"]) / 1000
    # the alternator port changes state often (engage, ramp, follow): count
    # its time per state instead of listing every change
    alt_s = {}
    for r in records:
        alt_s[r["alt_state"]] = alt_s.get(r["alt_state"], 0) + step / 1000
    s["alt_states_s"] = alt_s
    s["alt_changes"] = sum(1 for a, b in zip(records, records[1:]) if a["alt_state"] != b["alt_state"])
    changes = []
    for key in ("prot_state", "chg_fet", "dsg_fet", "load_out", "charge_out", "prealarm_out",
                "link_ok", "remote_on", "fuse_ok"):
        prev = records[0][key]
        for r in records[1:]:
            if r[key] != prev:
                changes.append((r["t_ms"], key, prev, r[key]))
                prev = r[key]
    changes.sort(key=lambda c: c[0])
    s["changes"] = changes
    reasons = set()
    for r in records:
        reasons.update(r["block_chg"])
        reasons.update(r["block_dsg"])
        reasons.update(r.get("block_alt", ()))
        reasons.update(r.get("block_sys", ()))
        reasons.update("warn:" + w for w in r["warn"])
    s["reasons"] = sorted(reasons)
    return s


def print_summary(console, scn, s, max_changes=14):
    from rich.table import Table

    tab = Table(title="bms-sim summary: %s" % scn.name, show_header=False, title_justify="left")
    tab.add_column(style="bold")
    tab.add_column()
    if "sim_ms" in s:
        tab.add_row("simulated", "%.0f s in %.1f s wall (%.0fx real time)" % (
            s["sim_ms"] / 1000, s["wall_ms"] / 1000, s.get("speed_x", 0)))
    if "cell_low" in s:
        tab.add_row("lowest cell", "%d mV at %s, t=%.0f s" % (s["cell_low"][0], s["cell_low"][1],
                                                            s["cell_low"][2] / 1000))
        tab.add_row("highest cell", "%d mV at %s, t=%.0f s" % (s["cell_high"][0], s["cell_high"][1],
                                                             s["cell_high"][2] / 1000))
        tab.add_row("starter min", "%.2f V" % (s["start_min_mv"] / 1000))
        tab.add_row("alternator", "max %.1f A, %.2f Ah delivered" % (
            s["alt_max_ma"] / 1000, s.get("alt_ah", 0)))
        tab.add_row("alternator port", "%d state changes; %s" % (s["alt_changes"], ", ".join(
            "%s %.0f s" % kv for kv in sorted(s["alt_states_s"].items(), key=lambda kv: -kv[1]))))
        tab.add_row("MOSFETs max", "%.1f C" % (s["fet_max_dc"] / 10))
        tab.add_row("charge blocked", "%.0f s" % s["no_charge_s"])
        tab.add_row("discharge blocked", "%.0f s" % s["no_discharge_s"])
        tab.add_row("reasons seen", ", ".join(s["reasons"]) or "none")
    if "fuse_ok" in s:
        tab.add_row("fuse", "ok" if s["fuse_ok"] else "[red]blown at t=%.1f s[/]" % (
            s["fuse_blown_ms"] / 1000))
        tab.add_row("end SoC", "%.1f %%" % s["soc_pct"])
    if s.get("wdt_starved"):
        tab.add_row("watchdog", "[red]starved %d times (a real board would reset)[/]" % s["wdt_starved"])
    if s.get("faults"):
        tab.add_row("app faults", "[red]%d[/]" % s["faults"])
    changes = s.get("changes", [])
    lines = ["t=%6.0f s  %-12s %s -> %s" % (t / 1000, k, a, b) for t, k, a, b in changes[:max_changes]]
    if len(changes) > max_changes:
        lines.append("... %d more in the trace" % (len(changes) - max_changes))
    tab.add_row("changes", "\n".join(lines) or "none")
    console.print(tab)


# ---------------------------------------------------------------- plot
def plot(records, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not records:
        raise SystemExit("bms-sim: no trace records to plot")
    t = [r["t_ms"] / 1000 for r in records]
    unit = "s"
    if t[-1] > 1200:
        t = [x / 60 for x in t]
        unit = "min"
    fig, ax = plt.subplots(4, 1, sharex=True, figsize=(11, 9),
                           gridspec_kw={"height_ratios": [3, 2, 2, 2]})
    ax[0].plot(t, [r["cell_max_mv"] for r in records], label="highest cell", color="tab:red")
    ax[0].plot(t, [r["cell_min_mv"] for r in records], label="lowest cell", color="tab:blue")
    ax[0].set_ylabel("cell mV")
    ax[0].legend(loc="best", fontsize=8)
    ax[1].plot(t, [r["bat_mv"] / 1000 for r in records], label="Li-ion bank")
    ax[1].plot(t, [r["start_mv"] / 1000 for r in records], label="starter")
    ax[1].plot(t, [r["sys_mv"] / 1000 for r in records], label="System+", alpha=0.7)
    ax[1].set_ylabel("V")
    ax[1].legend(loc="best", fontsize=8)
    ax[2].plot(t, [r["alt_ma"] / 1000 for r in records], label="alternator")
    ax[2].plot(t, [r["sys_ma"] / 1000 for r in records], label="System+ (+ = charging)")
    ax[2].plot(t, [r["alt_target_ma"] / 1000 for r in records], label="alt target", ls="--", lw=0.8)
    ax[2].set_ylabel("A")
    ax[2].legend(loc="best", fontsize=8)
    lanes = [("chg_fet", "charge FET"), ("dsg_fet", "discharge FET"), ("load_out", "load out"),
             ("charge_out", "charge out"), ("prealarm_out", "pre-alarm"), ("atc", "ATC"), ("atd", "ATD")]
    for i, (k, label) in enumerate(lanes):
        y = [i + 0.8 * bool(r[k]) for r in records]
        ax[3].step(t, y, where="post", lw=1.2)
    ax[3].plot(t, [len(lanes) + 0.8 * r["alt_duty"] / 10000 for r in records], lw=1.2)
    ax[3].set_yticks([i + 0.4 for i in range(len(lanes) + 1)])
    ax[3].set_yticklabels([lb for _k, lb in lanes] + ["alt duty"], fontsize=8)
    ax[3].set_xlabel("time (%s)" % unit)
    for a in ax:
        a.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------- main
def read_trace(path):
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                records.append(json.loads(line))
    return records


def run(args, console):
    sc = _scenario_module()
    if args.list:
        for n in sc.names():
            console.print("%-20s %s" % (n, sc.load(n).description))
        return 0
    name = args.scenario or default_scenario()
    try:
        scen_arg, scn = load_scenario(name)
    except sc.ScenarioError as e:
        print("bms-sim: scenario error: %s" % e, file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="bms-sim-")
    trace_path = args.trace or os.path.join(tmp, "trace.jsonl")
    cmd = runner_command(scen_arg, args, os.path.abspath(trace_path), os.path.join(tmp, "store"))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=mpy.env(), cwd=str(ROOT), bufsize=1)
    done, error = None, None
    live = None
    if not args.fast and not args.plain and console.is_terminal:
        from rich.live import Live
        live = Live(console=console, refresh_per_second=8, transient=False)
        live.start()
    elif args.fast:
        console.print("bms-sim: %s, %.0f s simulated, fast mode ..." % (
            scn.name, args.duration or scn.duration_ms / 1000))
    last_plain = -1e9
    try:
        for line in proc.stdout:
            if line.startswith(MARK_STATUS):
                rec = json.loads(line[len(MARK_STATUS):])
                if live:
                    live.update(dashboard(rec, scn))
                elif rec["t_ms"] - last_plain >= 1000:
                    last_plain = rec["t_ms"]
                    console.print(plain_line(rec), highlight=False, soft_wrap=True)
            elif line.startswith(MARK_DONE):
                done = json.loads(line[len(MARK_DONE):])
            elif line.startswith(MARK_ERROR):
                error = line[len(MARK_ERROR):].strip()
            else:
                console.print(line.rstrip(), highlight=False, markup=False)
        proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
        console.print("bms-sim: stopped")
    finally:
        if live:
            live.stop()
    err = proc.stderr.read()
    if error:
        print("bms-sim: %s" % error, file=sys.stderr)
        return 2
    if done is None and proc.returncode:
        print("bms-sim: MicroPython failed (exit %s)\n%s" % (proc.returncode, err), file=sys.stderr)
        return 1
    records = read_trace(trace_path) if os.path.exists(trace_path) else []
    print_summary(console, scn, summarize(records, done))
    if args.trace:
        console.print("trace: %s (%d records)" % (args.trace, len(records)))
    if args.plot:
        plot(records, args.plot, "bms-sim: %s" % scn.name)
        console.print("plot: %s" % args.plot)
    return 0


def main(argv=None):
    from rich.console import Console

    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.web is not None:
        from tools import web_demo

        return web_demo.main(["--port", str(args.web), "--scenario", args.scenario or default_scenario()])
    return run(args, Console())


if __name__ == "__main__":
    sys.exit(main())
