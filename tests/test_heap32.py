"""The heap figures' measuring code on a small case (tools/heap32.py): the
harness boots the firmware on the 32-bit build and bisects -X heapsize. A
known amount held as if by the firmware (small buffers, counted with gc)
moves the figure by that amount, to 6 KB (the bisection's step, and where
the holes fall in the heap: the figure is where the first large request
finds no block, which moves by a few KB with the path names and the ballast's
place; 4.5 KB seen); the same amount held by the harness (before its own
share is measured) does not. A short run (a few virtual seconds, two
phone sessions) instead of the hour. The frozen route is booted the same way
(the image that manifest_firmware.py makes), and the qemu image runs ticks."""
import ast
import subprocess

import pytest

from tools import heap32, port

HOURS = 0.004  # 14 s of virtual time
EVERY_MS = 5000
BALLAST = 24 * 1024
SLACK = 6 * 1024  # where the holes fall (the docstring)


@pytest.fixture(scope="module")
def built():
    try:
        port.build("unix32")
    except port.PortError as e:
        pytest.skip(str(e))


def least(tmp_path, env, lo, hi):
    ok_hi, f, tail = heap32.run(hi, "mpy", HOURS, tmp_path, EVERY_MS, env)
    assert ok_hi, tail
    assert not heap32.run(lo, "mpy", HOURS, tmp_path, EVERY_MS, env)[0]
    return heap32.least_heap("mpy", HOURS, tmp_path, lo, hi, EVERY_MS, env) - f["harness_bytes"], f


def test_a_known_allocation_moves_the_figure_by_its_size(built, tmp_path):
    ok, f, tail = heap32.run(heap32.HEAP_HI, "mpy", HOURS, tmp_path, EVERY_MS)
    assert ok, tail
    assert f["sessions_ok"] == f["sessions"] >= 2 and f["batteries"] == heap32.BATTERIES
    lo = f["live_bytes"] // heap32.STEP * heap32.STEP
    base, _ = least(tmp_path, {}, lo, lo + 64 * 1024)
    held = {"HEAP32_BALLAST": str(BALLAST)}
    moved, h = least(tmp_path, held, lo + BALLAST - 8 * 1024, lo + BALLAST + 64 * 1024)
    assert h["ballast_bytes"] >= BALLAST  # its buffers, as gc counts them
    assert abs(moved - base - h["ballast_bytes"]) <= SLACK, (base, moved, h["ballast_bytes"])
    harness = {"HEAP32_HARNESS_BALLAST": str(BALLAST)}
    same, g = least(tmp_path, harness, lo, lo + BALLAST + 64 * 1024)
    assert g["harness_bytes"] >= f["harness_bytes"] + BALLAST
    assert abs(same - base) <= SLACK, (base, same)


def test_a_stand_ins_instances_are_the_harness_less_the_boards_c_object(built):
    """heap32_run._as_harness: what a machine stand-in's constructor keeps
    counts as the harness's, less the heap that the ESP32's C object takes
    (a PWM 32 bytes; a Pin none)."""
    script = (
        "import sys\nsys.path.insert(0, %r)\nimport heap32_run as h\n"
        "class PWM:\n    def __init__(self):\n        self.buf = bytearray(1000)\n"
        "class Pin:\n    def __init__(self):\n        self.buf = bytearray(1000)\n"
        "a = [0]\nb = [0]\nh._as_harness(PWM, a)\nh._as_harness(Pin, b)\n"
        "kept = [PWM(), Pin()]\nprint(a[0], b[0])\n" % str(heap32.TARGETS_DIR))
    proc = subprocess.run([str(port.build("unix32")), "-c", script], capture_output=True, text=True)
    pwm, pin = map(int, proc.stdout.split())
    assert pin >= 1000 and pin - pwm == heap32_run_c_bytes()["PWM"] == 32, proc.stdout + proc.stderr


def heap32_run_c_bytes(board="esp32"):
    text = (heap32.TARGETS_DIR / "heap32_run.py").read_text()
    return ast.literal_eval(text.split("_BOARDS = ", 1)[1].split("\n_BOARD = ", 1)[0])[board]["c_bytes"]


def test_a_pico_w_holds_its_uart_rings_and_larger_littlefs_caches(tmp_path):
    """The Pico W boots its own pin map; the rp2 port's UART rings (2 KB +
    256 B, made by PipeUart) and littlefs's 1 KB caches (progsize=256: the
    mount's two) are on its heap, where an ESP32 keeps the rings off the heap
    and has 128-byte caches. The alternator's current follows the port's
    PWM reference on both, so the port's loop runs (not its fault state)."""
    try:
        port.build("unix32_frozen")
        port.build("unix32_aioble")
    except port.PortError as e:
        pytest.skip(str(e))
    live = {}
    for board in ("esp32", "pico_w"):
        ok, f, tail = heap32.run(heap32.HEAP_HI, "frozen", HOURS, tmp_path / board, EVERY_MS, None, board)
        assert ok, tail
        assert f["sessions_ok"] == f["sessions"] >= 2 and f["ticks"] > 1000
        assert f["alt_state"] in (2, 3, 4), f  # ramping, limiting or following
        live[board] = f["live_bytes"] - f["harness_bytes"]
    rings, caches = 2049 + 257, 2 * (1024 - 128)
    assert rings + caches - 512 <= live["pico_w"] - live["esp32"] <= rings + caches + 2048, live
    # the official Pico W image has aioble: the .mpy route puts none on the filesystem
    ok, f, tail = heap32.run(heap32.HEAP_HI, "mpy", HOURS, tmp_path / "mpy", EVERY_MS, None, "pico_w")
    assert ok, tail
    assert not list((tmp_path / "mpy" / "board").glob("lib/aioble/*"))


