# Freeze the firmware into a MicroPython image for a board (docs/flashing.md):
#   ports/esp32: make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/abs/path/manifest.py
#   ports/rp2:   make BOARD=RPI_PICO_W    FROZEN_MANIFEST=/abs/path/manifest.py
# It stands in for the board's own manifest: the port's modules and asyncio,
# the parts of aioble the firmware uses, and the firmware (manifest_firmware.py,
# which the 32-bit unix and qemu builds freeze on their own).
freeze("$(PORT_DIR)/modules")  # the port's own: _boot.py mounts the filesystem
include("$(MPY_DIR)/extmod/asyncio")
# aioble's peripheral (advertising) and GATT server only: aioble/__init__.py
# skips central, client and l2cap when they are absent, and their classes
# would take heap at `import aioble`
require("aioble-peripheral")
require("aioble-server")
include("manifest_firmware.py")
