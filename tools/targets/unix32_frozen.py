# The 32-bit unix port with the firmware frozen in (tools/port.py target
# "unix32_frozen"): asyncio, the parts of aioble the boards' image freezes
# (manifest.py: aioble-peripheral and aioble-server, i.e. these modules, see
# tools/flash.py AIOBLE_MODULES) and manifest_firmware.py exactly as the
# boards' manifest.py includes it. tools/port.py passes -march=x86 to
# mpy-cross, so the firmware's viper functions are frozen as native code.
include("$(MPY_DIR)/extmod/asyncio")
for _name in ("__init__", "core", "device", "peripheral", "server"):
    module("aioble/%s.py" % _name, base_path="$(MPY_LIB_DIR)/micropython/bluetooth/aioble")
include("../../manifest_firmware.py")
