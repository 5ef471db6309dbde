"""Type-check the firmware against a board's MicroPython stubs with mypy.

The stubs replace CPython's standard library (they are passed as the typeshed),
so an API the board lacks -- termios, os.getcwd-only-on-unix, a CPython-only
method -- is an error here. Each board's stub package is pinned in
pyproject.toml (extras stubs-esp32, stubs-pico-w); the two packages ship the
same module names, so each is installed into its own folder beside the venv
on first use (pip, from the package registry) instead of into site-packages.

  python -m tools.typecheck [esp32|pico_w ...]
"""
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Path(__file__).resolve().parent / "mypy_firmware.ini"
EXTRA = {"esp32": "stubs-esp32", "pico_w": "stubs-pico-w"}
STUBS_HOME = Path(sys.prefix) / "mpy-stubs"


class StubsMissing(Exception):
    pass


def pinned(board):
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return meta["project"]["optional-dependencies"][EXTRA[board]]


# Viper's pointer and unsigned types are names only the viper emitter knows;
# a viper function annotated `buf: ptr8` takes any buffer. Declared here, in
# the typeshed's builtins (a structural type: anything indexable by int), so
# that name checks stay on everywhere else.
_VIPER_MARK = "# -- viper types (tools/typecheck.py)"
_VIPER_TYPES = _VIPER_MARK + """
from typing import Protocol as _ViperProtocol
class uint(int): ...
class ptr8(_ViperProtocol):
    def __getitem__(self, i: int, /) -> int: ...
    def __setitem__(self, i: int, v: int, /) -> None: ...
class ptr16(ptr8, _ViperProtocol): ...
class ptr32(ptr8, _ViperProtocol): ...
"""


def stubs_dir(board):
    reqs = pinned(board)
    folder = STUBS_HOME / ("%s-%s" % (board, reqs[0].split("==")[1]))
    if not (folder / "machine.pyi").exists():
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target",
                               str(folder)] + reqs, capture_output=True, text=True)
        if proc.returncode:
            raise StubsMissing("cannot install %s: %s" % (" ".join(reqs), proc.stderr.strip()))
    builtins = folder / "stdlib" / "builtins.pyi"
    text = builtins.read_text()
    if _VIPER_MARK not in text:
        builtins.write_text(text + "\n" + _VIPER_TYPES)
    return folder


def _only(name, target):
    """A folder holding just one package (a symlink): the repository root
    itself on the search path would offer its other top-level names."""
    folder = STUBS_HOME / (name + "-only")
    link = folder / name
    if not link.exists():
        folder.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
    return folder


def sources(board):
    files = sorted(p for p in (ROOT / "firmware").rglob("*.py") if "__pycache__" not in p.parts)
    return files + [ROOT / "boards" / "__init__.py", ROOT / "boards" / (board + ".py")]


def check(board, files=None):
    """(exit code, mypy output) for one board: the firmware, or the files given."""
    stubs = stubs_dir(board)
    # aioble: frozen on the Pico W (its stubs have it), installed by flash.py on ESP32
    path = [ROOT / "firmware", _only("boards", ROOT / "boards"), stubs]
    if board != "pico_w":
        path.append(_only("aioble", stubs_dir("pico_w") / "aioble"))
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(CONFIG),
           "--custom-typeshed-dir", str(stubs), "--cache-dir", os.devnull]  # a stale cache misplaced modules
    env = {"MYPYPATH": ":".join(str(p) for p in path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(cmd + [str(f) for f in files or sources(board)], capture_output=True,
                          text=True, cwd=str(STUBS_HOME), env=env)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def main(argv):
    worst = 0
    for board in argv or list(EXTRA):
        code, out = check(board)
        print("== %s\n%s" % (board, out))
        worst = max(worst, code)
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
