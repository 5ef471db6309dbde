# The qemu MPS2-AN385 (Cortex-M3) image of tools/port.py (target "qemu"): the
# firmware's pure core (firmware/bms, without the host-only client side), the
# allocation-free hardware doubles of the tests and the tick benchmark
# (qemu_tick.py). The port has no asyncio, UART or bluetooth: the control
# path runs fed from Python in the image. Viper functions freeze as Thumb-2
# code (the board's MPY_CROSS_FLAGS=-march=armv7m).
import os

package("bms", files=sorted(f for f in os.listdir("../../firmware/bms")
                            if f.endswith(".py") and f != "client.py"),
        base_path="../../firmware")
module("fakehw.py", base_path="../../tests/mpy")
module("qemu_tick.py")
