# Freeze the firmware into a custom MicroPython build (docs/flashing.md):
#   ports/esp32: make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/abs/path/manifest.py
#   ports/rp2:   make BOARD=RPI_PICO_W FROZEN_MANIFEST=/abs/path/manifest.py
# main.py and board.json stay on the filesystem (tools/flash.py writes them):
# the board runs main.py from there and main.py imports the frozen modules.
include("$(PORT_DIR)/boards/manifest.py")  # the port's usual frozen modules (asyncio, ...)
require("aioble")  # from the MicroPython tree's lib/micropython-lib

module("app.py", base_path="firmware")
module("bench.py", base_path="firmware")
module("ble_seam.py", base_path="firmware")
module("persist.py", base_path="firmware")
module("version.py", base_path="firmware")
package("bms", base_path="firmware")
package("drivers", base_path="firmware")
package("boards", files=["__init__.py", "esp32.py", "pico_w.py"], base_path=".")
