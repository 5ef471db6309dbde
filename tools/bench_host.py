"""Deployment figures that need host processes (tools/bench.py merges them):

- mpy_bytes_esp32, mpy_bytes_pico_w: total .mpy bytes flash.py puts on the board.

The heap the firmware needs is measured on the boards' word size by
tools/heap32.py (heap32_* keys); the figures that used to be here
(min_heap_bytes, boot_heap_*_bytes) came from the 64-bit port scaled by a
guessed word factor, and are gone.
"""
from tools import build


def mpy_bytes(board):
    return sum(len(v) for k, v in build.stage(board).items() if k.endswith(".mpy"))


def figures(quick=False):
    return {
        "mpy_bytes_esp32": mpy_bytes("esp32"),
        "mpy_bytes_pico_w": mpy_bytes("pico_w"),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(figures()))
