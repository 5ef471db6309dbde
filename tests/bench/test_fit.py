"""flash.py's fit check on the virtual board: a combination known not to fit
is refused before anything is written, with the route that fits; a flash
that fits says with what margin, and what the board's heap holds after boot.
The budgets here are placeholders made up for the tests (tests/test_heap_budget.py
for the real file)."""
import pytest

from tools import flash, heap_budget
from tools.device import Device

HEAP = 2 * 1024 * 1024  # the virtual board's -X heapsize


@pytest.fixture
def bare(tmp_path):
    vb = flash.virtual_board(tmp_path / "vboard", heap_bytes=HEAP)
    dev = Device(vb.start(), vb).open()
    yield vb, dev
    dev.close()
    vb.stop()


def _budget(tmp_path, mpy, frozen):
    path = tmp_path / "placeholder-budget.json"
    heap_budget.write({"heap32_min_mpy_ble": mpy, "heap32_min_frozen_ble": frozen}, path)
    return heap_budget.load(path)


def test_a_firmware_known_not_to_fit_is_refused_before_upload(bare, tmp_path):
    vb, dev = bare
    budget = _budget(tmp_path, mpy=3 * HEAP, frozen=HEAP // 4)
    with pytest.raises(flash.FlashError) as e:
        flash.flash(dev, "sim", budget=budget)
    msg = str(e.value)
    assert "refused, nothing uploaded" in msg and "does not fit sim" in msg
    assert "frozen into the firmware image does" in msg
    assert sorted(p.name for p in vb.root.iterdir()) == []


def test_a_flash_that_fits_says_its_margin_and_the_heap_after_boot(bare, tmp_path):
    vb, dev = bare
    budget = _budget(tmp_path, mpy=HEAP // 2, frozen=HEAP // 4)
    s = flash.flash(dev, "sim", budget=budget)
    assert "to spare" in s["fit"] and "needs 1024.0 KB" in s["fit"]
    fw = s["firmware"]
    assert 0 < fw["mem_free"] < HEAP and 0 < fw["mem_alloc"] < HEAP
    assert "KB free" in s["heap"]
