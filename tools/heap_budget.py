"""The heap the firmware needs, as measured, against the heap a board has.

tools/heap_budget.json holds figures the benchmark measured on the 32-bit
build (the boards' word size): the smallest heap at which the firmware, as
deployed, runs an hour with BLE on, one figure per deployment route. It also
records the commit it was measured at and a digest of the firmware sources,
so a budget older than the firmware it ships with is known to be stale.
Nothing here is typed in: `python -m tools.heap_budget write BENCH.json`
takes the figures from the JSON object that `./bms bench` prints.

  python -m tools.heap_budget write BENCH.json   rewrite tools/heap_budget.json
  python -m tools.heap_budget check              is the committed budget current?
"""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools import build

BUDGET_FILE = build.ROOT / "tools" / "heap_budget.json"

# deployment route -> the bench key that measures it on an ESP32
ROUTE_KEYS = {
    "mpy": "heap32_min_mpy_ble",  # tools/flash.py: .mpy files on the filesystem
    "romfs": "heap32_min_romfs_ble",  # flash.py --romfs --aioble DIR: both in the ROMFS image
    "frozen": "heap32_min_frozen_ble",  # an image built from manifest.py
}
# The Pico W's routes are measured as it boots them (tools/heap32.py: its UART rings
# and littlefs caches on the heap, aioble in the official image): their keys end with
# _pico_w. Its v1.28 image has no ROMFS partition, so that route has no figure. Any
# other board (the virtual one of tools/vboard.py) is checked against the ESP32's.
BOARD_ROUTES = {"esp32": ("mpy", "romfs", "frozen"), "pico_w": ("mpy", "frozen")}


def route_key(route, board="esp32"):
    """The bench key of the route's need on the board, None when not measured there."""
    if route not in BOARD_ROUTES.get(board, BOARD_ROUTES["esp32"]):
        return None
    return ROUTE_KEYS[route] + ("_" + board if board in BOARD_ROUTES and board != "esp32" else "")


ALL_KEYS = [route_key(r, b) for b in BOARD_ROUTES for r in BOARD_ROUTES[b]]
ROUTE_NAMES = {"mpy": ".mpy files (tools/flash.py)", "romfs": "bytecode in ROMFS",
               "frozen": "frozen into the firmware image"}

# The MicroPython heap each board can give the firmware, at most, with the radio up.
# ESP32_GENERIC: the GC heap starts at 56 KB and grows from the IDF heap; after one growth it is
# about 112 KB and does not grow further while NimBLE holds its share (micropython PR #13219;
# docs/flashing.md). The Pico W's GC heap is all the RAM the image leaves (PR #10968) and does not
# grow: flash.py measures it on the board (mem_free + mem_alloc), so it has no entry here.
BOARD_HEAP_MAX = {"esp32": 112 * 1024}


class Budget:
    def __init__(self, data, path):
        self.data = data
        self.path = path

    def need(self, route, board="esp32"):
        """Bytes the route needs on the board (the bench's minimum heap), or None
        when not measured."""
        key = route_key(route, board)
        return self.data.get("figures", {}).get(key) if key else None

    @property
    def stale(self):
        return self.data.get("firmware_sha256") != firmware_digest()

    @property
    def commit(self):
        return self.data.get("commit", "?")


def firmware_digest():
    """sha256 over every source file that the boards run (firmware/ and the
    real boards' pin maps), by path: what a budget was measured against."""
    h = hashlib.sha256()
    files = sorted(p for p in build.FIRMWARE.rglob("*.py") if "__pycache__" not in p.parts)
    files += [build.BOARDS / "__init__.py"] + [build.BOARDS / (b + ".py") for b in sorted(build.ARCH)]
    for p in files:
        h.update(p.relative_to(build.ROOT).as_posix().encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


def load(path=BUDGET_FILE):
    """The Budget, or None when no budget was measured and committed yet."""
    path = Path(path)
    try:
        return Budget(json.loads(path.read_text()), path)
    except FileNotFoundError:
        return None


def _commit():
    proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=build.ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "firmware", "boards"], cwd=build.ROOT,
                           capture_output=True, text=True).stdout.strip()
    return proc.stdout.strip() + ("+dirty" if dirty else "") if proc.returncode == 0 else "unknown"


def write(bench, path=BUDGET_FILE):
    """Write the budget from a `./bms bench` result (a dict); the figures it lacks stay out."""
    figures = {key: bench[key] for key in ALL_KEYS if isinstance(bench.get(key), int)}
    if not figures:
        raise ValueError("the bench result has none of %s" % ", ".join(ALL_KEYS))
    data = {"measured_by": "./bms bench (32-bit MicroPython build)", "commit": _commit(),
            "firmware_sha256": firmware_digest(), "figures": figures}
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return data


def verdict(budget, board, route, board_heap=None):
    """(fits, sentence) before an upload. fits is False only when the
    measured need exceeds what the board can give at most; None when it
    cannot be known before the firmware runs."""
    capacity = BOARD_HEAP_MAX.get(board, board_heap)
    if budget is None:
        return None, "no measured heap budget (tools/heap_budget.json): the fit is checked after boot only"
    need = budget.need(route, board)
    stale = " (measured at %s for an older firmware: re-measure)" % budget.commit if budget.stale else ""
    if need is None or capacity is None:
        return None, "no measured figure for %s on %s%s" % (ROUTE_NAMES[route], board, stale)
    if need <= capacity:
        return True, "%s needs %.1f KB of the %.1f KB heap: %.1f KB to spare%s" % (
            ROUTE_NAMES[route], need / 1024, capacity / 1024, (capacity - need) / 1024, stale)
    fitting = [r for r in ROUTE_KEYS if r != route and budget.need(r, board) is not None
               and budget.need(r, board) <= capacity]
    then = ("; %s does: %.1f KB (docs/flashing.md)" % (ROUTE_NAMES[fitting[0]],
                                                       budget.need(fitting[0], board) / 1024)
            if fitting else "; no measured route fits this board")
    return False, "%s does not fit %s: it needs %.1f KB, the board has at most %.1f KB%s%s" % (
        ROUTE_NAMES[route], board, need / 1024, capacity / 1024, then, stale)


def after_boot(info, board_heap=None):
    """What the board says about its heap with the firmware running, in a sentence."""
    free, used = info.get("mem_free"), info.get("mem_alloc")
    if free is None or used is None:
        return "heap after boot: not reported"
    return "heap after boot, BLE up: %.1f KB free, %.1f KB in use, %.1f KB in all" % (
        free / 1024, used / 1024, (free + used) / 1024)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["write"] and len(argv) == 2:
        src = sys.stdin if argv[1] == "-" else open(argv[1])
        data = write(json.load(src))
        print("wrote %s: %s" % (BUDGET_FILE.relative_to(build.ROOT), data["figures"]))
        return 0
    if argv == ["check"]:
        b = load()
        if b is None:
            print("no heap budget committed yet (tools/heap_budget.json)")
            return 1
        if b.stale:
            print("tools/heap_budget.json was measured for another firmware (%s): re-measure" % b.commit)
            return 1
        print("tools/heap_budget.json is current")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
