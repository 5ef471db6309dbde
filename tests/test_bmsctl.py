# bmsctl end to end: the CPython tool drives the firmware's BLE service running
# on the simulated radio inside MicroPython (boards/sim/ble_bridge.py).
import asyncio
import io
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools import bmsctl  # noqa: E402
from bms import client as P  # noqa: E402  (bmsctl put firmware/ on the path)
from version import VERSION  # noqa: E402

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


def test_status_in_words_and_units():
    code, out = cli("status")
    assert code == 0, out
    lines = dict((ln[:18].strip(), ln[19:]) for ln in out.splitlines())
    assert lines["state"] == "normal"  # prot_state 1, by name
    assert lines["lowest cell"] == "3.301 V (battery 2 cell 2)"  # 3301 mV at flat index 5
    assert lines["System+"].startswith("-12.3 A")
    # reason masks by name: 0x24 = cell_uv + temp_low_charge, 0x200 = overcurrent
    assert lines["discharge"] == "blocked: cell_uv, temp_low_charge"
    assert lines["System+ port"] == "blocked: overcurrent"
    assert lines["alternator"].startswith("+45.7 A, port limiting") and "port max" in lines["alternator"]
    assert lines["battery link"] == "12345 reports, 3 CRC errors, 2 rejected, 77 stray bytes"
    assert lines["temperature"] == "-5.2 °C .. 23.1 °C"
    assert lines["remote"] == "on (terminals bridged)" and lines["warnings"] == "prealarm"
    assert lines["firmware"] == VERSION
    assert lines["state of charge"].startswith("unknown")  # the double counts no charge
    assert lines["uptime"].startswith("2 min 03 s")


def test_status_json_for_scripts():
    code, out = cli("--json", "status")
    assert code == 0, out
    st = json.loads(out)
    assert st["prot_state"] == "normal" and st["alt_state"] == "limiting"
    assert st["block_dsg"] == ["cell_uv", "temp_low_charge"] and st["warn"] == ["prealarm"]
    assert st["min_cell_mv"] == 3301 and st["sys_ma"] == -12345 and st["firmware"] == VERSION
    assert st["soc_pm"] is None and st["ttg_min"] is None and st["remote_mode"] == "bridged"
    code, out = cli("--json", "settings", "get", "cell_ov_mv", "readout_enabled")
    assert json.loads(out) == {"cell_ov_mv": 3750, "readout_enabled": 1}
    code, out = cli("--json", "history")
    hist = json.loads(out)
    assert hist["counters"]["lvd"] == 2 and hist["counters"]["min_cell_mv"] is None  # never seen
    assert hist["events"][3] == {"time_ms": 300, "event": "cell_uv_emergency",
                                 "active": ["cell_uv_emergency"], "value": 3, "unit": "mV"}


def test_info_reads_device_information_without_pin():
    code, out = cli("--pin", "999999", "info")  # a wrong PIN does not matter: no login
    assert code == 0, out
    assert "firmware           %s" % VERSION in out and "manufacturer       mpy-smartbms" in out
    assert "software           MicroPython 1." in out


def test_settings_set_validated_locally_nothing_sent():
    code, out = cli("settings", "set", "battery_count=4", "cell_ov_mv=3800", "nope=1", "pin=1")
    assert code == 2
    assert "cell_ov_mv: 3800 mV outside 3500..3750" in out
    assert "nope: unknown setting" in out and "change-pin" in out
    code, out = cli("settings", "set", "cell_ov_mv=3.6505V", "temp_charge_low_dc=warm")
    assert code == 2 and "more than 3 decimals" in out and "'warm' is not a number" in out


