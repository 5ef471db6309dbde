"""The heap budget: figures from the benchmark, the firmware they were
measured for, and the plain verdict flash.py gives before an upload.
The figures here are placeholders made up for the tests; the shipped
tools/heap_budget.json is written only by the benchmark."""
import json
import shutil

import pytest

from tools import build, heap_budget

KB = 1024
BENCH = {"heap32_min_mpy_ble": 150 * KB, "heap32_min_frozen_ble": 60 * KB,
         "heap32_min_mpy_ble_pico_w": 155 * KB, "heap32_min_frozen_ble_pico_w": 65 * KB,
         "tick_kinstr_50batt_mean": 80}


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A copy of the firmware sources, so a test can change one."""
    fw, boards = tmp_path / "firmware", tmp_path / "boards"
    shutil.copytree(build.FIRMWARE, fw, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(build.BOARDS, boards, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(build, "ROOT", tmp_path)
    monkeypatch.setattr(build, "FIRMWARE", fw)
    monkeypatch.setattr(build, "BOARDS", boards)
    return tmp_path


def test_written_from_the_bench_output_with_its_firmware(tree):
    path = tree / "budget.json"
    data = heap_budget.write(BENCH, path)
    assert data["figures"] == {k: v for k, v in BENCH.items() if k.startswith("heap32_")}
    b = heap_budget.load(path)
    assert b.need("mpy") == 150 * KB and b.need("frozen") == 60 * KB
    assert b.need("mpy", "pico_w") == 155 * KB and b.need("frozen", "pico_w") == 65 * KB
    assert not b.stale
    assert json.loads(path.read_text())["firmware_sha256"] == heap_budget.firmware_digest()


def test_a_firmware_change_makes_the_budget_stale(tree):
    path = tree / "budget.json"
    heap_budget.write(BENCH, path)
    f = tree / "firmware" / "bms" / "pack.py"
    f.write_text(f.read_text() + "\n# one more line\n")
    assert heap_budget.load(path).stale
    ok, sentence = heap_budget.verdict(heap_budget.load(path), "esp32", "frozen")
    assert ok and "re-measure" in sentence


def test_a_bench_result_without_heap_figures_is_refused(tree):
    with pytest.raises(ValueError, match="heap32_min_mpy_ble"):
        heap_budget.write({"tick_kinstr_50batt_mean": 80}, tree / "budget.json")


def test_verdicts(tree):
    path = tree / "budget.json"
    heap_budget.write(BENCH, path)
    b = heap_budget.load(path)
    ok, why = heap_budget.verdict(b, "esp32", "mpy")  # 150 KB of at most 112 KB
    assert ok is False
    assert "needs 150.0 KB" in why and "at most 112.0 KB" in why and "frozen into the firmware image does" in why
    ok, why = heap_budget.verdict(b, "esp32", "frozen")
    assert ok is True and "52.0 KB to spare" in why
    ok, why = heap_budget.verdict(b, "pico_w", "mpy", board_heap=190 * KB)  # measured on the board
    assert ok is True and "needs 155.0 KB" in why and "35.0 KB to spare" in why  # the Pico W's own figure
    ok, why = heap_budget.verdict(b, "pico_w", "frozen", board_heap=64 * KB)  # the ESP32's 60 would fit
    assert ok is False and "needs 65.0 KB" in why
    ok, why = heap_budget.verdict(b, "pico_w", "mpy", board_heap=100 * KB)
    assert ok is False and "frozen into the firmware image does" in why
    ok, why = heap_budget.verdict(b, "pico_w", "mpy", board_heap=50 * KB)
    assert ok is False and "no measured route fits" in why
    assert heap_budget.verdict(None, "esp32", "mpy")[0] is None
    # a board without figures of its own (the virtual one) is held to the ESP32's
    ok, why = heap_budget.verdict(b, "sim", "mpy", board_heap=200 * KB)
    assert ok is True and "needs 150.0 KB" in why


def test_the_shipped_budget_came_from_the_bench():
    """The committed file is the bench's output (./bms bench --write-budget):
    both routes' figures, the commit and the firmware digest it was measured
    for. Whether it is current is flash.py's warning ("re-measure"), not a
    failure here: every firmware change would otherwise need an hour's bench."""
    b = heap_budget.load()
    assert b is not None, "tools/heap_budget.json is missing: ./bms bench --write-budget"
    assert b.data["measured_by"] == "./bms bench (32-bit MicroPython build)"
    assert set(b.data["figures"]) == set(heap_budget.ALL_KEYS)
    for board, routes in heap_budget.BOARD_ROUTES.items():
        for route in routes:
            need = b.need(route, board)
            assert isinstance(need, int) and 16 * KB < need < 1024 * KB, (board, route)
    assert len(b.data["firmware_sha256"]) == 64 and len(b.commit.split("+")[0]) == 40


def test_a_refusal_names_the_first_route_that_fits(tree):
    path = tree / "budget.json"
    heap_budget.write(dict(BENCH, heap32_min_romfs_ble=100 * KB), path)
    b = heap_budget.load(path)
    assert b.need("romfs") == 100 * KB
    ok, why = heap_budget.verdict(b, "esp32", "mpy")
    assert ok is False and "bytecode in ROMFS does: 100.0 KB" in why
    ok, why = heap_budget.verdict(b, "pico_w", "mpy", board_heap=90 * KB)
    assert ok is False and "frozen into the firmware image does: 65.0 KB" in why
    # the Pico W's v1.28 image has no ROMFS: no figure, no verdict before the upload
    ok, why = heap_budget.verdict(b, "pico_w", "romfs", board_heap=190 * KB)
    assert ok is None and "no measured figure for bytecode in ROMFS on pico_w" in why
