"""The frame encoder and the simulated ring on CPython, as the host battery
emulator uses them: same CRC, same bytes as on MicroPython."""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "firmware"))
sys.path.insert(0, str(ROOT))

from bms import linkframe as F  # noqa: E402
from boards.sim.chain import BatteryChain  # noqa: E402


def test_crc_check_value_and_known_frame():
    assert F.crc16(b"123456789", 0, 9) == 0x29B1
    b = bytearray(F.REQUEST_BYTES)
    F.encode_request(b, 0, 0, 1)
    crc = F.crc16(bytes((0x11, 0x02, 0x00, 0x01)), 0, 4)
    assert bytes(b) == bytes((0xAA, 0x55, 0x11, 0x02, 0x00, 0x01, crc & 0xFF, crc >> 8))


def test_chain_answers_on_cpython():
    c = BatteryChain(2)
    c.set_cells(2, 0, 5000, 1, 4999)
    c.set_temp(2, -400)
    req = bytearray(F.REQUEST_BYTES)
    F.encode_request(req, 0, 0, 200)
    c.write(req, len(req), 0)
    buf = bytearray(100)
    n = c.readinto(buf, 10)
    frames = F.find_frames(buf[:n])
    assert [f[1] for f in frames] == [F.T_REQUEST, F.T_CELLS, F.T_CELLS]
    p = frames[2][2]
    assert p[0] == 2 and p[1] == 200
    assert [int.from_bytes(p[2 + 2 * k:4 + 2 * k], "little") for k in range(4)] == [0, 5000, 1, 4999]
    assert int.from_bytes(p[10:12], "little", signed=True) == -400


def test_the_viper_loops_fold_in_linkframes_format():
    """bms/linkscan.py keeps const() copies of the frame format (the viper
    emitter folds in only its own module's constants): each is linkframe's."""
    text = (ROOT / "firmware" / "bms" / "linkscan.py").read_text()
    copies = re.findall(r"^_([A-Z0-9_]+) = const\((-?\w+)\)", text, re.M)
    assert len(copies) == 20, copies  # 10, report v2's (issue 16 item 2), the request's (fast echo path)
    for name, value in copies:
        assert int(value, 0) == getattr(F, name, getattr(F, "_" + name, None)), name


def test_the_decoders_copies_of_the_slots_and_format():
    """bms/link.py keeps const() copies of what feed() uses every tick: each
    is bms/linkscan.py's slot or flag, or bms/linkframe.py's format."""
    text = (ROOT / "firmware" / "bms" / "link.py").read_text()
    scan_text = (ROOT / "firmware" / "bms" / "linkscan.py").read_text()
    scan = dict(re.findall(r"^([A-Z][A-Z0-9_]*) = const\((-?\w+)\)", scan_text, re.M))
    copies = re.findall(r"^_((?:S_|CANDIDATE|ECHO|STORED|HEADER)[A-Z0-9_]*) = const\((-?\w+)\)",
                        text, re.M)
    assert len(copies) == 11, copies
    for name, value in copies:
        want = int(scan[name], 0) if name in scan else getattr(F, name)
        assert int(value, 0) == want, name
