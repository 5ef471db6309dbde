"""bms-sim: run the firmware on the simulated board.

The controller and the plant run inside the MicroPython unix port
(boards/sim/runner.py); this host side checks the scenario and the output
paths, starts MicroPython, shows a live dashboard (real time) or a progress
line (--fast), then a one-screen summary, and optionally a plot of the trace.
Paths are the caller's: relative to the folder the command was typed in.
--serve keeps one simulated BMS running for bmsctl (tools/sim_session.py),
--web serves the phone page with one behind it (tools/web_demo.py).
"""
import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script (./bms sim): the checkout is the package root,
    # not tools/ (whose packaging.py would shadow the one matplotlib imports)
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from tools import mpy  # noqa: E402

ROOT = mpy.ROOT
DEFAULT_SCENARIO = "alternator-charge"
FALLBACK_SCENARIO = "engine-cycles"
MARK_STATUS = "@@STATUS@@ "
MARK_DONE = "@@DONE@@ "
MARK_ERROR = "@@ERROR@@ "
PLOT_SUFFIXES = (".png", ".svg", ".pdf")
HISTORY_POINTS = 60  # the dashboard's sparklines: the last minute, one point a second


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
    ap.add_argument("--serve", type=int, metavar="PORT",
                    help="keep one simulated BMS running for `bmsctl --sim-port PORT` (Ctrl-C ends it)")
    args = ap.parse_args(argv)
    if args.web is not None and args.serve is not None:
        ap.error("--web and --serve each run a simulated BMS of their own: choose one")
    if args.trace_ms < 10:
        ap.error("--trace-ms must be at least 10")
    if args.duration is not None and args.duration <= 0:
        ap.error("--duration must be positive")
    return args


def check_outputs(args):
    """Problems with --trace and --plot, found before a long run starts; the
    paths become absolute (the caller's folder, as typed)."""
    problems = []
    for opt in ("trace", "plot"):
        value = getattr(args, opt)
        if value is None:
            continue
        path = Path(value).expanduser().absolute()
        setattr(args, opt, str(path))
        if path.is_dir():
            problems.append("--%s %s: is a folder, give a file name" % (opt, value))
        elif not path.parent.is_dir():
            problems.append("--%s %s: folder %s does not exist" % (opt, value, path.parent))
        elif not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            problems.append("--%s %s: not writable" % (opt, value))
    if args.plot is not None:
        if Path(args.plot).suffix.lower() not in PLOT_SUFFIXES:
            problems.append("--plot %s: the name must end in %s" % (args.plot, ", ".join(PLOT_SUFFIXES)))
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            problems.append("--plot needs matplotlib: `./bms sim --plot ...` installs it "
                            "(or pip install '.[plot]')")
    return problems


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
_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values):
    """One character per value, the lowest as ▁ and the highest as █ (a flat
    series is a row of ▄)."""
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if hi == lo:
        return _BARS[3] * len(values)
    return "".join(_BARS[round((v - lo) * 7 / (hi - lo))] for v in values)


class History:
    """The dashboard's short history: one point per second of sim time."""

    SERIES = (("bank", "bat_mv", 1000, "%.2f V"), ("alternator", "alt_ma", 1000, "%+.1f A"),
              ("System+", "sys_ma", 1000, "%+.1f A"), ("lowest cell", "cell_min_mv", 1000, "%.3f V"))

    def __init__(self, points=HISTORY_POINTS):
        self.recs = collections.deque(maxlen=points)

    def add(self, rec):
        if not self.recs or rec["t_ms"] - self.recs[-1]["t_ms"] >= 1000:
            self.recs.append(rec)

    def rows(self):
        """[(label, sparkline, 'lo .. hi')] per series."""
        out = []
        for label, key, scale, fmt in self.SERIES:
            vals = [r[key] for r in self.recs]
            if vals:
                out.append((label, sparkline(vals), "%s .. %s" % (fmt % (min(vals) / scale),
                                                                 fmt % (max(vals) / scale))))
        return out


