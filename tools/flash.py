"""Flash the firmware onto a board (or the virtual board) with mpremote.

  python tools/flash.py                          virtual board, simulated hardware
  python tools/flash.py --board esp32            the one ESP32 plugged in
  python tools/flash.py --board pico_w --port /dev/ttyACM0 --dry-run
  python tools/flash.py --board esp32 --verify   compare only, change nothing
  python tools/flash.py --board esp32 --maintenance   only enter maintenance mode
  python tools/flash.py --board pico_w --frozen  the board's image has the firmware frozen in

Steps: compile firmware/ for the board's architecture, upload only the files
whose sha256 differs from the board's copy, delete .py files that would shadow
a new .mpy, write board.json, make sure aioble imports, reset, and read the
version and status back from the running firmware. Files the firmware stores
(tools/build.py KEEP) are never touched.
"""
import argparse
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from tools import build, heap_budget, mpy
from tools.device import Device, DeviceError, detect_port
from tools.vboard import VirtualBoard

VBOARD_DIR = build.ROOT / "build" / "vboard"
VERSION = (build.FIRMWARE / "version.py").read_text().split('"')[1]

# Runs on the board: sha256 (hex) of each path, None when absent.
_SURVEY = """
import hashlib, binascii
def _h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    h = hashlib.sha256()
    while True:
        b = f.read(512)
        if not b:
            break
        h.update(b)
    f.close()
    return binascii.hexlify(h.digest()).decode()
print(repr(dict((p, _h(p)) for p in %r)))
"""

_RMDIR_IF_EMPTY = """
import os
if not os.listdir(%r):
    os.rmdir(%r)
"""

_MKDIRS = """
import os
for d in %r:
    try:
        os.mkdir(d)
    except OSError:
        pass
"""

_CHECK_AIOBLE = """
try:
    import aioble
    print(True)
except ImportError:
    print(False)
"""

# After boot: the firmware's state and its heap, everything the running
# firmware holds still referenced (the stopped app keeps it).
_INFO = """
import bench, gc
gc.collect()
d = bench.info()
d['mem_free'] = gc.mem_free()
d['mem_alloc'] = gc.mem_alloc()
print(repr(d))
"""

# main.py keeps the mode where the REPL sees it; a firmware older than
# maintenance mode has none, but its app module shows that it ran.
_MODE = "import sys\nprint(repr(globals().get('BMS_MODE') or ('run' if 'app' in sys.modules else None)))"

# Import a module from everything but the filesystem (frozen modules, and on
# the virtual board the folder that stands for them) and print an expression
# of it, None when the image has no such module; the filesystem's copy stays.
_FROM_IMAGE = """
import sys, os
_p = sys.path[:]
_m = sys.modules.pop(%(name)r, None)
_fs = ('', '/', '/lib', os.getcwd(), os.getcwd() + '/lib')
sys.path.clear()
sys.path.extend([e for e in _p if e not in _fs])
try:
    import %(name)s
    _v = %(expr)s
except ImportError:
    _v = None
finally:
    sys.path.clear()
    sys.path.extend(_p)
    sys.modules.pop(%(name)r, None)
    if _m is not None:
        sys.modules[%(name)r] = _m
print(repr(_v))
"""
_FROZEN_VERSION = _FROM_IMAGE % {"name": "version", "expr": "version.VERSION"}
# the port runs an image's main.py first; importing it only defines its functions
_IMAGE_KNOWS_MAINTENANCE = _FROM_IMAGE % {"name": "main", "expr": "getattr(main, 'MARKER', None) == %r"}
# else the filesystem's main.py boots: read as text (an old one might run when imported)
_KNOWS_MAINTENANCE = """
try:
    f = open('main.py')
    s = f.read()
    f.close()
    print(%r in s)
except OSError:
    print(False)
"""

_ROMFS = "import vfs\nprint(vfs.rom_ioctl(1) if hasattr(vfs, 'rom_ioctl') else 0)"

_HEAP = "import gc\ngc.collect()\nprint(gc.mem_free() + gc.mem_alloc())"

