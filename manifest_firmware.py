# The firmware's modules, frozen (included by manifest.py for the boards).
# boot.py and main.py too: the port runs a frozen boot.py and main.py before
# it looks on the filesystem (MicroPython's pyexec_file_if_exists), from flash, where a
# main.py on the filesystem is compiled into the heap at every boot (about
# 2 KB) and can be left half written by an upload. Only board.json goes on
# the filesystem (tools/flash.py --frozen). Paths are from this file's folder
# (the manifest tools run it there).
import os

module("boot.py", base_path="firmware")
module("main.py", base_path="firmware")
module("app.py", base_path="firmware")
module("bench.py", base_path="firmware")
module("ble_seam.py", base_path="firmware")
module("persist.py", base_path="firmware")
module("version.py", base_path="firmware")
# bms/client.py, the protocol's client side, is for the host tools: the
# firmware never imports it (tools/build.py HOST_ONLY)
package("bms", files=sorted(f for f in os.listdir("firmware/bms")
                            if f.endswith(".py") and f != "client.py"), base_path="firmware")
package("drivers", base_path="firmware")
package("boards", files=["__init__.py", "esp32.py", "pico_w.py"], base_path=".")