def _onoff(v):
    return "[green]on[/]" if v else "[red]off[/]"


def dashboard(rec, scn, history=None):
    from rich.columns import Columns
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table

    t = rec["t_ms"] / 1000.0
    cells = Table.grid(padding=(0, 1))
    cells.add_row("min cell", "%d mV @ %s" % (rec["cell_min_mv"], rec["cell_min_at"]))
    cells.add_row("max cell", "%d mV @ %s" % (rec["cell_max_mv"], rec["cell_max_at"]))
    cells.add_row("temperature", "%.1f .. %.1f C" % (rec["temp_min_dc"] / 10, rec["temp_max_dc"] / 10))
    cells.add_row("bank SoC", "%.1f %%" % rec["soc_pct"])
    cells.add_row("link", "ok, %d seen" % rec["link_seen"] if rec["link_ok"]
                  else "[red]lost: %s[/]" % ", ".join(rec["link_lost"]))
    cells.add_row("link errors", "%d CRC, %d rejected" % (rec["link_crc_errors"], rec["link_rejected"]))
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
    parts = [Columns([Panel(cells, title="battery bank"), Panel(ports, title="ports"),
                      Panel(gates, title="gates / outputs"), Panel(prot, title="protection"),
                      Panel(alt, title="alternator port")])]
    if history is not None and history.recs:
        trend = Table.grid(padding=(0, 1))
        for label, line, span in history.rows():
            trend.add_row(label, "[cyan]%s[/]" % line, span)
        parts.append(Panel(trend, title="last %d s" % (len(history.recs) - 1), expand=False))
    return Panel(Group(*parts),
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
    s["temp_range_dc"] = (min(r["temp_min_dc"] for r in records), max(r["temp_max_dc"] for r in records))
    last = records[-1]
    s["link"] = {k: last[k] for k in ("link_reports", "link_crc_errors", "link_rejected",
                                      "link_stray_bytes")}
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
        tab.add_row("simulated", "%.0f s in %.1f s wall (%.0fx real time)%s" % (
            s["sim_ms"] / 1000, s["wall_ms"] / 1000, s.get("speed_x", 0),
            ", stopped by Ctrl-C" if s.get("interrupted") else ""))
    if "cell_low" in s:
        tab.add_row("lowest cell", "%d mV at %s, t=%.0f s" % (s["cell_low"][0], s["cell_low"][1],
                                                            s["cell_low"][2] / 1000))
        tab.add_row("highest cell", "%d mV at %s, t=%.0f s" % (s["cell_high"][0], s["cell_high"][1],
                                                             s["cell_high"][2] / 1000))
        tab.add_row("batteries", "%.1f .. %.1f C" % (s["temp_range_dc"][0] / 10, s["temp_range_dc"][1] / 10))
        tab.add_row("starter min", "%.2f V" % (s["start_min_mv"] / 1000))
        tab.add_row("alternator", "max %.1f A, %.2f Ah delivered" % (
            s["alt_max_ma"] / 1000, s.get("alt_ah", 0)))
        tab.add_row("alternator port", "%d state changes; %s" % (s["alt_changes"], ", ".join(
            "%s %.0f s" % kv for kv in sorted(s["alt_states_s"].items(), key=lambda kv: -kv[1]))))
        tab.add_row("MOSFETs max", "%.1f C" % (s["fet_max_dc"] / 10))
        tab.add_row("battery link", "%d reports, %d CRC errors, %d rejected, %d stray bytes" % (
            s["link"]["link_reports"], s["link"]["link_crc_errors"], s["link"]["link_rejected"],
            s["link"]["link_stray_bytes"]))
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
# (setting, label, colour, line style): drawn across the cell panel
THRESHOLDS = (("cell_ov_mv", "charge stop (OV)", "tab:red", "--"),
              ("cell_uv_recover_mv", "recovery", "tab:green", "--"),
              ("cell_prealarm_mv", "pre-alarm", "tab:orange", "--"),
              ("cell_uv_mv", "load disconnect", "tab:red", "-."))
LANES = (("chg_fet", "charge FET"), ("dsg_fet", "discharge FET"), ("load_out", "load out"),
         ("charge_out", "charge out"), ("prealarm_out", "pre-alarm out"), ("atc", "ATC"),
         ("atd", "ATD"))
REASON_OF = {"atc": "block_chg", "atd": "block_dsg"}
MAX_NOTES = 12  # reason notes per lane; more would be unreadable


def _runs(values):
    """[(start index, end index)] of the stretches where values are true."""
    out, start = [], None
    for i, v in enumerate(values):
        if v and start is None:
            start = i
        elif not v and start is not None:
            out.append((start, i))
            start = None
    if start is not None:
        out.append((start, len(values) - 1))
    return out


def figure(records, title, settings=None):
    """The plot as a matplotlib Figure: cells with the protection thresholds,
    voltages, currents, the alternator duty in %, and one lane per gate and
    output (a filled bar = on), with the reason written at each change of ATC
    and ATD."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [r["t_ms"] / 1000 for r in records]
    unit = "s"
    if t[-1] > 1200:
        t = [x / 60 for x in t]
        unit = "min"
    fig, ax = plt.subplots(5, 1, sharex=True, figsize=(11, 11),
                           gridspec_kw={"height_ratios": [3, 2, 2, 1.2, 2.6]})
    ax[0].plot(t, [r["cell_max_mv"] for r in records], label="highest cell", color="tab:purple")
    ax[0].plot(t, [r["cell_min_mv"] for r in records], label="lowest cell", color="tab:blue")
    for key, label, colour, style in THRESHOLDS:
        if settings and key in settings:
            ax[0].axhline(settings[key], color=colour, ls=style, lw=0.9,
                          label="%s %.3f V" % (label, settings[key] / 1000))
    ax[0].set_ylabel("cell mV")
    ax[0].legend(loc="best", fontsize=7, ncol=2)
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
    ax[3].plot(t, [r["alt_duty"] / 100 for r in records], color="tab:brown", lw=1.0)
    ax[3].set_ylim(-5, 105)
    ax[3].set_ylabel("alt duty %")
    span = t[-1] - t[0] if len(t) > 1 else 1
    for i, (key, _label) in enumerate(LANES):
        y = len(LANES) - 1 - i
        on = [bool(r[key]) for r in records]
        bars = [(t[a], (t[b] if b > a else t[a] + span / 500) - t[a]) for a, b in _runs(on)]
        ax[4].broken_barh(bars, (y - 0.3, 0.6), color="tab:green")
        ax[4].plot([t[0], t[-1]], [y, y], color="0.6", lw=0.6)
        if key in REASON_OF:
            notes = 0
            for k in range(1, len(records)):
                if on[k] == on[k - 1]:
                    continue
                if notes == MAX_NOTES:
                    ax[4].text(t[-1], y + 0.35, "+ more changes in the trace", fontsize=6, ha="right")
                    break
                why = ", ".join(records[k][REASON_OF[key]]) if not on[k] else "on"
                ax[4].text(t[k], y + 0.35 - 0.25 * (notes % 2), " " + (why or "off"), fontsize=7,
                           va="bottom", color="tab:red" if not on[k] else "tab:green")
                notes += 1
    ax[4].set_yticks(range(len(LANES)))
    ax[4].set_yticklabels([lb for _k, lb in reversed(LANES)], fontsize=8)
    ax[4].set_ylim(-0.6, len(LANES) - 0.1)
    ax[4].set_title("green bar = on; ATC/ATD changes with their reason", fontsize=8, loc="left")
    ax[4].set_xlabel("time (%s)" % unit)
    for a in ax:
        a.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot(records, path, title, settings=None):
    import matplotlib.pyplot as plt

    if not records:
        raise SystemExit("bms-sim: no trace records to plot")
    fig = figure(records, title, settings)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------- main
def read_trace(path):
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:  # the last line of a run stopped mid-write
                    break
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
    problems = check_outputs(args)
    if problems:
        print("bms-sim: not started:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="bms-sim-")
    trace_path = args.trace or os.path.join(tmp, "trace.jsonl")
    cmd = runner_command(scen_arg, args, trace_path, os.path.join(tmp, "store"))
    # its own session: a Ctrl-C at the terminal reaches this process only, and
    # this process ends the run (SIGINT: the runner closes the trace, reports)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=mpy.env(), cwd=str(ROOT), bufsize=1, start_new_session=True)
    done, error = None, None
    live = None
    history = History()
    if not args.fast and not args.plain and console.is_terminal:
        from rich.live import Live
        live = Live(console=console, refresh_per_second=8, transient=False)
        live.start()
    elif args.fast:
        console.print("bms-sim: %s, %.0f s simulated, fast mode ..." % (
            scn.name, args.duration or scn.duration_ms / 1000))
    last_plain = -1e9
    interrupted = False
    err = ""
    try:
        for line in proc.stdout:
            if line.startswith(MARK_STATUS):
                rec = json.loads(line[len(MARK_STATUS):])
                history.add(rec)
                if live:
                    live.update(dashboard(rec, scn, history))
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
        err = proc.stderr.read()
    except KeyboardInterrupt:
        interrupted = True
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not break the cleanup
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            rest, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, err = proc.communicate()
        for line in rest.splitlines():
            if line.startswith(MARK_DONE):
                done = json.loads(line[len(MARK_DONE):])
    finally:
        if live:
            live.stop()
    if error:
        print("bms-sim: %s" % error, file=sys.stderr)
        return 2
    if done is None and not interrupted and proc.returncode:
        print("bms-sim: MicroPython failed (exit %s)\n%s" % (proc.returncode, err), file=sys.stderr)
        return 1
    records = read_trace(trace_path) if os.path.exists(trace_path) else []
    if interrupted:
        console.print("bms-sim: stopped")
    print_summary(console, scn, summarize(records, done))
    if args.trace:
        console.print("trace: %s (%d records)" % (args.trace, len(records)))
    if args.plot and records:
        plot(records, args.plot, "bms-sim: %s" % scn.name, (done or {}).get("settings"))
        console.print("plot: %s" % args.plot)
    return 130 if interrupted else 0


def serve(args, console):
    """--serve: one simulated BMS for bmsctl until Ctrl-C."""
    from tools import sim_session

    scenario = args.scenario or default_scenario()
    try:
        server, session = sim_session.serve(args.serve, scenario)
    except OSError as e:
        print("bms-sim: cannot serve on 127.0.0.1:%d: %s" % (args.serve, e.strerror or e), file=sys.stderr)
        return 2
    port = server.server_address[1]
    console.print("bms-sim: simulated BMS (scenario %s) for bmsctl on 127.0.0.1:%d, PIN 000000\n"
                  "  try: ./bms ctl --sim-port %d status      (Ctrl-C here ends it)"
                  % (scenario, port, port), highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("bms-sim: stopped")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        server.server_close()
        session.close()
    return 0


def main(argv=None):
    from rich.console import Console

    args = parse_args(sys.argv[1:] if argv is None else argv)
    console = Console()
    try:
        if args.serve is not None:
            return serve(args, console)
        if args.web is not None:
            from tools import web_demo

            return web_demo.main(["--port", str(args.web), "--scenario",
                                  args.scenario or default_scenario()])
        return run(args, console)
    except KeyboardInterrupt:  # before or after the run proper: end quietly all the same
        return 130


if __name__ == "__main__":
    sys.exit(main())
