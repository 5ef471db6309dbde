# micropython
# The BLE seam over the real firmware: App + Controller on the simulated board,
# the settings file in an atomic Store, the Instant Readout key.
import sys
from boards.sim import bluetooth

sys.modules["bluetooth"] = bluetooth
import app as firmware_app  # noqa: E402
from boards.sim import runner  # noqa: E402
from boards.sim import scenario as SC  # noqa: E402
from boards.sim.clock import VirtualClock  # noqa: E402
from bms import protocol as P  # noqa: E402
from bms import auth as A  # noqa: E402
from bms.protection import LOW_POWER  # noqa: E402
from drivers.ble_app import BleApp, SETTINGS_FILE  # noqa: E402
from drivers.storage import Store  # noqa: E402
from memfs import MemFs  # noqa: E402


def rand(n):
    return bytes((i * 37 + 11) % 250 for i in range(n))


def board():
    clock = VirtualClock()
    run = runner.Run(SC.load("idle"), clock, 5000, None, 1000, "/tmp/bms-ble-app-test")
    app = firmware_app.App(run.board, clock.ticks_ms)
    for _ in range(200):  # two seconds of control ticks
        clock.advance(10)
        app.controller.tick(clock.ticks_ms())
    return app


def test_status_cells_history_from_the_real_controller():
    app = board()
    ble = BleApp(app, Store("", MemFs()), False, rand)
    st = P.decode_status(ble.status_bytes())
    pack = app.controller.pack
    assert st["configured"] == pack.configured and st["min_cell_mv"] == pack.min_cell_mv
    assert st["prot_state"] == app.controller.protection.state
    cells = P.decode_cells(ble.cells_bytes(0))
    assert cells["batteries"][0]["cell_mv"] == [pack.cell_mv[i] for i in range(4)]
    body, more = ble.history_page(0)
    counters, _events = P.decode_history([body])
    assert counters["lvd"] == app.history.lvd


def test_settings_and_secrets_persist_across_boot():
    fs = MemFs()
    app = board()
    ble = BleApp(app, Store("", fs), False, rand)
    puk = ble.auth.puk
    assert ble.problems == [] and len(puk) == 8
    assert ble.apply_settings({"battery_count": 1, "device_name": "Boat"}) == []
    assert ble.apply_settings({"cell_ov_mv": 9999})[0][1] == P.E_RANGE
    ble.auth.failures = 5
    ble.auth.dirty = True
    ble.save_auth()
    app2 = board()
    ble2 = BleApp(app2, Store("", fs), False, rand)
    assert app2.settings.device_name == "Boat" and app2.settings.cell_ov_mv == 3750
    assert ble2.auth.puk == puk and ble2.auth.failures == 5
    assert ble2.auth.readout_key == ble.auth.readout_key
    assert ble2.auth.hello(0, bytes(16)) == P.E_LOCKED_OUT  # the lockout came back
    # a corrupt file: the last good copy
    raw = bytearray(fs.files[SETTINGS_FILE])
    raw[10] ^= 1
    fs.files[SETTINGS_FILE] = bytes(raw)
    ble3 = BleApp(board(), Store("", fs), False, rand)
    assert ble3.settings.device_name == "Boat"
    assert "settings.bin.bak" in ble3.store.problems[0]


def test_commands_reach_the_controller():
    app = board()
    ble = BleApp(app, Store("", MemFs()), False, rand)
    prot = app.controller.protection
    assert prot.state != LOW_POWER and ble.command(P.CMD_WAKE) == P.E_REFUSED
    prot.oc_trips = 2
    assert ble.command(P.CMD_CLEAR_ALARMS) == P.OK and prot.oc_trips == 0
    app.history.lvd = 3
    assert ble.command(P.CMD_CLEAR_HISTORY) == P.OK and app.history.lvd == 0
    assert ble.command(P.CMD_RESTART) == P.E_REFUSED  # no restart hook given
    asked = []
    ble.restart = lambda: asked.append(1)
    assert ble.command(P.CMD_RESTART) == P.OK and asked == [1]


def test_readout_payload_follows_the_key():
    app = board()
    store = Store("", MemFs())
    ble = BleApp(app, store, True, rand)
    key = ble.auth.readout_key
    adv, resp = ble.adv_payload()
    assert len(adv) <= 31 and len(resp) <= 31
    ble.auth.hello(0, bytes(16))
    ble.auth.prove_pin(0, A.proof("000000", P.PIN_LABEL, bytes(16)))
    assert ble.auth.change_pin("112233", bytes(16)) == P.OK
    ble.save_auth()
    assert ble.auth.readout_key != key
    again = BleApp(board(), store, False, rand)  # the new key is stored
    assert again.auth.readout_key == ble.auth.readout_key and again.settings.pin == "112233"