_REQUEST = "f = open(%r, 'w')\nf.write(%r)\nf.close()"

_DROP_REQUEST = "import os\ntry:\n    os.remove(%r)\nexcept OSError:\n    pass"

MARKER = build.main_constant("MARKER")
LEASE_S = build.main_constant("LEASE_S")
BANNER = "BMS MAINTENANCE"
MAINTENANCE_WAIT_S = 10  # a maintenance boot builds the app for the bench module, then prints BANNER


# aioble's parts that the firmware uses (the frozen route takes the same, manifest.py):
# `import aioble` skips central, client and l2cap when they are absent, and their
# classes would take heap
AIOBLE_MODULES = ("__init__", "core", "device", "peripheral", "server")
AIOBLE_MIP = ["aioble-peripheral", "aioble-server"]


class FlashError(Exception):
    pass


def sha256_hex(data):
    import hashlib

    return hashlib.sha256(data).hexdigest()


class Plan:
    """What a flash changes on the board, worked out from one survey."""

    def __init__(self, files, remote, shadows=()):
        self.files = files
        self.upload = [p for p in sorted(files) if remote.get(p) != sha256_hex(files[p])]
        self.same = [p for p in sorted(files) if p not in self.upload]
        # a .py beside a fresh .mpy wins the import: it must go; so must a
        # filesystem copy of a frozen module (the filesystem comes first in sys.path)
        self.remove = sorted({p[:-4] + ".py" for p in files
                              if p.endswith(".mpy") and remote.get(p[:-4] + ".py")}
                             | {p for p in shadows if remote.get(p)})
        self.dirs = sorted({p.rsplit("/", 1)[0] for p in files if "/" in p},
                           key=lambda d: d.count("/"))
        for p in self.upload + self.remove:
            if p.rsplit("/", 1)[-1] in build.KEEP:
                raise FlashError("refusing to touch stored data: " + p)

    @property
    def upload_bytes(self):
        return sum(len(self.files[p]) for p in self.upload)


def survey(dev, files, shadows=()):
    paths = sorted(files) + sorted(p[:-4] + ".py" for p in files if p.endswith(".mpy"))
    return dev.value(_SURVEY % (sorted(set(paths) | set(shadows)),))


def frozen_shadows(board):
    """Every filesystem path at which a copy of the firmware would shadow the
    frozen one: the .mpy that flash.py deploys, and its source."""
    paths = [p for p in build.stage(board) if p not in build.RUN_BY_NAME and p != "board.json"]
    return sorted(paths + [p[:-4] + ".py" for p in paths if p.endswith(".mpy")])


def route_shadows(board, route, aioble_dir=None):
    """Filesystem paths that would shadow what the route puts elsewhere: the
    firmware off the .mpy route, and aioble when --romfs puts it in the image
    (/lib comes before /rom/lib on sys.path)."""
    if route == "mpy":
        return ()
    paths = frozen_shadows(board)
    if route == "frozen":  # the image's boot.py and main.py run first; `import main` would find these
        paths = sorted(paths + list(build.RUN_BY_NAME))
    if route == "romfs" and aioble_dir:
        mpys = sorted(aioble_files(aioble_dir, build.arch_for(board)))
        paths = sorted(paths + mpys + [p[:-4] + ".py" for p in mpys])
    return paths


def romfs_partitions(dev):
    """How many ROMFS partitions the board's MicroPython has (0: no ROMFS)."""
    n = dev.value(_ROMFS)
    return n if n > 0 else 0


def romfs_image(board, aioble_dir=None):
    """A ROMFS image of the firmware as flash.py compiles it (bytecode that
    runs in place), without the files the port runs by name from the filesystem;
    with aioble_dir also aioble's modules in lib/aioble (the port puts /rom/lib on
    sys.path after .frozen and /lib, so a frozen or installed aioble comes first)."""
    files = build.stage(board)
    if aioble_dir:
        files.update(aioble_files(aioble_dir, build.arch_for(board)))
    return romfs_of(files)


