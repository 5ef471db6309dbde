"""`./bms sim --serve PORT` keeps one simulated BMS (the whole firmware on the
simulated board) running behind a local socket, and `./bms ctl --sim-port
PORT` talks to it call after call: what one call sets, the next one reads.
Also: Instant Readout decoded by `scan --key`, and no Bluetooth said in one
line."""
import json
import os
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BMS = str(ROOT / "bms")
sys.path.insert(0, str(ROOT))
from tools import bmsctl  # noqa: E402

victron_ble = pytest.importorskip("victron_ble.devices")


def ctl(port, *args):
    r = subprocess.run([BMS, "ctl", "--sim-port", str(port), *args], capture_output=True, text=True,
                       timeout=120)
    return r.returncode, r.stdout, r.stderr


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The served simulator, started through the wrapper from a folder of
    the user's; ended with Ctrl-C as a terminal sends it (to the group)."""
    cwd = tmp_path_factory.mktemp("user")
    proc = subprocess.Popen([BMS, "sim", "--serve", "0", "--scenario", "idle"], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    # the address line, or a failure within 120 s (never a hung worker)
    ready, _, _ = select.select([proc.stdout], [], [], 120)
    line = proc.stdout.readline() if ready else ""
    m = re.search(r"127\.0\.0\.1:(\d+)", line)
    if not m:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        pytest.fail("the served simulator gave no address: %r\n%s%s" % (line, out, err))
    info = {"port": int(m.group(1)), "proc": proc}
    yield info
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=30)


def test_a_setting_lasts_from_one_call_to_the_next(served):
    port = served["port"]
    code, out, err = ctl(port, "settings", "set", "battery_capacity_ah=150", "cell_ov_mv=3.65V")
    assert code == 0, out + err
    assert out.strip() == "ok: battery_capacity_ah = 150 Ah, cell_ov_mv = 3.650 V"
    code, out, err = ctl(port, "settings", "get", "battery_capacity_ah", "cell_ov_mv")
    assert code == 0, out + err
    assert out.splitlines() == ["battery_capacity_ah      150 Ah", "cell_ov_mv               3.650 V"]
    code, out, _ = ctl(port, "--json", "status")
    st = json.loads(out)
    assert st["prot_state"] == "normal" and st["configured"] == st["seen"] >= 1
    assert st["link_frames_ok"] > 0 and st["firmware"]
    code, out, _ = ctl(port, "info")
    assert code == 0 and "mpy-smartbms" in out


def test_scan_with_the_key_decodes_instant_readout(served):
    port = served["port"]
    code, key, err = ctl(port, "command", "read-readout-key")
    assert code == 0 and len(key.strip()) == 32, key + err
    code, out, _ = ctl(port, "--json", "scan", "--key", key.strip())
    assert code == 0, out
    dev = json.loads(out)
    readout = dev["readout"]
    mfr = bytes.fromhex([d for cid, d in dev["manufacturer"] if cid == 0x02E1][0])
    theirs = victron_ble.LynxSmartBMS(key.strip()).parse(mfr)
    assert readout["voltage_v"] == theirs.get_voltage() and 12 < readout["voltage_v"] < 14
    assert readout["soc_pct"] == theirs.get_soc() and 0 < readout["soc_pct"] <= 100
    code, out, _ = ctl(port, "scan", "--key", key.strip())
    assert code == 0 and re.search(r"bank +1\d\.\d\d V", out), out
    assert re.search(r"state of charge +\d+\.\d %", out), out
    code, out, _ = ctl(port, "scan")
    assert "encrypted: give --key" in out
    wrong = "%02x" % (int(key[:2], 16) ^ 1) + key.strip()[2:]
    code, out, _ = ctl(port, "scan", "--key", wrong)
    assert code == 0 and "key does not match" in out


def test_status_shows_state_of_charge_from_the_firmware(served):
    code, out, _ = ctl(served["port"], "status")
    assert code == 0, out
    soc = [ln for ln in out.splitlines() if ln.startswith("state of charge")][0]
    assert re.match(r"state of charge +\d+\.\d %, \d+\.\d Ah used", soc), soc


def test_a_port_in_use_is_one_line(served):
    r = subprocess.run([BMS, "sim", "--serve", str(served["port"])], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("bms-sim: cannot serve on 127.0.0.1:%d" % served["port"])
    assert "Traceback" not in r.stderr


def test_ctrl_c_ends_the_session_quietly(served):
    proc = served["proc"]
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + err
    assert "Traceback" not in out + err and "stopped" in out
    code, out, _ = ctl(served["port"], "status")
    assert code == 3 and out.startswith("bmsctl: no simulated BMS on 127.0.0.1:")


def test_no_bluetooth_is_one_line():
    """bleak against a system bus that is not there, as on a machine without
    BlueZ: a sentence, exit status 3, no traceback."""
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS="unix:path=/nonexistent/bms-test-bus")
    r = subprocess.run([BMS, "ctl", "scan"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 3, r.stdout + r.stderr
    assert r.stdout.startswith("bmsctl: no Bluetooth: cannot reach BlueZ") and r.stdout.count("\n") == 1
    assert "Traceback" not in r.stderr
    r = subprocess.run([BMS, "ctl", "status"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3 and "give --address" in r.stdout


def test_what_bleak_raises_becomes_a_sentence():
    import bleak.exc as X
    said = bmsctl.bluetooth_problem
    assert said(X.BleakBluetoothNotAvailableError(
        "No Bluetooth adapters found.", X.BleakBluetoothNotAvailableReason.NO_BLUETOOTH)) \
        .startswith("no Bluetooth: No Bluetooth adapters found; without a BMS: `./bms sim --serve PORT`")
    assert "BlueZ (bluetoothd) is not running" in said(
        X.BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", []))
    assert said(X.BleakDeviceNotFoundError("AA:BB"), "AA:BB").startswith("no BMS answers at AA:BB")
    assert said(ValueError("x")) is None  # not about Bluetooth: a real error, shown as one
