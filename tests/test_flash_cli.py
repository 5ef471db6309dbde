"""tools/flash.py's plain answers when there is nothing (or too much) to flash."""
from types import SimpleNamespace

import pytest

from tools import device, flash


def _ports(monkeypatch, *names):
    fake = [SimpleNamespace(device=n, vid=0x2E8A, pid=0x0005, description="Board in FS mode")
            for n in names]
    monkeypatch.setattr(device.serial.tools.list_ports, "comports", lambda: fake)


def test_no_board_plugged_in(monkeypatch, capsys):
    _ports(monkeypatch)
    assert flash.main(["--board", "esp32"]) == 1
    assert "no board found" in capsys.readouterr().err


def test_several_boards_need_a_port(monkeypatch, capsys):
    _ports(monkeypatch, "/dev/ttyACM0", "/dev/ttyACM1")
    assert flash.main(["--board", "pico_w", "--port", "auto"]) == 1
    err = capsys.readouterr().err
    assert "several" in err and "/dev/ttyACM0" in err and "/dev/ttyACM1" in err


def test_one_board_is_found(monkeypatch):
    _ports(monkeypatch, "/dev/ttyACM0")
    assert device.detect_port() == "/dev/ttyACM0"


def test_unknown_board(capsys):
    assert flash.main(["--board", "esp8266", "--port", "/dev/null"]) == 1
    assert "unknown board 'esp8266'" in capsys.readouterr().err


def test_port_that_is_not_there(capsys):
    assert flash.main(["--board", "esp32", "--port", "/dev/ttyNOPE9"]) == 1
    assert "cannot open /dev/ttyNOPE9" in capsys.readouterr().err


def test_dry_run_on_the_virtual_board_lists_and_changes_nothing(tmp_path, capsys):
    assert flash.main(["--dry-run", "--vboard-dir", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "would upload main.py" in err and "would upload board.json" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_plan_never_touches_stored_files():
    with pytest.raises(flash.FlashError, match="settings.bin"):
        flash.Plan({"settings.bin": b"x"}, {})


def test_maintenance_only_on_the_virtual_board(tmp_path, capsys):
    # a bare board: boot.py and main.py go on first, then it boots into maintenance
    assert flash.main(["--maintenance", "60", "--vboard-dir", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "maintenance mode entered (boot.py and main.py updated first)" in err
    assert "at most 60 s" in err and "resume repl" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boot.py", "main.py"]


def test_romfs_image_holds_the_firmware_and_runs_in_place(tmp_path):
    """The image flash.py --romfs deploys, mounted as the port mounts a ROMFS
    partition (vfs.VfsRom over the image): the firmware imports from it."""
    import subprocess

    from tools import build, mpy

    img = tmp_path / "firmware.romfs"
    img.write_bytes(flash.romfs_image("sim"))
    code = ("import vfs, sys\nvfs.mount(vfs.VfsRom(open(%r, 'rb').read()), '/rom')\n"
            "sys.path[:] = ['/rom', '.frozen']\n"
            "import version, bms.controller, app\n"
            "print(version.VERSION, bms.controller.__file__)" % str(img))
    proc = subprocess.run(mpy.command() + ["-c", code], capture_output=True, text=True,
                          env={"MICROPYPATH": ".frozen"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split() == [flash.VERSION, "/rom/bms/controller.mpy"]
    assert "main.py" not in proc.stdout and build.RUN_BY_NAME == ("boot.py", "main.py")


def test_romfs_image_with_aioble_carries_its_modules(tmp_path):
    """--romfs --aioble DIR: aioble's modules go into the image's lib/aioble
    (on sys.path as /rom/lib), compiled for the board like the firmware."""
    import subprocess

    from tools import mpy

    img = tmp_path / "firmware.romfs"
    img.write_bytes(flash.romfs_image("sim", mpy.aioble_path()))
    code = ("import vfs, os\nvfs.mount(vfs.VfsRom(open(%r, 'rb').read()), '/rom')\n"
            "print(sorted(os.listdir('/rom/lib/aioble')))\nprint('controller.mpy' in os.listdir('/rom/bms'))"
            % str(img))
    proc = subprocess.run(mpy.command() + ["-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = proc.stdout.splitlines()
    assert listed[0] == str(sorted(n + ".mpy" for n in flash.AIOBLE_MODULES))
    assert listed[1] == "True"


def test_romfs_with_aioble_removes_a_copy_that_would_shadow_the_image():
    from tools import mpy

    aioble = mpy.aioble_path()
    romfs = flash.route_shadows("esp32", "romfs", aioble)
    assert "lib/aioble/core.mpy" in romfs and "lib/aioble/core.py" in romfs
    assert "bms/controller.mpy" in romfs and "bms/controller.py" in romfs
    assert "lib/aioble/core.mpy" not in flash.route_shadows("esp32", "romfs")
    assert "lib/aioble/core.mpy" not in flash.route_shadows("esp32", "frozen", aioble)
    assert flash.route_shadows("esp32", "mpy", aioble) == ()