def romfs_of(files):
    """A ROMFS image of the .mpy files among {device path: bytes}."""
    import contextlib
    import io
    import tempfile

    from mpremote.romfs import make_romfs

    with tempfile.TemporaryDirectory() as tmp:
        for path, data in files.items():
            if path.endswith(".mpy"):
                dest = Path(tmp) / path
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
        with contextlib.redirect_stdout(io.StringIO()):  # make_romfs lists every file
            return make_romfs(tmp, mpy_cross=False)


def deploy_romfs(dev, board, console, aioble_dir=None):
    """Write the firmware's ROMFS image to partition 0 with mpremote."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        img = Path(tmp) / "firmware.romfs"
        img.write_bytes(romfs_image(board, aioble_dir))
        console.print("ROMFS: deploying %d bytes with mpremote romfs deploy" % img.stat().st_size)
        dev.close()
        proc = subprocess.run([sys.executable, "-m", "mpremote", "connect", dev.port, "resume",
                               "romfs", "deploy", str(img)], capture_output=True, text=True)
        dev.open()
    if proc.returncode:
        raise FlashError("mpremote romfs deploy failed:\n" + proc.stdout + proc.stderr)


def frozen_version(dev):
    """The firmware version frozen into the board's MicroPython, or None."""
    return dev.value(_FROZEN_VERSION)


def upload(dev, plan, console):
    dev.run(_MKDIRS % (plan.dirs,))
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  console=console, transient=not console.is_terminal) as bar:
        task = bar.add_task("upload", total=plan.upload_bytes)
        done = 0
        for path in plan.upload:
            bar.update(task, description=path)
            data = plan.files[path]
            base = done
            dev.write(path, data,
                      lambda n, total, base=base: bar.update(task, completed=base + n))
            done += len(data)
            bar.update(task, completed=done)
    for path in plan.remove:
        dev.run("import os; os.remove(%r)" % path)
    # a folder left empty would still be imported as a (namespace) package,
    # shadowing the frozen package of the same name
    emptied = {p.rsplit("/", 1)[0] for p in plan.remove if "/" in p} - set(plan.dirs)
    for d in sorted(emptied, key=lambda d: -d.count("/")):
        dev.run(_RMDIR_IF_EMPTY % (d, d))


def aioble_present(dev):
    return dev.value(_CHECK_AIOBLE)


def aioble_files(aioble_dir, arch):
    """{device path: .mpy} of the aioble modules the firmware uses, compiled
    from a local copy (the package folder or the folder that holds it)."""
    src = Path(aioble_dir)
    pkg = src / "aioble" if (src / "aioble" / "__init__.py").exists() else src
    if not (pkg / "__init__.py").exists():
        raise FlashError("%s holds no aioble package (no __init__.py)" % aioble_dir)
    return {"lib/aioble/%s.mpy" % name: build.compile_py(pkg / (name + ".py"), arch,
                                                          "aioble/%s.py" % name)
            for name in AIOBLE_MODULES}


def install_aioble(dev, board, aioble_dir, console):
    """Make `import aioble` work on the board, or say plainly why it cannot."""
    if aioble_present(dev):
        return "present"
    if board == "pico_w":
        raise FlashError("aioble is missing: the official Pico W firmware freezes it; "
                         "flash the RPI_PICO_W MicroPython build first")
    if aioble_dir:
        files = aioble_files(aioble_dir, build.arch_for(board))
        dev.run(_MKDIRS % (["lib", "lib/aioble"],))
        for path, data in files.items():
            dev.write(path, data)
        how = "from " + str(aioble_dir)
    else:
        console.print("aioble: installing with mpremote mip (needs internet)")
        dev.close()
        proc = subprocess.run([sys.executable, "-m", "mpremote", "connect", dev.port, "resume",
                               "mip", "install"] + AIOBLE_MIP, capture_output=True, text=True)
        dev.open()
        if proc.returncode:
            raise FlashError("aioble is missing and mip could not install it (offline?); "
                             "pass a local copy with --aioble DIR\n" + proc.stdout + proc.stderr)
        how = "with mip"
    if not aioble_present(dev):
        raise FlashError("aioble was installed %s but does not import on the board" % how)
    return "installed " + how


