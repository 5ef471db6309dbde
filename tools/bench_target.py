"""Figures measured on the boards' word size (tools/bench.py merges them;
docs/targets.md says what each one means):

- tick_kinstr_50batt_*: Cortex-M3 instructions (thousands) per control tick
  on the qemu MPS2-AN385 image, -icount shift=0 (tools/targets/qemu_tick.py);
  _bytecode_* on the image whose tick methods are bytecode, as the .mpy and
  ROMFS routes run them.
- heap32_*: bytes of heap on the 32-bit unix build (tools/heap32.py).
"""
import select
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools import port

QEMU_TIMEOUT_S = 900


def qemu_command(elf):
    # -icount shift=0: one instruction per nanosecond of virtual time, whatever the host does
    return ["qemu-system-arm", "-machine", "mps2-an385", "-nographic", "-monitor", "null",
            "-semihosting", "-serial", "stdio", "-kernel", str(elf), "-icount", "shift=0"]


def run_qemu(statement, timeout_s=QEMU_TIMEOUT_S, elf=None):
    """Type one statement at the image's REPL; the first JSON line it prints,
    as a dict. The port has no exit: qemu is stopped once the line is in."""
    import json

    elf = elf or port.build("qemu")
    proc = subprocess.Popen(qemu_command(elf), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    seen = b""
    try:
        proc.stdin.write(statement.encode() + b"\r\n")
        proc.stdin.flush()
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            chunk = proc.stdout.read1(4096)
            if not chunk:
                break
            seen += chunk
            for line in seen.split(b"\n"):
                line = line.strip()
                if line.startswith(b"{") and line.endswith(b"}"):
                    return json.loads(line)
        raise RuntimeError("qemu printed no figures:\n%s" % seen.decode(errors="replace")[-3000:])
    finally:
        proc.kill()
        proc.wait()


def _ticks(elf, ticks):
    figures = run_qemu("import qemu_tick; qemu_tick.main(%d)" % ticks, elf=elf)
    if figures.pop("tick_count", None) != ticks:
        raise RuntimeError("qemu counted another number of ticks: %r" % figures)
    return figures


def tick_figures(ticks=1000):
    """The tick_kinstr_50batt_* figures over `ticks` control ticks: the
    frozen image's, and as _bytecode_* the whole ticks of the .mpy and ROMFS
    routes (docs/architecture.md, "Native code on the tick's path")."""
    figures = _ticks(port.build("qemu"), ticks)
    plain = _ticks(port.build("qemu_bytecode"), ticks)
    for k in ("mean", "max", "noisy_mean", "noisy_max"):
        figures["tick_kinstr_50batt_bytecode_" + k] = plain["tick_kinstr_50batt_" + k]
    return figures


def gc_figures(live_bytes):
    """gc_pause_kinstr_112k: the longest collection on the image's heap
    (tools/port.py gives it an ESP32_GENERIC's 112 KB) holding live_bytes."""
    f = run_qemu("import qemu_tick; qemu_tick.gc_pause([%d])" % live_bytes)
    return {"gc_pause_kinstr_112k": f["gc_pause_kinstr"][0], "gc_pause_heap_bytes": f["gc_heap_bytes"],
            "gc_pause_live_bytes": f["gc_live_bytes"][0]}


def figures(quick=False):
    from tools import heap32

    out = tick_figures(200 if quick else 1000)
    out.update(heap32.figures(quick))
    # the frozen route's live heap: the smallest a board holds
    out.update(gc_figures(out["heap32_live_frozen_after_1h"]))
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(figures("--quick" in sys.argv), sort_keys=True))
