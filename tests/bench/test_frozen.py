"""flash.py --frozen on the virtual board, standing in for a board whose
MicroPython image has the firmware frozen in (manifest.py): the compiled
firmware, boot.py and main.py sit in a folder outside the board's
filesystem, where a board keeps its frozen modules, and the board runs the
image's boot.py and main.py first, as a port does. Only board.json goes on
the filesystem; copies there that would shadow the image's are removed."""
import pytest

from tools import build, flash
from tools.device import Device


@pytest.fixture
def board(tmp_path):
    vb = flash.virtual_board(tmp_path / "vboard")
    dev = Device(vb.start(), vb).open()
    yield vb, dev, tmp_path / "image"
    dev.close()
    vb.stop()


def _freeze(vb, image):
    """The image's frozen modules: what manifest_firmware.py freezes, compiled
    (boot.py and main.py as source: the virtual board compiles what it runs by name)."""
    for path, data in build.stage("sim").items():
        if path != "board.json":
            (image / path).parent.mkdir(parents=True, exist_ok=True)
            (image / path).write_bytes(data)
    vb.extra_path.insert(0, str(image))
    vb.reset()  # the board boots the new image


def test_frozen_route_writes_only_the_board_file(board):
    vb, dev, image = board
    flash.flash(dev, "sim")  # first the .mpy route: every module on the filesystem
    _freeze(vb, image)
    dev.rebooted()
    s = flash.flash(dev, "sim", frozen=True)
    assert s["route"] == "frozen" and s["frozen_in_image"] == flash.VERSION
    assert "app.mpy" in s["remove"] and "bms/controller.mpy" in s["remove"]
    assert not (vb.root / "app.mpy").exists() and not (vb.root / "bms" / "controller.mpy").exists()
    assert not (vb.root / "main.py").exists() and not (vb.root / "boot.py").exists()
    assert "main.py" in s["remove"] and (vb.root / "board.json").is_file()
    fw = s["firmware"]
    assert fw["running"] and fw["ticks"] > 0 and fw["version"] == flash.VERSION
    assert flash.flash(dev, "sim", frozen=True)["remove"] == []  # nothing left to do


def test_frozen_route_on_a_board_without_the_image_is_refused(board):
    vb, dev, _ = board
    flash.flash(dev, "sim")
    with pytest.raises(flash.FlashError, match="no frozen firmware"):
        flash.flash(dev, "sim", frozen=True)
    assert (vb.root / "app.mpy").is_file()  # nothing removed


def test_romfs_is_refused_plainly_where_the_micropython_has_none(board):
    vb, dev, _ = board  # the unix port, like the stock ESP32 and Pico W builds, has no ROMFS
    flash.flash(dev, "sim")
    assert flash.romfs_partitions(dev) == 0
    with pytest.raises(flash.FlashError, match="no ROMFS partition; the stock"):
        flash.flash(dev, "sim", romfs=True)
    assert (vb.root / "app.mpy").is_file()  # nothing changed