def test_settings_in_shown_units_and_back():
    values = bmsctl.parse_assignments(["cell_ov_mv=3.65V", "cell_uv_mv=2.75 V", "temp_charge_low_dc=7.5C",
                                       "temp_hyst_dc=2 °C", "alt_on_delay_ms=2.5s", "alt_off_mv=13100",
                                       "prealarm_mode=intermittent"])
    assert values == {"cell_ov_mv": 3650, "cell_uv_mv": 2750, "temp_charge_low_dc": 75, "temp_hyst_dc": 20,
                      "alt_on_delay_ms": 2500, "alt_off_mv": 13100, "prealarm_mode": 1}
    code, out = cli("settings", "get", "cell_ov_mv", "temp_charge_low_dc", "link_timeout_ms",
                    "prealarm_mode", "battery_capacity_ah")
    assert code == 0
    assert out.split("\n")[:5] == ["cell_ov_mv               3.750 V", "temp_charge_low_dc       5.0 °C",
                                   "link_timeout_ms          1.000 s", "prealarm_mode            continuous",
                                   "battery_capacity_ah      200 Ah"]


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
    assert code == 0 and "battery  2  3304 3305 3306 3307 mV  20.1 °C  -" in out
    code, out = cli("--json", "cells")
    assert json.loads(out)[1] == {"flags": [], "temp_dc": 201, "cell_mv": [3304, 3305, 3306, 3307]}
    from tools import bmsview
    assert bmsview.cells_lines([{"flags": 3, "temp_dc": -5, "cell_mv": [1, 2, 3, 4]}]) == [
        "battery  1     1    2    3    4 mV  -0.5 °C  balancing, alarm"]
    code, out = cli("history")
    assert code == 0 and "low-voltage disconnects    2" in out and "lowest cell ever           --" in out
    events = [ln for ln in out.splitlines() if ln.startswith("at ")]
    # code 3 = cell_uv_emergency, mask 8 = the same bit, value 14 mV (the double's numbers)
    assert len(events) == 15 and events[-1] == \
        "at        1.4 s  cell_uv_emergency     0.014 V  (active: cell_uv_emergency)"
    code, out = cli("command", "clear-history")
    assert code == 0 and out.strip() == "ok"
    code, out = cli("command", "wake")
    assert code == 1 and "refused" in out
    code, out = cli("command", "change-pin", "12")
    assert code == 2


def test_scan_sees_name_and_service():
    code, out = cli("scan")
    assert code == 0 and out.startswith("device             SmartBMS")
    code, out = cli("--json", "scan")
    dev = json.loads(out)
    assert dev["name"] == "SmartBMS" and P.SERVICE_UUID in dev["services"]


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


def test_settings_at_mtu_23_go_in_parts():
    async def go():
        link = bmsctl.BridgeLink("bridge_app", [str(ROOT / "tests" / "mpy")])
        try:
            assert link.call("connect", mtu=23)["mtu"] == 23  # a phone that cannot go higher
            c = bmsctl.Client(link)
            await c.login("000000")
            await c.set_settings({"device_name": "Van battery bank 123", "battery_count": 4})
            values = await c.settings()  # 180-byte pages in 22-byte reads
            assert values["device_name"] == "Van battery bank 123" and values["battery_count"] == 4
            assert (await c.status())["sys_ma"] == -12345
        finally:
            await link.close()
    asyncio.run(go())


def test_status_names_a_battery_count_mismatch():
    # issue 16 item 5: the status bit and the reason, in words
    import struct
    from tools import bmsview
    fields = dict.fromkeys(P.STATUS_FIELDS, 0)
    fields.update(format=P.STATUS_FORMAT, pack_flags=16, configured=4, seen=3,
                  block_chg=1 | 1 << 15, block_dsg=1 | 1 << 15, block_alt=1 | 1 << 15, lost=0x05)
    st = P.decode_status(struct.pack(P.STATUS_LAYOUT, *[fields[k] for k in P.STATUS_FIELDS]))
    assert st["count_mismatch"] is True and st["full_scan"] is False
    lines = dict(bmsview.status_lines(st))
    assert lines["charge"] == "blocked: boot, count_mismatch"
    assert lines["batteries"] == ("3 of 4 fresh; battery count wrong: the cable does not hold 4; "
                                  "link faults: stale, missing")
    assert bmsview.status_json(st)["count_mismatch"] is True


def test_status_says_when_the_flash_refused_a_save():
    import struct
    from tools import bmsview
    fields = dict.fromkeys(P.STATUS_FIELDS, 0)
    fields.update(format=P.STATUS_FORMAT, pack_flags=1 | 32)
    st = P.decode_status(struct.pack(P.STATUS_LAYOUT, *[fields[k] for k in P.STATUS_FIELDS]))
    assert st["flash_fault"] is True and st["data_ok"] is True
    assert dict(bmsview.status_lines(st))["flash"].startswith("REFUSED the last save")
    assert bmsview.status_json(st)["flash_fault"] is True
    st["flash_fault"] = False
    assert "flash" not in dict(bmsview.status_lines(st))
