# micropython
# The firmware App on the simulated board: settings, secrets and history
# persist across a boot through the atomic Store; the BLE seam reaches the
# controller; the control task and a restart leave every output open.
import gc
import sys
import asyncio
from boards.sim import bluetooth

sys.modules["bluetooth"] = bluetooth
import app as firmware_app  # noqa: E402
import persist  # noqa: E402
from boards.sim import runner  # noqa: E402
from boards.sim import scenario as SC  # noqa: E402
from boards.sim.clock import RealClock, VirtualClock  # noqa: E402
from bms import client as P  # noqa: E402
from bms import auth as A  # noqa: E402
from bms.protocol import _version_numbers  # noqa: E402
from bms.undervoltage import LOW_POWER  # noqa: E402
from drivers.storage import Store  # noqa: E402
from memfs import MemFs  # noqa: E402
from version import VERSION  # noqa: E402


def rand(n):
    return bytes((i * 37 + 11) % 250 for i in range(n))


def board(fs=None, scenario="idle", ticks=200):
    clock = VirtualClock()
    run = runner.Run(SC.load(scenario), clock, 5000, None, 1000, "/tmp/bms-app-test")
    run.board.store = Store("", fs if fs is not None else MemFs())
    app = firmware_app.App(run.board, clock.ticks_ms, rand)
    assert app.settings.update(run.scn.settings) == []  # as the sim runner does
    for _ in range(ticks):  # two seconds of control ticks, the plant alongside (runner.py)
        app.controller.tick(clock.ticks_ms())
        run.board.step(10)
        clock.advance(10)
    return app


def test_status_cells_history_from_the_real_controller():
    app = board()
    st = P.decode_status(app.ble.status_bytes())
    pack = app.controller.pack
    assert st["configured"] == pack.configured and st["min_cell_mv"] == pack.min_cell_mv
    assert st["prot_state"] == app.controller.protection.uv.state
    cells = P.decode_cells(app.ble.cells_bytes(0))
    assert cells["batteries"][0]["cell_mv"] == [pack.cell_mv[i] for i in range(4)]
    body, more = app.ble.history_page(0)
    counters, _events = P.decode_history([body])
    assert counters["lvd"] == app.history.lvd


def test_status_carries_state_of_charge_and_version():
    app = board(ticks=0)
    st = P.decode_status(app.ble.status_bytes())
    assert st["soc_pm"] == P.SOC_UNKNOWN  # no state of charge counted yet
    clock = app.hw.clock
    for _ in range(200):  # the controller counts it, Bluetooth or not (issue 16)
        clock.advance(10)
        app.controller.tick(clock.ticks_ms())
    assert app.ble.readout is None
    st = P.decode_status(app.ble.status_bytes())
    soc = app.controller.soc
    assert soc.known and st["soc_pm"] == soc.soc_pm and 0 < st["soc_pm"] <= 1000
    assert st["consumed_mah"] == soc.consumed_mah
    assert (st["fw_major"], st["fw_minor"], st["fw_patch"]) == tuple(_version_numbers(VERSION))
    app.start_readout()  # the readout reads the same count
    assert app.ble.adv_payload() is not None
    assert app.ble.readout.readout.record.soc_pm == soc.soc_pm


def test_first_boot_writes_secrets_and_reports_nothing():
    fs = MemFs()
    app = board(fs)
    assert app.problems == [] and len(app.auth.puk) == 8
    assert persist.SETTINGS_FILE in fs.files
    assert app.persistence.first_boot  # the PUK went to the console once
    assert not board(fs).persistence.first_boot


def test_a_first_boot_says_so_when_the_flash_refuses_its_secrets():
    fs = MemFs()
    fs.full = True
    app = board(fs)
    assert app.persistence.first_boot and "not stored" in app.problems[-1]
    fs.full = False
    assert board(fs).problems == []


def test_settings_and_secrets_persist_across_boot():
    fs = MemFs()
    app = board(fs)
    puk = app.auth.puk
    assert app.ble.apply_settings({"battery_count": 1, "device_name": "Boat"}) == []
    assert app.ble.apply_settings({"cell_ov_mv": 9999})[0][1] == P.E_RANGE
    app.auth.failures = 5
    app.auth.dirty = True
    app.ble.save_auth()
    app2 = board(fs)
    assert app2.settings.device_name == "Boat" and app2.settings.cell_ov_mv == 3750
    assert app2.auth.puk == puk and app2.auth.failures == 5
    assert app2.auth.readout_key == app.auth.readout_key
    assert app2.auth.hello(0, bytes(16)) == P.E_LOCKED_OUT  # the lockout came back
    # a corrupt file: the last good copy, reported
    raw = bytearray(fs.files[persist.SETTINGS_FILE])
    raw[10] ^= 1
    fs.files[persist.SETTINGS_FILE] = bytes(raw)
    app3 = board(fs)
    assert app3.settings.device_name == "Boat"
    assert "settings.bin.bak" in app3.hw.store.problems[0]


