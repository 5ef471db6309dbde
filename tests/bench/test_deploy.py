"""Deploy and boot through mpremote, as a user's flash would."""
import pytest

from tools import build, flash
from tools.device import DeviceError

VERSION = (build.FIRMWARE / "version.py").read_text().split('"')[1]


def test_first_flash_boots_and_reports_version_and_status(target):
    fw = target["first_flash"]["firmware"]
    assert fw["version"] == VERSION
    assert fw["board"] == target["board"]
    assert fw["running"] and fw["ticks"] > 0 and fw["faults"] == 0


def test_second_flash_uploads_nothing(dev, target):
    s = flash.flash(dev, target["board"])
    assert s["upload"] == [] and s["remove"] == []


def test_dry_run_changes_nothing(dev, target):
    dev.run("f = open('app.mpy', 'ab'); f.write(b'x'); f.close()")
    s = flash.flash(dev, target["board"], dry_run=True)
    assert s["upload"] == ["app.mpy"]
    with pytest.raises(flash.FlashError, match="app.mpy"):
        flash.flash(dev, target["board"], verify=True)
    s = flash.flash(dev, target["board"])
    assert s["upload"] == ["app.mpy"]
    assert flash.flash(dev, target["board"], verify=True)["firmware"]["running"]


def test_stale_py_that_would_shadow_an_mpy_is_removed(dev, target):
    dev.run("f = open('bms/ticks.py', 'w'); f.write('raise ImportError(1)'); f.close()")
    s = flash.flash(dev, target["board"])
    assert s["remove"] == ["bms/ticks.py"]
    assert dev.value("import os; print('ticks.py' in os.listdir('bms'))") is False


def test_stored_data_survives_a_flash(dev, target):
    # real boards keep their own files: only check that nothing changes them
    names = build.KEEP
    before = flash.survey(dev, {n: b"" for n in names})
    if target["vboard"] is not None:
        for n in ("settings.bin", "settings.bin.bak", "readout.key"):
            dev.run("f = open(%r, 'wb'); f.write(b'stored'); f.close()" % n)
        before = flash.survey(dev, {n: b"" for n in names})
        assert before["settings.bin.bak"] is not None
    dev.run("import os; os.remove('app.mpy')")
    flash.flash(dev, target["board"])
    assert flash.survey(dev, {n: b"" for n in names}) == before


def test_unknown_board_is_refused_before_touching_the_device(dev):
    with pytest.raises(build.BuildError, match="unknown board 'esp8266'"):
        flash.flash(dev, "esp8266")


def test_board_code_errors_are_reported_plainly(dev):
    with pytest.raises(DeviceError, match="ZeroDivisionError"):
        dev.run("1/0")
