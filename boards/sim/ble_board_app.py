# The simulated board as the app behind boards/sim/ble_bridge.py: the firmware
# App (control task) on the plant in real time and its Instant Readout; the
# bridge serves the App's Bluetooth seam (app.ble), so
# `bmsctl --sim boards.sim.ble_board_app` talks to the whole firmware.
import asyncio
import os

import app as firmware_app
from boards.sim import runner
from boards.sim import scenario as SC
from boards.sim.clock import RealClock

_LONG_MS = 1000000000  # runs until the bridge ends
STORE_DIR = "/tmp/bms-ble-bridge-store"


def _fresh_flash(path):
    """Each bridge run starts from an empty simulated flash (first boot)."""
    try:
        names = os.listdir(path)
    except OSError:
        return
    for n in names:
        os.remove(path + "/" + n)


def make_app(scenario="idle"):
    _fresh_flash(STORE_DIR)
    run = runner.Run(SC.load(scenario), RealClock(), _LONG_MS, None, 1000, STORE_DIR)
    app = firmware_app.App(run.board, run.clock.ticks_ms)
    errors = app.settings.update(run.scn.settings)  # the scenario's bank, as the runner does
    if errors:
        raise SC.ScenarioError("settings: " + errors[0][2])
    asyncio.create_task(runner._plant_task(run, app, _LONG_MS))
    asyncio.create_task(app.control())
    app.start_readout()
    return app.ble
