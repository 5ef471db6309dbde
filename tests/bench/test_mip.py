"""`mpremote mip install` of package.json, against a local path, onto a fresh
virtual board: the installed tree imports and the firmware boots from it."""
import subprocess
import sys

from tools import flash
from tools.device import Device


def test_mip_install_from_local_package_json_boots(tmp_path):
    vb = flash.virtual_board(tmp_path / "vboard")
    port = vb.start()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mpremote", "connect", port, "resume",
             "mip", "install", "--target", ".", str(flash.build.ROOT / "package.json")],
            capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert (vb.root / "bms" / "controller.py").is_file()
        assert (vb.root / "main.py").is_file()
        # the sim board is a host tool, not part of the package: add it the way flash.py would
        dev = Device(port, vb).open()
        try:
            files = {k: v for k, v in flash.build.stage("sim").items()
                     if k.startswith("boards/sim/") or k == "board.json"}
            flash.upload(dev, flash.Plan(files, flash.survey(dev, files)), flash.Console(quiet=True))
            info = flash.check_boot(dev, "sim")
            assert info["running"] and info["ticks"] > 0
        finally:
            dev.close()
    finally:
        vb.stop()
