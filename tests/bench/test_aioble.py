"""aioble on the board: installed from a local copy (--aioble DIR) when the
board lacks it, refused plainly on a Pico W (whose firmware freezes it)."""
import pytest

from tools import flash, mpy
from tools.device import Device


@pytest.fixture
def bare(tmp_path):
    """A virtual board with the radio but without aioble, like a stock ESP32."""
    vb = flash.virtual_board(tmp_path / "vboard")
    vb.extra_path = [p for p in vb.extra_path if p != mpy.aioble_path()]
    port = vb.start()
    dev = Device(port, vb).open()
    yield dev
    dev.close()
    vb.stop()


def test_aioble_installed_from_a_local_copy(bare):
    assert not flash.aioble_present(bare)
    how = flash.install_aioble(bare, "esp32", mpy.aioble_path(), flash.Console(quiet=True))
    assert how.startswith("installed from")
    assert flash.aioble_present(bare)
    assert (bare.vboard.root / "lib" / "aioble" / "core.mpy").is_file()


def test_missing_aioble_on_a_pico_w_is_explained(bare):
    with pytest.raises(flash.FlashError, match="freezes it"):
        flash.install_aioble(bare, "pico_w", None, flash.Console(quiet=True))


def test_a_folder_without_aioble_is_refused(bare, tmp_path):
    with pytest.raises(flash.FlashError, match="no aioble package"):
        flash.install_aioble(bare, "esp32", str(tmp_path), flash.Console(quiet=True))
