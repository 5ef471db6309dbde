"""Instant Readout against the simulated plant: a scenario runs in fast mode,
the trace carries the advertised manufacturer data (`readout_mfr`) next to the
plant's truth, and victron-ble 0.9.3 / the HA parser decode every record."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

victron_ble = pytest.importorskip("victron_ble.devices")
ha_parser = pytest.importorskip("victron_ble_ha_parser")
from home_assistant_bluetooth import BluetoothServiceInfo  # noqa: E402

NEEDED = ["firmware/bms/controller.py", "firmware/bms/pack.py", "firmware/bms/protection.py",
          "firmware/bms/alternator.py", "boards/sim/chain.py"]
MISSING = [p for p in NEEDED if not (ROOT / p).exists()]
pytestmark = pytest.mark.skipif(bool(MISSING), reason="not merged yet: " + ", ".join(MISSING))

KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
CAP_AH = 2 * 150
SCENARIO = {
    "name": "readout-check", "duration_s": 240, "batteries": 2, "readout_key": KEY,
    "plant": {"soc_pct": 55, "capacity_ah": 150},
    "settings": {"battery_capacity_ah": 150},
    "events": [
        {"t_s": 0, "load_a": 30},
        {"t_s": 60, "engine": "start"},
        {"t_s": 120, "temp_c": 31},
        {"t_s": 150, "engine": "off"},
        {"t_s": 180, "cable": "unplug"},
    ],
}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    d = tmp_path_factory.mktemp("readout_sim")
    (d / "s.json").write_text(json.dumps(SCENARIO))
    r = subprocess.run([sys.executable, "-m", "tools.sim_cli", "--scenario", str(d / "s.json"),
                        "--fast", "--trace", str(d / "t.jsonl")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    recs = [json.loads(x) for x in (d / "t.jsonl").read_text().splitlines()]
    assert len(recs) == 241
    return recs


def decoded(rec):
    return victron_ble.LynxSmartBMS(KEY).parse(bytes.fromhex(rec["readout_mfr"]))


def test_every_record_carries_a_decodable_advertisement(records):
    for rec in records:
        data = bytes.fromhex(rec["readout_mfr"])
        assert len(data) == 24 and data[:5] == b"\x10\x02\xe8\xa3\x0a"
        assert data[7] == bytes.fromhex(KEY)[0]
        assert victron_ble.detect_device_type(data) is victron_ble.LynxSmartBMS


def test_fields_match_the_plant(records):
    for rec in records:
        t, got = rec["t_ms"], decoded(rec)
        where = "t=%d ms" % t
        # the batteries report over the cable: their voltage lags a current step a little
        assert abs(got.get_voltage() - rec["bat_mv"] / 1000) <= 0.1, where
        if rec["link_seen"]:
            assert got.get_voltage() == round(rec["pack_mv"] / 10) / 100, where
        true_a = (rec["alt_ma"] + rec["sys_ma"]) / 1000
        assert abs(got.get_current() - true_a) <= 0.5 + 0.03 * abs(true_a), where
        soc = got.get_soc()
        assert abs(soc - rec["soc_pct"]) <= 5, where
        # SoC is floored to 0.1 % of the capacity, consumed Ah rounded to 0.1 Ah
        assert abs(got.get_consumed_ah() - CAP_AH * (100 - soc) / 100) <= CAP_AH * 0.001 + 0.1, where
        ttg = got.get_remaining_mins()
        if got.get_current() <= -0.6:
            # remaining Ah / discharge A, with SoC and current as rounded on air
            amps = -got.get_current()
            lo = CAP_AH * soc / 100 * 60 / (amps + 0.05)
            hi = CAP_AH * (soc + 0.1) / 100 * 60 / (amps - 0.05)
            assert ttg is not None and lo - 1 <= ttg <= hi + 1, where
        elif got.get_current() >= -0.4:
            assert ttg is None, where
        temp = got.get_battery_temperature()
        if not rec["link_seen"]:
            assert temp is None, where
        elif t < 120000 or t > 125000:  # the batteries report a new temperature within a scan
            assert temp == (20 if t < 120000 else 31), where


def test_flags_match_the_firmware_state(records):
    yn = lambda b: 1 if b else 2  # noqa: E731
    for rec in records:
        got = decoded(rec)
        where = "t=%d ms" % rec["t_ms"]
        assert got.get_io_status() == (
            yn(rec["atc"]) << 2 | yn(rec["atd"]) << 4 | yn(rec["prealarm_out"]) << 6
            | yn(rec["load_out"]) << 8 | yn(rec["remote_on"]) << 10 | yn(rec["alt_allowed"]) << 12), where
        cell = 0
        if rec["link_seen"]:
            cell = 3 if rec["fw_cell_min_mv"] < 2800 else 2 if rec["fw_cell_min_mv"] < 3100 else 1
        lost = 3 if rec["link_lost"] else 1
        load = 3 if not rec["atd"] else 2 if rec["prealarm_out"] else 1
        assert got.get_alarm_flags() == cell | 1 << 4 | lost << 8 | load << 10, where
        assert got.get_error_flags() == (1 if rec["link_lost"] else 2 if rec["alt_fault"] else 0)
    # the scenario passes through both: batteries seen, then the cable pulled
    assert any(r["link_seen"] for r in records) and not records[-1]["link_seen"]


def test_nonce_steps_by_one_on_every_change(records):
    prev = None
    changes = 0
    for rec in records:
        data = bytes.fromhex(rec["readout_mfr"])
        nonce = data[5] | data[6] << 8
        if prev is not None:
            if data == prev[0]:
                assert nonce == prev[1]
            else:
                assert nonce == (prev[1] + 1) & 0xFFFF
                changes += 1
        prev = (data, nonce)
    assert changes > 100


def test_home_assistant_reads_the_simulated_bms(records):
    rec = records[100]
    info = BluetoothServiceInfo(name="SmartBMS", address="AA:BB:CC:DD:EE:FF", rssi=-70,
                                manufacturer_data={0x02E1: bytes.fromhex(rec["readout_mfr"])},
                                service_data={}, service_uuids=[], source="local")
    update = ha_parser.VictronBluetoothDeviceData(KEY).update(info)
    values = {k.key: v.native_value for k, v in update.entity_values.items()}
    got = decoded(rec)
    assert values["voltage"] == got.get_voltage() and values["current"] == got.get_current()
    assert values["state_of_charge"] == got.get_soc()
    assert values["battery_temperature"] == 20