def board_mode(dev):
    """"maintenance", "run", "stopped", "boot" (main.py stopped early) or None (none of ours ran)."""
    return dev.value(_MODE)


def enter_maintenance(dev, lease_s=LEASE_S, bootstrap=True):
    """Bring the board into maintenance mode (docs/flashing.md): outputs off,
    watchdog off, the REPL free until the next reset. Returns how it got
    there, or None when the board's main.py has no maintenance mode and
    bootstrap is False. With bootstrap, such a board gets this boot.py and
    main.py first: one quick step, inside the 5 s that a watchdog armed by an
    older firmware leaves after the Ctrl-C."""
    if board_mode(dev) == "maintenance":
        return "was already on"
    how = "entered"
    knows = dev.value(_IMAGE_KNOWS_MAINTENANCE % MARKER)
    if knows is None:
        knows = dev.value(_KNOWS_MAINTENANCE % MARKER)
    if not knows:
        if not bootstrap:
            return None
        for name in build.RUN_BY_NAME:
            dev.write(name, (build.FIRMWARE / name).read_bytes())
        how = "entered (boot.py and main.py updated first)"
    dev.reset_by(_REQUEST % (MARKER, str(lease_s)))
    seen, out = dev.wait_for(BANNER, MAINTENANCE_WAIT_S)
    mode = board_mode(dev)
    if mode != "maintenance":
        dev.run(_DROP_REQUEST % MARKER)  # never leave a request behind for a later boot
        raise FlashError("the board did not enter maintenance mode (it is %r):\n%s" % (mode, out.strip()))
    if not seen:
        how += " (its banner was not seen)"
    return how


def check_boot(dev, board):
    """Reset, let the firmware run, then read its version and status."""
    dev.reset()
    boot_log = dev.read_output(dev.boot_wait_s)
    try:
        info = dev.value(_INFO)
    except (DeviceError, ValueError, SyntaxError) as e:
        raise FlashError("the firmware did not come up:\n%s\n%s" % (boot_log.strip(), e)) from None
    problems = []
    if not info.get("running"):
        problems.append("no running app (boot output below)")
    elif not info.get("ticks"):
        problems.append("the control loop never ticked")
    if info.get("board") != board:
        problems.append("board.json says %r, firmware runs %r" % (board, info.get("board")))
    if info.get("faults"):
        problems.append("control loop faults: %s (%s)" % (info["faults"], info.get("last_fault")))
    if problems:
        raise FlashError("boot check failed: %s\n%s" % ("; ".join(problems), boot_log.strip()))
    dev.reset()  # the check stopped the firmware: start it again
    return info


def fit_before_upload(dev, board, route, budget):
    """The verdict of heap_budget for this board, its heap measured where it
    does not grow (every board but the ESP32, whose heap grows at run time)."""
    board_heap = None if board in heap_budget.BOARD_HEAP_MAX else dev.value(_HEAP)
    return heap_budget.verdict(budget, board, route, board_heap)


def _leave(dev, maint):
    """Back to normal operation, if this flash put the board in maintenance."""
    if maint and maint.startswith("entered"):
        dev.reset()


