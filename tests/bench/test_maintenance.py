"""Maintenance mode and the watchdog on the virtual board, whose watchdog
really resets it (tools/vboard.py): a Ctrl-C on the running BMS is reset
within the timeout, a hung control task too; flash.py and a REPL session in
maintenance outlive the timeout; every way out of maintenance boots the BMS.

These tests wait for the board: past the watchdog's timeout where nothing
may reset it, up to a generous deadline where something must. No figure
depends on the host's speed."""
import time

import pytest

from tools import build, flash
from tools.device import Device, DeviceError

WDT_S = 5.0  # drivers/watchdog.py TIMEOUT_MS
DEADLINE_S = 30  # for what must happen within WDT_S, on a loaded host

HANG_BOARD = '''
# The simulated board with a driver that hangs in the 50th control tick
import boards.sim


def make():
    hw = boards.sim.make()
    read = hw.sense.read
    calls = [0]

    def hanging(meas):
        calls[0] += 1
        while calls[0] > 50:
            pass
        read(meas)

    hw.sense.read = hanging
    return hw
'''


@pytest.fixture
def board(tmp_path):
    """A virtual board freshly flashed, running the BMS."""
    vb = flash.virtual_board(tmp_path / "vboard")
    dev = Device(vb.start(), vb).open()
    try:
        flash.flash(dev, "sim")
        yield vb, dev
    finally:
        dev.close()
        vb.stop()


def _wait_boot(vb, dev, boots):
    end = time.monotonic() + DEADLINE_S
    while vb.boots == boots:
        assert time.monotonic() < end, "the board was not reset within %d s" % DEADLINE_S
        time.sleep(0.05)
    time.sleep(0.5)  # booted, and past the port's start (a Ctrl-C before it would kill it)
    dev.rebooted()


def _outputs(dev):
    return dev.value("import bench\nhw = bench.app().hw\nprint(repr((hw.chg_gate.on, hw.dsg_gate.on, "
                     "hw.alt_gate.duty_cpct, hw.load_out.on, hw.charge_out.on, hw.prealarm_out.on)))")


def test_ctrl_c_stops_the_bms_with_outputs_off_and_the_watchdog_resets_it(board):
    vb, dev = board
    assert flash.board_mode(dev) == "stopped"  # the Ctrl-C of this query stopped it
    assert _outputs(dev) == (False, False, 0, False, False, False)
    boots, resets = vb.boots, vb.wdt_resets
    _wait_boot(vb, dev, boots)
    assert vb.wdt_resets == resets + 1
    info = dev.value(flash._INFO)
    assert info["running"] and info["ticks"] > 0  # the BMS is back


def test_a_hung_control_task_resets_the_board(board):
    vb, dev = board
    flash.enter_maintenance(dev)
    (vb.root / "boards" / "hang.py").write_text(HANG_BOARD)
    dev.run("f = open('board.json', 'w')\nf.write('{\"board\": \"hang\"}')\nf.close()")
    resets = vb.wdt_resets
    dev.reset()
    end = time.monotonic() + DEADLINE_S
    while vb.wdt_resets == resets:
        assert time.monotonic() < end, "a hung control task was not reset"
        time.sleep(0.05)


def test_a_repl_session_in_maintenance_outlives_the_watchdog(board):
    vb, dev = board
    assert flash.enter_maintenance(dev) == "entered"
    assert _outputs(dev) == (False, False, 0, False, False, False)
    dev.run("kept = 41")
    boots = vb.boots
    time.sleep(WDT_S + 1.5)
    assert vb.boots == boots and vb.wdt_resets == 0
    assert dev.value("print(kept + 1)") == 42
    assert flash.board_mode(dev) == "maintenance"


def test_a_flash_longer_than_the_watchdog_timeout_survives(board, monkeypatch):
    vb, dev = board
    survey = flash.survey
    stalls = []

    def slow_survey(d, files, shadows=()):  # a board with a slow flash, or a slow USB link
        if not stalls:
            stalls.append(time.sleep(WDT_S + 1.5))
        return survey(d, files, shadows)

    monkeypatch.setattr(flash, "survey", slow_survey)
    dev.run("import os\nos.remove('app.mpy')")
    resets = vb.wdt_resets
    s = flash.flash(dev, "sim")
    assert s["maintenance"] == "entered" and s["upload"] == ["app.mpy"]
    assert vb.wdt_resets == resets  # none during the flash
    assert s["firmware"]["running"] and s["firmware"]["ticks"] > 0


def test_a_power_cycle_in_maintenance_boots_the_bms(board):
    vb, dev = board
    flash.enter_maintenance(dev)
    dev.reset()  # the virtual board's reset is a power cycle
    assert flash.board_mode(dev) == "stopped"
    assert dev.value(flash._INFO)["ticks"] > 0
    assert not (vb.root / flash.MARKER).exists()


def test_maintenance_ends_by_itself_when_its_lease_runs_out(board):
    vb, dev = board
    flash.enter_maintenance(dev, lease_s=2)
    boots, resets = vb.boots, vb.wdt_resets
    _wait_boot(vb, dev, boots)
    assert vb.wdt_resets == resets  # the lease's machine.reset(), not the watchdog
    assert flash.board_mode(dev) == "stopped"  # the BMS ran
    assert dev.value(flash._INFO)["ticks"] > 0


def test_an_error_at_the_repl_in_maintenance_stays_in_maintenance(board):
    vb, dev = board
    flash.enter_maintenance(dev)
    boots = vb.boots
    with pytest.raises(DeviceError, match="MemoryError"):
        dev.run("raise MemoryError('a crash at the REPL')")
    assert flash.board_mode(dev) == "maintenance" and vb.boots == boots
    assert _outputs(dev) == (False, False, 0, False, False, False)


def test_a_firmware_without_maintenance_mode_is_taken_over(board):
    """A board whose main.py predates maintenance mode: it runs the BMS with
    the watchdog armed and ignores the request. flash.py puts this boot.py
    and main.py on it within the watchdog's window, then flashes in maintenance."""
    vb, dev = board
    flash.enter_maintenance(dev)
    old = (build.FIRMWARE / "main.py").read_text().replace(build.main_constant("MARKER"), "nothing.req")
    (vb.root / "main.py").write_text(old)
    (vb.root / "boot.py").unlink()
    dev.reset()
    assert flash.board_mode(dev) == "stopped"  # it ran the BMS, and its watchdog is armed
    resets = vb.wdt_resets
    s = flash.flash(dev, "sim")
    assert s["maintenance"] == "entered (boot.py and main.py updated first)"
    assert vb.wdt_resets == resets
    assert (vb.root / "main.py").read_text() == (build.FIRMWARE / "main.py").read_text()
