"""Run every tools/benchmarks/*.py inside MicroPython and print their figures
merged into one JSON object. Each benchmark prints one JSON line of numbers.
They run on the 32-bit build (tools/port.py), the boards' word size, so
their heap figures are a board's bytes; the 64-bit wheel only where that
build cannot be had (the run says so). The figures of tools/bench_target.py
(heap32_* on the 32-bit build, tick_kinstr_* on the qemu Cortex-M3 image;
docs/targets.md) and tools/bench_host.py come along.

usage: python tools/bench.py [--quick] [--write-budget] [NAME ...]
  NAME: a benchmark file stem, "host" (tools/bench_host.py) or "target"
  (tools/bench_target.py); --write-budget writes tools/heap_budget.json from
  the heap32 figures of this run (tools/heap_budget.py)
"""
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools import bench_host, bench_target, heap_budget, mpy, port  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent / "benchmarks"
TIMEOUT_S = 600


def _command():
    try:
        return mpy.command(32) + ["-X", "heapsize=4M"]
    except port.PortError as e:
        print("bench: the MicroPython benchmarks run on the 64-bit wheel: %s" % e, file=sys.stderr)
        return mpy.command()


def run_one(path, quick, cmd):
    cmd = cmd + [str(path)] + (["--quick"] if quick else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=mpy.env(),
                          cwd=str(mpy.ROOT), timeout=TIMEOUT_S)
    figures = None
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            figures = json.loads(line)
    if proc.returncode != 0 or figures is None:
        raise RuntimeError("%s failed (exit %d):\n%s%s" % (path.name, proc.returncode,
                                                           proc.stdout[-2000:], proc.stderr[-2000:]))
    for k, v in figures.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise RuntimeError("%s: figure %s is not a number: %r" % (path.name, k, v))
    return figures


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    write_budget = "--write-budget" in argv
    names = [a for a in argv if not a.startswith("-")]
    paths = sorted(BENCH_DIR.glob("*.py"))
    if names:
        paths = [p for p in paths if p.stem in names]
    merged, failed = {}, 0
    cmd = _command() if paths else None
    for p in paths:
        try:
            figures = run_one(p, quick, cmd)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
            print("bench: %s" % e, file=sys.stderr)
            failed += 1
            continue
        for k in figures:
            if k in merged:
                print("bench: %s repeats the key %s" % (p.name, k), file=sys.stderr)
                failed += 1
        merged.update(figures)
    if not names or "host" in names:  # deployment figures: host processes (tools/bench_host.py)
        try:
            merged.update(bench_host.figures(quick))
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print("bench: host figures: %s" % e, file=sys.stderr)
            failed += 1
    if not names or "target" in names or write_budget:  # the boards' word size and CPU
        try:
            merged.update(bench_target.figures(quick))
        except (RuntimeError, port.PortError, subprocess.TimeoutExpired) as e:
            print("bench: target figures: %s" % e, file=sys.stderr)
            failed += 1
    print(json.dumps(merged, sort_keys=True))
    if write_budget:
        if quick:
            print("bench: --write-budget needs the full run (no --quick)", file=sys.stderr)
            return 1
        try:
            data = heap_budget.write(merged)
        except ValueError as e:
            print("bench: %s" % e, file=sys.stderr)
            return 1
        print("bench: wrote tools/heap_budget.json: %s" % data["figures"], file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
