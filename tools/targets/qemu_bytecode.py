# The qemu image of qemu.py with the pure core as the file routes (.mpy and
# ROMFS) run it: compiled from tools/bytecode.py's source, the tick's native
# methods as bytecode (tools/port.py target "qemu_bytecode", the
# tick_kinstr_50batt_bytecode_* figures). The plain copy is written under
# build/ here, as the manifest runs (from this file's folder).
import os
import sys

sys.path.insert(0, os.path.abspath(".."))
from bytecode import bytecode_source  # noqa: E402

_SRC = "../../firmware/bms"
_OUT = "../../build/targets/qemu_bytecode.src/bms"
os.makedirs(_OUT, exist_ok=True)
_files = sorted(f for f in os.listdir(_SRC) if f.endswith(".py") and f != "client.py")
for _f in _files:
    with open(os.path.join(_SRC, _f)) as a, open(os.path.join(_OUT, _f), "w") as b:
        b.write(bytecode_source(a.read()))
package("bms", files=_files, base_path=os.path.dirname(_OUT))
module("fakehw.py", base_path="../../tests/mpy")
module("qemu_tick.py")
