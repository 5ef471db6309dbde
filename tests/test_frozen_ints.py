"""Ints in a frozen image (tools/port.py target unix32_frozen, as
manifest_firmware.py freezes the firmware for the boards). tools/mpy-tool.py
freezes an int beyond +-8191 that sits in a constant tuple as a long int, for
every target, and arithmetic on a long int allocates: a table read by the
control tick must not be such a tuple. Checked in the image itself: which
modules have such constants, and that the tick's tables and the settings'
defaults do arithmetic without allocating."""
import os
import re
import subprocess
from pathlib import Path

import pytest

from tools import port

ROOT = Path(__file__).resolve().parent.parent
# constant tuples with large ints that the control tick never does arithmetic
# on: the settings schema (ranges compared; Settings() makes its defaults
# small ints, checked below), the BLE protocol's encoders, Bluetooth UUIDs,
# and ticks.PERIOD (2^30, a long int on 32-bit whatever its form)
ALLOWED = {"bms_settings", "bms_protocol", "drivers_ble_service", "bms_ticks"}

SCRIPT = r'''
from mpytest import no_alloc
from bms import settings as S
from bms import soc
from drivers import analog

bad = []
s = S.Settings()
for e in S.SCHEMA:
    v = getattr(s, e[1])
    if type(v) is int:
        try:
            no_alloc(lambda: v - 1)
        except AssertionError:
            bad.append("Settings." + e[1])


class Src:
    raw = 0

    def read_u16(self):
        return self.raw


src = Src()
ntc = analog.Ntc(src)
for raw in range(0, 65536, 97):
    src.raw = raw
    try:
        no_alloc(ntc.read)
    except AssertionError:
        bad.append("Ntc.read(%d)" % raw)
        break
for mv in range(9000, 14000, 7):
    try:
        no_alloc(soc.from_voltage, mv)
    except AssertionError:
        bad.append("soc.from_voltage(%d)" % mv)
        break
print("BAD", bad)
'''


@pytest.fixture(scope="module")
def frozen():
    try:
        return port.build("unix32_frozen")
    except port.PortError as e:
        pytest.skip(str(e))


def test_only_modules_off_the_tick_freeze_long_int_constants(frozen):
    src = (Path(frozen).parent / "frozen_content.c").read_text()
    # const_obj_<package>_<module>_<indices>: the module's name, up to the first index
    found = set(re.findall(r"static const mp_obj_int_t const_obj_([a-z_]+?)_[0-9][0-9_]* =", src))
    assert found, "no long int constant at all: the pattern no longer matches mpy-tool's output"
    assert found <= ALLOWED, sorted(found - ALLOWED)


def test_the_ticks_tables_and_the_defaults_are_small_ints_in_the_image(frozen, tmp_path):
    script = tmp_path / "frozen_ints.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, MICROPYPATH=".frozen:" + str(ROOT / "tests" / "mpy"))
    out = subprocess.run([str(frozen), str(script)], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "BAD []" in out.stdout, out.stdout
