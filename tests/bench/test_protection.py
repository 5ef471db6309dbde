"""Protection reacts to the battery frames the board receives.

On the virtual board the frames come from the simulator's battery chain
(boards/sim/chain.py) inside the sim board. On a real board they come from
tools/battery_emulator.py -- the same chain -- through a USB-serial adapter
wired to the battery-cable pins; name it with BMS_LINK_PORT.
"""
import json
import os
import subprocess
import sys

import pytest

from tools import build

BATTERIES = 4


def run_ms(dev, ms):
    return dev.value("import bench; print(repr(bench.run(%d)))" % ms)


@pytest.fixture
def link(dev, target, tmp_path):
    """A callable that unplugs (True) or reconnects (False) the battery cable."""
    dev.run("import bench; bench.set('battery_count', %d)" % BATTERIES)
    if target["board"] == "sim":
        dev.run("import bench; hw = bench.app().hw")
        yield lambda off: dev.run("hw.chain.unplug(%r)" % off)
        return
    port = os.environ.get("BMS_LINK_PORT")
    if not port:
        pytest.skip("real board: set BMS_LINK_PORT to the USB-serial adapter on the battery cable")
    # the emulator unplugs the cable from 4 s to 8 s after it starts
    scn = tmp_path / "unplug.json"
    scn.write_text(json.dumps({"batteries": BATTERIES, "events": [
        {"at_ms": 4000, "do": "unplug", "on": True}, {"at_ms": 8000, "do": "unplug", "on": False}]}))
    emu = subprocess.Popen([sys.executable, str(build.ROOT / "tools" / "battery_emulator.py"), port,
                            "--scenario", str(scn), "--duration", "15"])
    yield lambda off: None  # the scenario's timeline does it
    emu.terminate()
    emu.wait()


def test_lost_battery_data_blocks_charge_and_discharge_and_recovers(dev, link):
    link(False)
    s = run_ms(dev, 3000)
    assert s["data_ok"] and s["batteries_seen"] == BATTERIES
    assert s["atc"] and s["atd"]
    link(True)
    s = run_ms(dev, 3000)  # longer than link_timeout_ms (1 s)
    assert not s["data_ok"]
    assert not s["atc"] and not s["atd"]
    assert not s["chg_fet"] and not s["dsg_fet"]
    link(False)
    s = run_ms(dev, 4000)
    assert s["data_ok"] and s["atc"] and s["atd"]
