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


@pytest.fixture
def board():
    """(board side fd, emulator's Serial) over a pty pair."""
    master, slave = os.openpty()
    ser = serial.Serial(os.ttyname(slave), 115200, timeout=0)
    yield master, ser
    ser.close()
    os.close(master)
    os.close(slave)


def serve(ser, scn, seconds):
    chain = E.build_chain(scn, 115200)
    t = threading.Thread(target=E.run, args=(ser, chain, scn["events"], seconds))
    t.start()
    return t, chain


def test_answers_a_scan_with_real_frames(board):
    fd, ser = board
    scn = E.load_scenario('{"batteries": 3, "cell_mv": [3300, 3310, 3320, 3330], "temp_dc": -45,'
                          ' "set": [{"addr": 2, "cell_mv": [3000, 3001, 3002, 3003], "flags": 2}]}')
    t, chain = serve(ser, scn, 0.6)
    time.sleep(0.05)
    os.write(fd, request(9))
    frames = F.find_frames(read_for(fd, 0.4))
    t.join()
    assert [f[1] for f in frames] == [F.T_REQUEST] + [F.T_CELLS] * 3
    assert frames[0][2] == bytes((3, 9))  # the echo counted 3 batteries
    payload = frames[2][2]
    assert payload[0] == 2 and payload[1] == 9
    assert [payload[2 + 2 * k] | payload[3 + 2 * k] << 8 for k in range(4)] == [3000, 3001, 3002, 3003]
    assert payload[-1] == 2
    t3 = frames[3][2]
    assert int.from_bytes(t3[10:12], "little", signed=True) == -45
    assert chain.scans == 1 and chain.frames_sent == 3


def test_scenario_events_fire_on_time(board):
    fd, ser = board
    scn = E.load_scenario('{"batteries": 2, "events": ['
                          '{"at_ms": 150, "do": "silence", "addr": 2, "on": true}]}')
    t, chain = serve(ser, scn, 0.6)
    time.sleep(0.02)
    os.write(fd, request(1))
    first = F.find_frames(read_for(fd, 0.2))
    time.sleep(0.05)
    os.write(fd, request(2))
    second = F.find_frames(read_for(fd, 0.2))
    t.join()
    assert len(first) == 3 and len(second) == 2
    assert second[0][2] == bytes((2, 2))  # battery 2 still forwards: ring closed


def test_bad_scenarios_are_refused_clearly():
    with pytest.raises(E.ScenarioError, match="unknown event"):
        E.load_scenario('{"events": [{"at_ms": 1, "do": "explode"}]}')
    with pytest.raises(E.ScenarioError, match="lacks"):
        E.load_scenario('{"events": [{"at_ms": 1, "do": "noise"}]}')
    with pytest.raises(E.ScenarioError, match="1..50"):
        E.load_scenario('{"batteries": 51}')
    with pytest.raises(E.ScenarioError, match="JSON"):
        E.load_scenario("{nope")


def test_command_line_options(board, tmp_path, capsys):
    fd, ser = board
    name = ser.port
    ser.close()  # main() opens the port itself
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("rc", E.main(
        [name, "--batteries", "2", "--cell-mv", "3201", "3202", "3203", "3204", "--duration", "0.5"])))
    t.start()
    time.sleep(0.15)
    os.write(fd, request(4))
    frames = F.find_frames(read_for(fd, 0.3))
    t.join()
    assert result["rc"] == 0
    assert len(frames) == 3
    assert frames[1][2][2:4] == (3201).to_bytes(2, "little")
    assert "scans answered: 1" in capsys.readouterr().out
