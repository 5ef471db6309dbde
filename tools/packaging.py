"""package.json for mip, generated from the firmware tree (a test keeps the
committed file equal to this output).

  python -m tools.packaging        rewrite package.json

mip installs the device layout: main.py and the modules at the target's root
(not build.HOST_ONLY), the board pin maps under boards/. aioble is not a dependency: the Pico W
firmware freezes it, and on an ESP32 tools/flash.py (or `mip install aioble`)
adds it once.
"""
import json
import sys

from tools import build

PACKAGE_JSON = build.ROOT / "package.json"
REAL_BOARDS = ("esp32", "pico_w")


def urls():
    pairs = [[dev, src.relative_to(build.ROOT).as_posix()] for src, dev in build.firmware_sources()]
    for name in ("__init__",) + REAL_BOARDS:
        rel = "boards/%s.py" % name
        pairs.append([rel, rel])
    return pairs


def render():
    version = (build.FIRMWARE / "version.py").read_text().split('"')[1]
    return json.dumps({"urls": urls(), "deps": [], "version": version}, indent=1) + "\n"


def main():
    PACKAGE_JSON.write_text(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
