# The 32-bit unix port with asyncio and the whole of aioble frozen, as the
# official RPI_PICO_W image has them (ports/rp2/boards/RPI_PICO_W/manifest.py,
# v1.28: require("aioble"), i.e. peripheral, server, central, client, l2cap
# and security): the Pico W's .mpy route, whose `import aioble` takes all of
# them (tools/heap32.py). Nothing of the firmware.
include("$(MPY_DIR)/extmod/asyncio")
for _name in ("__init__", "core", "device", "peripheral", "server", "central", "client", "l2cap",
              "security"):
    module("aioble/%s.py" % _name, base_path="$(MPY_LIB_DIR)/micropython/bluetooth/aioble")
