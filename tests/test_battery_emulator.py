"""tools/battery_emulator.py against a pseudo-terminal standing in for the
board's UART: requests in, real frames out, scenario events applied."""
import os
import sys
import threading
import time
from pathlib import Path

import pytest
import serial

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "firmware"))
sys.path.insert(0, str(ROOT))

from bms import linkframe as F  # noqa: E402
from boards.sim import scenario as sc  # noqa: E402
from tools import battery_emulator as E  # noqa: E402


def request(seq):
    b = bytearray(F.REQUEST_BYTES)
    F.encode_request(b, 0, 0, seq)
    return bytes(b)


def read_for(fd, seconds):
    os.set_blocking(fd, False)
    got = bytearray()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            got += os.read(fd, 4096)
        except BlockingIOError:
            time.sleep(0.005)
    return bytes(got)


def cells(payload):
    return [payload[2 + 2 * k] | payload[3 + 2 * k] << 8 for k in range(4)]


def temp(payload):
    return int.from_bytes(payload[10:12], "little", signed=True)


@pytest.fixture
def board():
    """(board side fd, emulator's Serial) over a pty pair."""
    master, slave = os.openpty()
    ser = serial.Serial(os.ttyname(slave), 115200, timeout=0)
    yield master, ser
    ser.close()
    os.close(master)
    os.close(slave)


def serve(ser, side, events, seconds):
    t = threading.Thread(target=E.run, args=(ser, side, events, seconds))
    t.start()
    return t


def test_answers_a_scan_with_the_plants_cells(board):
    fd, ser = board
    scn = sc.parse({"name": "t", "batteries": 3, "plant": {"temp_c": -4.5}})
    side = E.BatterySide(scn, 115200)
    t = serve(ser, side, scn.events, 0.6)
    time.sleep(0.05)
    os.write(fd, request(9))
    frames = F.find_frames(read_for(fd, 0.4))
    t.join()
    assert [f[1] for f in frames] == [F.T_REQUEST] + [F.T_CELLS] * 3
    assert frames[0][2] == bytes((3, 9))  # the echo counted 3 batteries
    for b in range(3):
        payload = frames[1 + b][2]
        assert payload[0] == b + 1 and payload[1] == 9
        now = side.plant.cell_mv[b * 4:b * 4 + 4]  # the plant moved on a little since
        assert all(abs(a - c) <= 5 for a, c in zip(cells(payload), now))
        assert 3000 < cells(payload)[0] < 3500
        assert temp(payload) == -45
    assert side.chain.scans == 1 and side.chain.frames_sent == 3


def test_scenario_events_fire_on_time(board):
    fd, ser = board
    scn = sc.parse({"name": "t", "batteries": 2, "events": [
        {"t_s": 0.15, "silent": {"battery": 2, "on": True}},
        {"t_s": 0.15, "flags": {"battery": 1, "flags": 2}},
        {"t_s": 0.15, "engine": "idle"}]})
    side = E.BatterySide(scn, 115200)
    t = serve(ser, side, scn.events, 0.6)
    time.sleep(0.02)
    os.write(fd, request(1))
    first = F.find_frames(read_for(fd, 0.2))
    time.sleep(0.05)
    os.write(fd, request(2))
    second = F.find_frames(read_for(fd, 0.2))
    t.join()
    assert len(first) == 3 and len(second) == 2
    assert second[0][2] == bytes((2, 2))  # battery 2 still forwards: ring closed
    assert first[1][2][-1] == 0 and second[1][2][-1] == 2
    assert side.skipped == ["engine"]


def test_scenario_errors_come_from_the_shared_loader():
    with pytest.raises(sc.ScenarioError, match="unknown action"):
        sc.parse({"name": "t", "events": [{"t_s": 1, "explode": 1}]})
    with pytest.raises(sc.ScenarioError, match="contradicts"):
        E.load_scenario("idle", batteries=7)
    assert E.load_scenario(None, 5).batteries == 5
    assert E.load_scenario("cable-unplug").events


def test_command_line_options(board, capsys):
    fd, ser = board
    name = ser.port
    ser.close()  # main() opens the port itself
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("rc", E.main(
        [name, "--batteries", "2", "--cell-mv", "3201", "3202", "3203", "3204",
         "--temp-dc", "-123", "--duration", "0.5"])))
    t.start()
    time.sleep(0.15)
    os.write(fd, request(4))
    frames = F.find_frames(read_for(fd, 0.3))
    t.join()
    assert result["rc"] == 0
    assert len(frames) == 3
    assert cells(frames[1][2]) == [3201, 3202, 3203, 3204] and temp(frames[2][2]) == -123
    assert "scans answered: 1" in capsys.readouterr().out


def test_bad_command_line_is_refused(capsys):
    with pytest.raises(SystemExit):
        E.main(["/dev/null", "--batteries", "51"])
    assert "batteries" in capsys.readouterr().err