def test_corrupt_settings_without_a_copy_fall_back_to_defaults_reported():
    fs = MemFs()
    fs.files[persist.SETTINGS_FILE] = b"\x00garbage\xff" * 5
    app = board(fs)
    assert app.settings.values()["device_name"] == "SmartBMS"
    assert app.problems or app.hw.store.problems


def test_history_persists_across_boot_and_survives_corruption():
    fs = MemFs()
    app = board(fs)
    app.history.lvd = 7
    app.persistence.save_history()
    assert board(fs).history.lvd == 7
    raw = bytearray(fs.files[persist.HISTORY_FILE])
    raw[len(raw) // 2] ^= 0x40
    fs.files[persist.HISTORY_FILE] = bytes(raw)
    for suffix in (".bak", ".new"):
        fs.files.pop(persist.HISTORY_FILE + suffix, None)
    app3 = board(fs)
    assert app3.history.lvd == 0
    assert app3.problems or app3.hw.store.problems


def test_commands_reach_the_controller():
    app = board()
    prot = app.controller.protection
    assert prot.uv.state != LOW_POWER and app.ble.command(P.CMD_WAKE) == P.E_REFUSED
    prot.oc.trips = 2
    assert app.ble.command(P.CMD_CLEAR_ALARMS) == P.OK and prot.oc.trips == 0
    app.history.lvd = 3
    assert app.ble.command(P.CMD_CLEAR_HISTORY) == P.OK and app.history.lvd == 0
    assert app.ble.command(P.CMD_RESTART) == P.E_REFUSED  # not restartable here
    assert app.ble.command(77) == P.E_UNKNOWN_OP


def test_readout_payload_follows_the_key():
    fs = MemFs()
    app = board(fs)
    app.start_readout()
    key = app.auth.readout_key
    adv, resp = app.ble.adv_payload()
    assert len(adv) <= 31 and len(resp) <= 31
    app.auth.hello(0, bytes(16))
    app.auth.prove_pin(0, A.proof("000000", P.PIN_LABEL, bytes(16)), app.ble.save_auth)
    assert app.auth.change_pin("112233", bytes(16), app.ble.save_auth) == P.OK
    assert app.auth.readout_key != key
    again = board(fs)  # the new key is stored
    assert again.auth.readout_key == app.auth.readout_key and again.settings.pin == "112233"


def test_restart_command_ends_main_with_everything_open():
    fs = MemFs()
    app = board(fs)
    app.restartable = True
    hw = app.hw

    async def go():
        task = asyncio.create_task(firmware_app.main(hw, app.clock, app, bluetooth=False))
        await asyncio.sleep_ms(300)
        assert hw.chg_gate.on and hw.dsg_gate.on  # running normally
        app.history.lvd = 4
        app.history.dirty = True
        assert app.ble.command(P.CMD_RESTART) == P.OK
        await task
        return task

    asyncio.run(go())
    assert app.restart_requested
    assert not (hw.chg_gate.on or hw.dsg_gate.on or hw.load_out.on or hw.charge_out.on)
    assert hw.alt_gate.duty_cpct == 0
    assert board(fs).history.lvd == 4  # flushed on the way out


def test_cancelled_control_task_opens_everything():
    app = board()
    hw = app.hw

    async def go():
        task = asyncio.create_task(app.control())
        await asyncio.sleep_ms(300)
        assert hw.dsg_gate.on
        # each tick's cost is measured (host time here, the board's own on a board)
        assert 0 < app.tick_us <= app.tick_us_max
        task.cancel()
        await asyncio.sleep_ms(20)

    asyncio.run(go())
    assert not (hw.chg_gate.on or hw.dsg_gate.on or hw.load_out.on or hw.charge_out.on)


def test_the_heap_is_collected_between_ticks_when_it_runs_low_and_the_pause_measured():
    app = board()
    app.clock = RealClock().ticks_ms  # the loop's deadlines in real time, as on a board

    async def go():
        task = asyncio.create_task(app.control())
        await asyncio.sleep_ms(300)
        assert app.gc_runs == 0 and app.gc_us_max == 0  # plenty of heap free
        app.gc_reserve = gc.mem_free() + gc.mem_alloc()  # as if the heap were short of free bytes
        await asyncio.sleep_ms(300)  # the check comes every tenth tick
        assert app.gc_runs > 0 and 0 < app.gc_us <= app.gc_us_max
        task.cancel()
        await asyncio.sleep_ms(20)

    asyncio.run(go())


def test_a_failed_flash_write_is_retried_and_never_reported_as_stored():
    fs = MemFs()
    app = board(fs)
    fs.full = True
    # a wrong PIN in the owner's login window is checked though the flash
    # refuses its count: the count must reach flash, so it stays pending
    app.auth.owner_present(0)
    app.auth.hello(0, bytes(16))
    assert app.auth.prove_pin(0, bytes(16), app.ble.save_auth) == P.E_BAD_PROOF
    assert app.auth.failures == 1 and app.auth.dirty
    assert not app.persistence.save_settings() and app.auth.dirty
    # a settings change the flash refuses is undone, and the phone is told
    errors = app.ble.apply_settings({"device_name": "Boat"})
    assert errors and errors[0][1] == P.E_INTERNAL
    assert app.settings.device_name == "SmartBMS"
    assert app.auth.dirty  # the failure count is still waiting
    fs.full = False

    async def one_persist_round():
        task = asyncio.create_task(app.persistence.run())
        await asyncio.sleep_ms(1100)
        task.cancel()
    asyncio.run(one_persist_round())
    assert not app.auth.dirty
    again = board(fs)
    assert again.auth.failures == 1 and again.settings.device_name == "SmartBMS"
    assert again.ble.apply_settings({"device_name": "Boat"}) == []
    assert board(fs).settings.device_name == "Boat"


def test_history_stays_dirty_until_flash_takes_it():
    fs = MemFs()
    app = board(fs)
    app.history.lvd = 2
    app.history.dirty = True
    fs.full = True
    assert not app.persistence.save_history() and app.history.dirty
    fs.full = False
    assert app.persistence.save_history() and not app.history.dirty


def test_the_status_says_while_the_flash_holds_less_than_the_bms_runs_on():
    # flash_fault: set by a refused write of either file, cleared by the
    # next write of that file that goes through, each file on its own
    fs = MemFs()
    app = board(fs)

    def fault():
        return P.decode_status(app.ble.status_bytes())["flash_fault"]
    assert not fault()
    fs.full = True
    assert app.ble.apply_settings({"device_name": "Boat"})[0][1] == P.E_INTERNAL
    assert fault()
    app.history.lvd = 2
    app.history.dirty = True
    assert not app.persistence.save_history() and fault()
    fs.full = False
    assert app.persistence.save_history() and fault()  # the settings are still not stored
    assert app.persistence.save_settings() and not fault()
    fs.full = True
    app.persistence.step(1000)  # nothing to save: nothing refused
    assert not fault()


def test_a_flash_that_keeps_refusing_is_tried_less_and_less_often():
    # a full or failing flash: the persistence task tries after 1 s, 2 s,
    # 4 s and so on up to a minute, not every second (each try writes a
    # .new file and churns the heap); once the flash takes the save, the
    # next refusal is tried after a second again
    class Counted(MemFs):
        def __init__(self):
            MemFs.__init__(self)
            self.writes = 0

        def write(self, path, data):
            self.writes += 1
            MemFs.write(self, path, data)

    fs = Counted()
    app = board(fs)
    p = app.persistence
    fs.full = True
    app.history.lvd = 2
    app.history.dirty = True
    t = 0
    for _ in range(600):  # ten minutes of the task's looks, a second apart
        t += 1000
        p.step(t)
    assert app.history.dirty and 10 <= fs.writes <= 16, fs.writes
    fs.full = False
    for _ in range(60):  # the next try comes within a minute, and succeeds
        t += 1000
        p.step(t)
    assert not app.history.dirty
    fs.full = True
    app.history.lvd = 3  # (an unchanged blob is not written again)
    app.history.dirty = True
    tried = fs.writes
    p.step(t + 1000)
    p.step(t + 2000)
    assert fs.writes == tried + 2  # the backoff started over
    fs.full = False
    p.step(t + 4000)
    assert not app.history.dirty and board(fs).history.lvd == 3


def test_a_read_error_at_boot_never_brings_the_old_pin_back():
    fs = MemFs()
    app = board(fs)
    app.auth.hello(0, bytes(16))
    assert app.auth.prove_pin(0, A.proof("000000", P.PIN_LABEL, bytes(16)), app.ble.save_auth) == P.OK
    assert app.auth.change_pin("112233", bytes(16), app.ble.save_auth) == P.OK
    fs.flaky = {persist.SETTINGS_FILE: 1}  # one transient read error at boot
    assert board(fs).settings.pin == "112233"
    fs.fail_reads = (persist.SETTINGS_FILE,)  # unreadable for a whole boot
    again = board(fs)
    assert again.settings.pin == "000000"  # the backup's, reported ...
    assert "settings.bin unreadable" in again.hw.store.problems[0]
    assert not again.persistence.save_settings()  # ... and never written over the newer file
    fs.fail_reads = ()
    assert board(fs).settings.pin == "112233"


def test_state_of_charge_is_counted_with_bluetooth_off():
    # issue 16: the SoC stopped with Bluetooth (it was counted by the readout)
    app = board()
    assert app.ble.readout is None  # Bluetooth never started here
    soc = app.controller.soc
    assert soc.known
    used = soc.consumed_mah
    app.hw.plant.load_a = 36.0  # through the closed discharge gate
    for _ in range(500):  # 5 s: 50 mAh
        app.hw.clock.advance(10)
        app.hw.step(10)
        app.controller.tick(app.hw.clock.ticks_ms())
    assert 45 <= soc.consumed_mah - used <= 55, soc.consumed_mah - used
