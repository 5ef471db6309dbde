"""Deployment figures that need host processes (tools/bench.py merges them):

- mpy_bytes_esp32, mpy_bytes_pico_w: total .mpy bytes flash.py puts on the board.
- min_heap_bytes: the smallest `-X heapsize=` in which the firmware still runs a
  scenario on the sim board (bisection over unix-port processes).
- boot_heap_used_bytes, boot_heap_free_bytes: GC heap used and left after the
  ESP32 board (real drivers over tests/mpy/fake_machine) has booted the app and
  run a second of ticks, in a heap the size of an ESP32's (BOARD_HEAP_BYTES).

Heap sizes are bytes of a 32-bit board: the unix port scales `heapsize=Nw`
by its word size (8/4 here), and used/free bytes are scaled back by 4/8.
Byte buffers do not double on a 64-bit port, so the figures slightly
overstate what a board needs.
"""
import subprocess
import tempfile
from pathlib import Path

from tools import build, mpy

BOARD_HEAP_BYTES = 112 * 1024  # ESP32 without PSRAM after one heap growth (reference §2)
_WORD = 4  # bytes per word on the boards
_STEP = 1024

# Sim board scenario: boot the app on the simulated board and run it.
_SCENARIO = """
import boards.sim as sim
from app import App
hw = sim.make(%r, store_dir=%r)
a = App(hw, hw.clock.ticks_ms)
c = a.controller
for _ in range(%d):
    hw.clock.advance(10)
    hw.step(10)
    c.tick(hw.clock.ticks_ms())
print("ran", c.ticks, a.faults)
"""

# ESP32 pin map over the fake machine: the heap a real board's firmware holds.
_BOOT = """
import gc, fake_machine
fake_machine.install()
import boards.esp32 as board
from app import App
a = App(board.make(root=%r))
c = a.controller
for t in range(100):
    c.tick(t * 10)
gc.collect()
print("heap", gc.mem_alloc() * %d // 8, gc.mem_free() * %d // 8, a.faults)
"""


def _stage_host(folder):
    """The firmware as .mpy for this host, as a board holds it: compiling
    source would take heap a board never spends."""
    arch = build.arch_for("sim")
    files = build.stage("sim")
    files["boards/esp32.mpy"] = build.compile_py(build.BOARDS / "esp32.py", arch, "boards/esp32.py")
    for dev, data in files.items():
        path = Path(folder) / dev
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _run(code, heap_bytes, staged, mark):
    """Exit code and the words of the last output line that starts with
    `mark` (the firmware prints its own lines too, e.g. the first-boot PUK)."""
    cmd = mpy.command() + ["-X", "heapsize=%dw" % heap_bytes, "-c", code]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=mpy.env(staged), timeout=120)
    words = []
    for line in proc.stdout.splitlines():
        if line.startswith(mark + " "):
            words = line.split()
    return proc.returncode, words


def mpy_bytes(board):
    return sum(len(v) for k, v in build.stage(board).items() if k.endswith(".mpy"))


def _scenario_runs(heap_bytes, ticks, staged, store):
    code, out = _run(_SCENARIO % ("engine-cycles", store, ticks), heap_bytes, staged, "ran")
    return code == 0 and out[:1] == ["ran"] and out[2] == "0"


def min_heap_bytes(ticks, staged, store, lo=8 * 1024, hi=1024 * 1024):
    """Bisect to _STEP: lo fails (or is assumed to), hi must run."""
    if not _scenario_runs(hi, ticks, staged, store):
        raise RuntimeError("the scenario does not run even in %d bytes of heap" % hi)
    while hi - lo > _STEP:
        mid = (lo + hi) // 2 // _STEP * _STEP
        if _scenario_runs(mid, ticks, staged, store):
            hi = mid
        else:
            lo = mid
    return hi


def boot_heap(staged, store):
    code, out = _run(_BOOT % (store + "/", _WORD, _WORD), BOARD_HEAP_BYTES, staged, "heap")
    if code != 0 or out[:1] != ["heap"] or out[3] != "0":
        raise RuntimeError("the ESP32 firmware did not boot in %d bytes: %s"
                           % (BOARD_HEAP_BYTES, " ".join(out)))
    return int(out[1]), int(out[2])


def figures(quick=False):
    with tempfile.TemporaryDirectory() as staged, tempfile.TemporaryDirectory() as store:
        _stage_host(staged)
        used, free = boot_heap(staged, store)
        least = min_heap_bytes(300 if quick else 3000, staged, store)
    return {
        "mpy_bytes_esp32": mpy_bytes("esp32"),
        "mpy_bytes_pico_w": mpy_bytes("pico_w"),
        "min_heap_bytes": least,
        "boot_heap_used_bytes": used,
        "boot_heap_free_bytes": free,
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(figures("--quick" in sys.argv)))