def test_the_growth_is_zero_without_a_leak_and_sees_one(built, tmp_path):
    # 144 virtual seconds, a session every 5 s; the leak: 64 bytes a session
    # (5 blocks with the bytearray's header, and the list that holds them)
    hours, every = 0.04, 5000
    ok, f, tail = heap32.run(heap32.HEAP_HI, "mpy", hours, tmp_path, every)
    assert ok, tail
    assert f["growth_bytes_per_h"] == 0, f
    ok, g, tail = heap32.run(heap32.HEAP_HI, "mpy", hours, tmp_path, every, {"HEAP32_LEAK": "64"})
    assert ok, tail
    per_session = g["growth_bytes_per_h"] * every // 3600000
    assert 80 <= per_session <= 112, g


def test_the_frozen_image_boots_and_runs_with_bluetooth(tmp_path):
    try:
        port.build("unix32_frozen")
    except port.PortError as e:
        pytest.skip(str(e))
    ok, f, tail = heap32.run(heap32.HEAP_HI, "frozen", HOURS, tmp_path, EVERY_MS)
    assert ok, tail
    assert f["sessions_ok"] == f["sessions"] >= 2 and f["ticks"] > 1000
    # the image runs its own boot.py and main.py: board.json alone on the filesystem
    from tools import build

    on_fs = sorted(p.name for p in (tmp_path / "board").iterdir() if p.name not in build.KEEP)
    assert on_fs == ["board.json"], on_fs


def test_the_romfs_route_runs_its_bytecode_in_place(built, tmp_path):
    """flash.py --romfs --aioble: the image mounted as a board mounts its
    partition; the bytecode stays in the image, so the heap holds far less
    than on the .mpy route (about 50 KB less; the image is ~90 KB)."""
    ok, f, tail = heap32.run(heap32.HEAP_HI, "romfs", HOURS, tmp_path / "romfs", EVERY_MS)
    assert ok, tail
    assert f["sessions_ok"] == f["sessions"] >= 2 and f["ticks"] > 1000
    assert not list((tmp_path / "romfs" / "board").glob("**/*.mpy"))  # all in the image
    ok, m, tail = heap32.run(heap32.HEAP_HI, "mpy", HOURS, tmp_path / "mpy", EVERY_MS)
    assert ok, tail
    in_place = f["live_bytes"] - f["harness_bytes"]
    loaded = m["live_bytes"] - m["harness_bytes"]
    assert in_place < loaded - 30 * 1024, (in_place, loaded)


def test_the_qemu_image_counts_instructions_per_tick():
    from tools import bench_target

    try:
        port.build("qemu")
    except port.PortError as e:
        pytest.skip(str(e))
    f = bench_target.tick_figures(20)
    parts = sum(f["tick_kinstr_50batt_" + p] for p in ("decoder", "pack", "protection", "alternator",
                                                       "history"))
    assert 0 < parts <= f["tick_kinstr_50batt_mean"] * 1.2 and f["tick_kinstr_50batt_max"] >= \
        f["tick_kinstr_50batt_mean"]
    assert f["tick_kinstr_50batt_noisy_max"] >= f["tick_kinstr_50batt_noisy_mean"] > 0
    # the file routes' image: the same ticks with the native methods as bytecode, which costs more
    for k in ("mean", "max", "noisy_mean", "noisy_max"):
        assert f["tick_kinstr_50batt_bytecode_" + k] > f["tick_kinstr_50batt_" + k]


def test_the_qemu_image_times_a_collection():
    """gc_pause_kinstr_112k's measurer: the image has the ESP32's 112 KB heap,
    the ballast reaches the asked heap in use, and a larger live heap takes a
    longer collection (marking is proportional to what is live)."""
    from tools import bench_target

    try:
        port.build("qemu")
    except port.PortError as e:
        pytest.skip(str(e))
    f = bench_target.run_qemu("import qemu_tick; qemu_tick.gc_pause([40000, 80000], 1)")
    assert 110 * 1024 <= f["gc_heap_bytes"] <= 112 * 1024
    small, large = f["gc_live_bytes"]
    assert 40000 <= small < 42000 and 80000 <= large < 82000
    assert 0 < f["gc_pause_kinstr"][0] < f["gc_pause_kinstr"][1]
