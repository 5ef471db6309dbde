"""Bench tests talk to a board through mpremote: the virtual board by default,
a real one when BMS_PORT names it (BMS_BOARD: esp32 or pico_w, default esp32).
The board is flashed once per session by tools/flash.py; each test that talks
to it gets it in maintenance mode (the stopped app, the watchdog off), as a
person at the REPL would (docs/bench-testing.md)."""
import os

import pytest

from tools import flash
from tools.device import Device


@pytest.fixture(scope="session")
def target(tmp_path_factory):
    port = os.environ.get("BMS_PORT")
    vb = None
    if port:
        board = os.environ.get("BMS_BOARD", "esp32")
    else:
        board = "sim"
        vb = flash.virtual_board(tmp_path_factory.mktemp("vboard"))
        port = vb.start()
    dev = Device(port, vb).open()
    summary = flash.flash(dev, board)
    yield {"dev": dev, "board": board, "vboard": vb, "first_flash": summary}
    dev.close()
    if vb is not None:
        vb.stop()


@pytest.fixture
def dev(target):
    d = target["dev"]
    flash.enter_maintenance(d)
    return d