def flash(dev, board, *, dry_run=False, verify=False, aioble_dir=None, console=None,
          budget=None, frozen=False, romfs=False):
    """Deploy to an open Device. Returns a summary dict; raises FlashError.
    budget: a heap_budget.Budget (default: the committed tools/heap_budget.json).
    frozen: the board runs an image with the firmware frozen in (manifest.py),
    boot.py and main.py too: only board.json goes on its filesystem. romfs:
    the compiled firmware goes into the board's ROMFS partition (bytecode
    runs in place), boot.py, main.py and board.json on the filesystem."""
    console = console or Console(stderr=True)
    route = "romfs" if romfs else "frozen" if frozen else "mpy"
    files = {"mpy": build.stage, "romfs": build.stage_romfs, "frozen": build.stage_frozen}[route](board)
    shadows = route_shadows(board, route, aioble_dir)
    budget = heap_budget.load() if budget is None else budget
    # a combination known not to fit is refused before anything is written
    fits, fit = fit_before_upload(dev, board, route, budget)
    if fits is False:
        if board_mode(dev) in ("run", "stopped"):
            dev.reset()  # the BMS the Ctrl-C stopped runs again
        raise FlashError("refused, nothing uploaded: " + fit)
    # survey and upload with the firmware stopped and its watchdog off; a dry
    # run or a check brings nothing onto a board that lacks maintenance mode
    maint = enter_maintenance(dev, bootstrap=not (dry_run or verify))
    if romfs:
        if not romfs_partitions(dev):
            _leave(dev, maint)
            raise FlashError("--romfs: this board's MicroPython has no ROMFS partition; the stock "
                             "v1.28 ESP32_GENERIC and RPI_PICO_W builds have none (docs/flashing.md). "
                             "Use --frozen with an image built from manifest.py, or the .mpy route")
        if not (dry_run or verify):
            deploy_romfs(dev, board, console, aioble_dir)
            # the port mounts ROMFS at boot: boot into maintenance again to see it
            dev.reset_by(_REQUEST % (MARKER, str(LEASE_S)))
            dev.wait_for(BANNER, MAINTENANCE_WAIT_S)
    in_image = frozen_version(dev)
    if route != "mpy" and in_image != VERSION and not (romfs and (dry_run or verify)):
        _leave(dev, maint)
        raise FlashError("--%s: the board's MicroPython has %s; this tree is firmware %s. Build "
                         "the image from manifest.py and flash it first (docs/flashing.md)" % (
                             route,
                             ("no frozen firmware" if route == "frozen" else "no firmware in ROMFS")
                             if in_image is None else "firmware %s in its image" % in_image,
                             VERSION))
    plan = Plan(files, survey(dev, files, shadows), shadows)
    summary = {"board": board, "upload": plan.upload, "remove": plan.remove,
               "unchanged": len(plan.same), "bytes": plan.upload_bytes,
               "maintenance": maint or "not available on this board", "fit": fit,
               "route": route, "frozen_in_image": in_image}
    if dry_run:
        _leave(dev, maint)
        return summary
    if verify:
        if plan.upload or plan.remove:
            _leave(dev, maint)
            raise FlashError("the board differs from this build: %s" %
                             ", ".join(plan.upload + plan.remove))
    else:
        upload(dev, plan, console)
        after = Plan(files, survey(dev, files, shadows), shadows)
        if after.upload or after.remove:
            raise FlashError("upload did not stick: %s" % ", ".join(after.upload + after.remove))
    if board == "sim":
        summary["aioble"] = "present" if aioble_present(dev) else "absent (BLE off)"
    elif verify or route != "mpy":
        if not aioble_present(dev):
            raise FlashError("aioble does not import on the board" +
                             (": the image was built without it (manifest.py requires it)"
                              if route != "mpy" else ""))
        summary["aioble"] = "present"
    else:
        summary["aioble"] = install_aioble(dev, board, aioble_dir, console)
    summary["firmware"] = check_boot(dev, board)
    summary["heap"] = heap_budget.after_boot(summary["firmware"])
    return summary


def virtual_board(folder=VBOARD_DIR, heap_bytes=None):
    """A virtual board with a radio, aioble and a watchdog built in, as on a
    Pico W: the simulated `bluetooth` module, the `machine` stand-in (its WDT
    resets the virtual board) and aioble sit outside its filesystem, where a
    board keeps its built-in and frozen modules."""
    folder = Path(folder)
    rom = folder.parent / (folder.name + "-rom")
    rom.mkdir(parents=True, exist_ok=True)
    for name, src in (("bluetooth.py", build.BOARDS / "sim" / "bluetooth.py"),
                      ("machine.py", build.ROOT / "tests" / "mpy" / "fake_machine.py")):
        if not (rom / name).exists():
            (rom / name).symlink_to(src)
    extra = [str(rom)] + [p for p in [mpy.aioble_path()] if Path(p).exists()]
    return VirtualBoard(folder, heap_bytes=heap_bytes, extra_path=extra)


