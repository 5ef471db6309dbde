"""Run every tools/benchmarks/*.py inside MicroPython and print their figures
merged into one JSON object. Each benchmark prints one JSON line of numbers.

usage: python tools/bench.py [--quick] [NAME ...]   (NAME: a benchmark file stem, or
"host" for the deployment figures of tools/bench_host.py)
"""
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools import bench_host, mpy  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent / "benchmarks"
TIMEOUT_S = 600


def run_one(path, quick):
    cmd = mpy.command() + [str(path)] + (["--quick"] if quick else [])
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
    names = [a for a in argv if not a.startswith("-")]
    paths = sorted(BENCH_DIR.glob("*.py"))
    if names:
        paths = [p for p in paths if p.stem in names]
    merged, failed = {}, 0
    for p in paths:
        try:
            figures = run_one(p, quick)
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
    print(json.dumps(merged, sort_keys=True))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
