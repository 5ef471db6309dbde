# bmsctl end to end: the CPython tool drives the firmware's BLE service running
# on the simulated radio inside MicroPython (boards/sim/ble_bridge.py).
import asyncio
import io
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools import bmsctl  # noqa: E402
from bms import client as P  # noqa: E402  (bmsctl put firmware/ on the path)

SIM = ["--sim", "bridge_app", "--sim-path", str(ROOT / "tests" / "mpy")]


def cli(*argv):
    out = io.StringIO()
    args = bmsctl.build_parser().parse_args(SIM + list(argv))
    code = asyncio.run(bmsctl.run(args, out))
    return code, out.getvalue()


def session(fn):
    async def go():
        link = bmsctl.BridgeLink("bridge_app", [str(ROOT / "tests" / "mpy")])
        try:
            await link.connect()
            return await fn(bmsctl.Client(link))
        finally:
            await link.close()
    return asyncio.run(go())


def test_status_shows_decoded_fields():
    code, out = cli("status")
    assert code == 0
    assert "min_cell_mv        3301" in out and "sys_ma             -12345" in out
    # reason masks by name: 0x24 = cell_uv + temp_low_charge, 0x200 = overcurrent
    assert "block_dsg          cell_uv, temp_low_charge" in out
    assert "block_sys          overcurrent" in out and "link_crc_errors    3" in out


def test_settings_set_validated_locally_nothing_sent():
    code, out = cli("settings", "set", "battery_count=4", "cell_ov_mv=3800", "nope=1", "pin=1")
    assert code == 2
    assert "cell_ov_mv: 3800 mV outside 3500..3750" in out
    assert "nope: unknown setting" in out and "change-pin" in out


def test_settings_round_trip_and_device_refusal():
    async def flow(c):
        await c.login("000000")
        await c.set_settings({"battery_count": 4, "device_name": "Van", "prealarm_mode": 1})
        values = await c.settings()
        assert values["battery_count"] == 4 and values["device_name"] == "Van"
        assert "pin" not in values
        with pytest.raises(bmsctl.DeviceError) as e:  # each value fine, together a conflict
            await c.set_settings({"cell_prealarm_mv": 3150, "cell_uv_recover_mv": 3100})
        assert e.value.code == P.E_CONFLICT and "conflicts" in str(e.value)
        assert (await c.settings())["cell_uv_recover_mv"] == 3200
    session(flow)


def test_wrong_pin_refused_with_failure_count():
    code, out = cli("--pin", "123456", "status")
    assert code == 1 and "wrong PIN" in out and "1 failures" in out


def test_unauthenticated_request_refused():
    async def flow(c):
        with pytest.raises(bmsctl.DeviceError) as e:
            await c.command(P.CMD_READ_PUK)
        assert e.value.code == P.E_NOT_AUTHENTICATED
        assert await c.link.read(P.STATUS_UUID) == b""
    session(flow)


def test_commands_change_pin_and_puk_reset():
    async def flow(c):
        await c.login("000000")
        puk = (await c.command(P.CMD_READ_PUK)).decode()
        key = await c.command(P.CMD_READ_READOUT_KEY)
        await c.command(P.CMD_CHANGE_PIN, b"246810")
        assert await c.command(P.CMD_READ_READOUT_KEY) != key
        await c.link.reconnect()
        with pytest.raises(bmsctl.DeviceError):
            await c.login("000000")
        await c.login("246810")
        await c.link.reconnect()
        await c.puk_reset(puk)
        await c.command(P.CMD_CLEAR_ALARMS)  # the PUK opened a session
        await c.link.reconnect()
        await c.login("000000")
    session(flow)


def test_cells_and_history():
    code, out = cli("cells")
    assert code == 0 and "battery  2  3304 3305 3306 3307 mV  20.1 C" in out
    code, out = cli("history")
    assert code == 0 and "lvd                2" in out
    assert out.count("event at") == 15 and "code   3  reasons 00000008  value 14" in out
    code, out = cli("command", "clear-history")
    assert code == 0 and out.strip() == "ok"
    code, out = cli("command", "wake")
    assert code == 1 and "refused" in out
    code, out = cli("command", "change-pin", "12")
    assert code == 2


def test_scan_sees_name_and_service():
    code, out = cli("scan")
    assert code == 0 and '"name": "SmartBMS"' in out and P.SERVICE_UUID in out


def test_whole_firmware_on_the_simulated_board():
    """The firmware App and plant behind the service (boards/sim/ble_board_app.py)."""
    async def go():
        link = bmsctl.BridgeLink("boards.sim.ble_board_app")
        try:
            await link.connect()
            c = bmsctl.Client(link)
            await c.login("000000")
            for _ in range(30):  # the bank is configured from the scenario: data gets fresh
                st = await c.status()
                if st["data_ok"]:
                    break
                await asyncio.sleep(0.1)
            assert st["data_ok"] and st["configured"] == st["seen"] >= 1
            assert 2500 < st["min_cell_mv"] < 3700
            await c.set_settings({"alt_protect_after_s": 301})
            assert (await c.settings())["alt_protect_after_s"] == 301
            with pytest.raises(bmsctl.DeviceError) as e:
                await c.command(P.CMD_WAKE)  # not in low-power off
            assert e.value.code == P.E_REFUSED
            counters, _events = P.decode_history(await c.history())
            assert counters["lvd"] >= 0
            assert len(await c.command(P.CMD_READ_PUK)) == 8
            key = await c.command(P.CMD_READ_READOUT_KEY)
            assert len(key) == 16
            adv = (await link.scan())  # connected: the readout goes on, not connectable
            assert adv == [] or not adv[0]["connectable"]
        finally:
            await link.close()
    asyncio.run(go())
