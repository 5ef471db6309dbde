"""The firmware's Instant Readout advertisements, decoded by independent readers.

tests/readout_emit.py runs the firmware's bms/readout.py inside MicroPython
over a sequence of BMS states and prints the raw advertising payloads. Here
they are split into AD structures by hand and decoded with victron-ble 0.9.3
and victron-ble-ha-parser 0.8.0 (what Home Assistant runs); every field is
checked against values computed here from the same states.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools import mpy  # noqa: E402

victron_ble = pytest.importorskip("victron_ble.devices")
ha_parser = pytest.importorskip("victron_ble_ha_parser")
from home_assistant_bluetooth import BluetoothServiceInfo  # noqa: E402

EMIT = Path(__file__).resolve().parent / "readout_emit.py"
KEY = "5a3c0e9f41d27b6688aa19e0c4f3b2d1"

BASE = {
    "meas": {"stale": 0, "bat_mv": 13240, "alt_ma": 25000, "sys_ma": -4000, "fet_ddegc": 310},
    "pack": {"seen": 1, "pack_mv": 13262, "min_cell_mv": 3305, "max_temp_ddegc": 214, "lost": 0},
    "protection": {"atc": True, "atd": True, "prealarm_out": False, "load_out": True,
                   "alt_allowed": True},
    "alternator": {"fault": 0},
    "remote": {"on": True},
    "settings": {"battery_capacity_ah": 200, "battery_count": 2, "device_name": "Van BMS"},
}
STEPS = [
    BASE,
    {},  # unchanged: same bytes, same nonce
    {"meas": {"alt_ma": 0, "sys_ma": -35500}},  # discharging: time to go
    {"meas": {"fet_ddegc": 900}, "pack": {"min_cell_mv": 3050}, "protection": {"prealarm_out": True},
     "remote": {"on": False}},
    {"meas": {"fet_ddegc": 1100}, "pack": {"min_cell_mv": 2700, "lost": 3},
     "protection": {"atd": False, "load_out": False, "alt_allowed": False}},
    {"meas": {"bat_mv": 12950, "sys_ma": -4050}, "pack": {"seen": 0, "lost": 0},
     "alternator": {"fault": 1}},
    {"meas": {"alt_ma": 4000000, "sys_ma": 0}, "pack": {"seen": 1, "max_temp_ddegc": -612},
     "alternator": {"fault": 0}, "protection": {"atc": False},
     "settings": {"battery_count": 50, "battery_capacity_ah": 1000}},
    {"meas": {"alt_ma": 0, "sys_ma": -3990000}, "pack": {"max_temp_ddegc": 1500}},
]


def run_firmware():
    job = json.dumps({"key": KEY, "nonce": 0xFFFD, "steps": STEPS})
    proc = subprocess.run(mpy.command() + [str(EMIT)], input=job, capture_output=True,
                          text=True, env=mpy.env(), timeout=60)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return [json.loads(line) for line in proc.stdout.splitlines()]


def ad_structures(payload):
    """{type: data} of a legacy advertising payload; fails on bad lengths."""
    out, i = {}, 0
    while i < len(payload):
        n = payload[i]
        assert n > 0 and i + 1 + n <= len(payload), payload.hex()
        assert payload[i + 1] not in out, "one AD of each type"
        out[payload[i + 1]] = payload[i + 2:i + 1 + n]
        i += 1 + n
    return out


def cumulative_states():
    state = {}
    for step in STEPS:
        for part, vals in step.items():
            state.setdefault(part, {}).update(vals)
        yield json.loads(json.dumps(state))


def rounded(value, div):
    q = (abs(value) + div // 2) // div
    return q if value >= 0 else -q


def expected(state, out):
    m, p, pr = state["meas"], state["pack"], state["protection"]
    s = state["settings"]
    volt_mv = p["pack_mv"] if p["seen"] else m["bat_mv"]
    cur_ma = m["alt_ma"] + m["sys_ma"]
    cap = s["battery_capacity_ah"] * s["battery_count"] * 1000
    assert out["cap_mah"] == cap
    rem = out["remaining_mah"]
    assert 0 <= rem <= cap
    if cur_ma <= -500:
        ttg = min(rem * 60 // -cur_ma, 0xFFFE)
    else:
        ttg = None
    temp = None
    if p["seen"]:
        temp = max(0, min(126, rounded(p["max_temp_ddegc"] + 400, 10))) - 40
    yn = lambda b: 1 if b else 2  # noqa: E731
    io = (yn(pr["atc"]) << 2 | yn(pr["atd"]) << 4 | yn(pr["prealarm_out"]) << 6
          | yn(pr["load_out"]) << 8 | yn(state["remote"]["on"]) << 10 | yn(pr["alt_allowed"]) << 12)
    cell = 0
    if p["seen"]:
        cell = 3 if p["min_cell_mv"] < 2800 else 2 if p["min_cell_mv"] < 3100 else 1
    fet = 3 if m["fet_ddegc"] >= 1050 else 2 if m["fet_ddegc"] >= 850 else 1
    load = 3 if not pr["atd"] else 2 if pr["prealarm_out"] else 1
    alarms = cell | fet << 4 | (3 if p["lost"] else 1) << 8 | load << 10
    error = 1 if p["lost"] else 2 if state["alternator"]["fault"] else 0
    return {
        "error_flags": error,
        "remaining_mins": ttg,
        "voltage": rounded(volt_mv, 10) / 100,
        "current": max(-32768, min(32766, rounded(cur_ma, 100))) / 10,
        "io_status": io,
        "alarm_flags": alarms,
        "soc": rem * 1000 // cap / 10,
        "consumed_ah": min(rounded(cap - rem, 100), 0xFFFFE) / 10,
        "battery_temperature": temp,
    }


@pytest.fixture(scope="module")
def emitted():
    return run_firmware()


def test_every_field_decodes_with_victron_ble(emitted):
    assert len(emitted) == len(STEPS)
    for k, (state, out) in enumerate(zip(cumulative_states(), emitted)):
        ads = ad_structures(bytes.fromhex(out["adv"]))
        assert len(bytes.fromhex(out["adv"])) == 31
        assert ads[0x01] == b"\x06"
        mfr = ads[0xFF]
        assert mfr[:2] == b"\xe1\x02"
        data = mfr[2:]
        assert victron_ble.detect_device_type(data) is victron_ble.LynxSmartBMS
        parsed = victron_ble.LynxSmartBMS(KEY).parse(data)
        assert parsed.get_model_name() == "Smart BMS 12-200"
        got = {f: getattr(parsed, "get_" + f)() for f in expected(state, out)}
        assert got == expected(state, out), "step %d" % k


def test_home_assistant_parser_publishes_all_six_sensors(emitted):
    for k, (state, out) in enumerate(zip(cumulative_states(), emitted)):
        ads = ad_structures(bytes.fromhex(out["adv"]))
        name = ad_structures(bytes.fromhex(out["resp"]))[0x09].decode()
        assert name == state["settings"]["device_name"]
        info = BluetoothServiceInfo(
            name=name, address="AA:BB:CC:DD:EE:FF", rssi=-60,
            manufacturer_data={int.from_bytes(ads[0xFF][:2], "little"): ads[0xFF][2:]},
            service_data={}, service_uuids=[], source="local")
        update = ha_parser.VictronBluetoothDeviceData(KEY).update(info)
        values = {key.key: v.native_value for key, v in update.entity_values.items()}
        want = expected(state, out)
        assert values == {
            "remaining_minutes": want["remaining_mins"],
            "voltage": want["voltage"],
            "current": want["current"],
            "state_of_charge": want["soc"],
            "consumed_ampere_hours": want["consumed_ah"],
            "battery_temperature": want["battery_temperature"],
            "signal_strength": -60,
        }, "step %d" % k
        assert update.devices[None].name == name


def test_wrong_key_is_refused_by_both_readers(emitted):
    data = ad_structures(bytes.fromhex(emitted[0]["adv"]))[0xFF][2:]
    wrong = "%02x" % ((int(KEY[:2], 16) + 1) & 0xFF) + KEY[2:]
    with pytest.raises(victron_ble.base.AdvertisementKeyMismatchError):
        victron_ble.LynxSmartBMS(wrong).parse(data)
    assert not ha_parser.VictronBluetoothDeviceData(wrong).validate_advertisement_key(data)


def test_nonce_steps_once_per_change_and_wraps(emitted):
    nonces = [int.from_bytes(ad_structures(bytes.fromhex(o["adv"]))[0xFF][7:9], "little")
              for o in emitted]
    changed = [o["changed"] for o in emitted]
    assert changed[1] is False and emitted[1]["adv"] == emitted[0]["adv"]
    want, n = [], 0xFFFD
    for k, c in enumerate(changed):
        if k and c:
            n = (n + 1) & 0xFFFF
        want.append(n)
    assert nonces == want
    assert 0 in nonces  # wrapped