def _report(console, s):
    if s["upload"] or s["remove"]:
        console.print("uploaded %d files (%d bytes), removed %d, %d unchanged" % (
            len(s["upload"]), s["bytes"], len(s["remove"]), s["unchanged"]))
    else:
        console.print("the board is up to date (%d files)" % s["unchanged"])
    fw = s.get("firmware")
    if fw:
        console.print("firmware %s on %s: %s, aioble %s" % (
            fw.get("version"), fw.get("board"), fw.get("state"), s["aioble"]))
        console.print("fit: %s\n%s" % (s["fit"], s["heap"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", default="sim", help="one of: " + ", ".join(build.board_names()))
    ap.add_argument("--port", help="serial port, or 'auto' for the single board plugged in "
                    "(default: auto for a real board, the virtual board for sim)")
    ap.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    ap.add_argument("--verify", action="store_true",
                    help="check the board holds this build and the firmware runs; change nothing")
    ap.add_argument("--maintenance", nargs="?", type=int, const=LEASE_S, metavar="SECONDS",
                    help="only put the board in maintenance mode (outputs off, watchdog off) "
                    "for SECONDS (default %d); any reset ends it" % LEASE_S)
    ap.add_argument("--frozen", action="store_true",
                    help="the board runs a MicroPython image with the firmware frozen in "
                    "(manifest.py, docs/flashing.md), boot.py and main.py too: write only board.json, "
                    "and remove filesystem copies that would shadow the frozen modules")
    ap.add_argument("--romfs", action="store_true",
                    help="put the compiled firmware in the board's ROMFS partition (only MicroPython "
                    "builds made with ROMFS have one), boot.py, main.py and board.json on the filesystem")
    ap.add_argument("--aioble", metavar="DIR", help="install aioble from this local copy (ESP32); with --romfs: into the image")
    ap.add_argument("--vboard-dir", default=str(VBOARD_DIR), help="the virtual board's filesystem")
    ap.add_argument("--serve", action="store_true",
                    help="virtual board: keep it running after the flash (Ctrl-C ends)")
    args = ap.parse_args(argv)
    console = Console(stderr=True)
    vb = None
    try:
        build.check_board(args.board)  # before any port is touched
        port = args.port
        if port is None and args.board == "sim":
            vb = virtual_board(args.vboard_dir)
            port = vb.start()
            console.print("virtual board on %s, filesystem %s" % (port, args.vboard_dir))
        elif port in (None, "auto"):
            port = detect_port()
        dev = Device(port, vb).open()
        try:
            if args.maintenance is not None:
                how = enter_maintenance(dev, lease_s=args.maintenance)
                console.print("maintenance mode %s: outputs off, protection off, watchdog off, "
                              "for at most %d s or until the next reset\n"
                              "  mpremote connect %s resume repl     (always `resume`: a soft "
                              "reset ends maintenance)" % (how, args.maintenance, port))
                s = None
            else:
                s = flash(dev, args.board, dry_run=args.dry_run, verify=args.verify,
                          aioble_dir=args.aioble, console=console, frozen=args.frozen,
                          romfs=args.romfs)
        finally:
            dev.close()
        if s is None:
            pass
        elif args.dry_run:
            for p in s["upload"]:
                console.print("would upload " + p)
            for p in s["remove"]:
                console.print("would remove " + p)
            console.print("%d unchanged" % s["unchanged"])
            console.print("fit: " + s["fit"])
        else:
            _report(console, s)
        if vb is not None and args.serve:
            console.print("serving: mpremote connect %s resume repl   (Ctrl-C here to stop)" % port)
            try:
                vb.wait()
            except KeyboardInterrupt:
                pass
        return 0
    except (build.BuildError, DeviceError, FlashError) as e:
        console.print("[red]error:[/red] %s" % e, highlight=False)
        return 1
    finally:
        if vb is not None:
            vb.stop()


if __name__ == "__main__":
    sys.exit(main())
