"""A virtual MicroPython board: the unix port behind a pseudo-terminal.

mpremote talks to a serial device, so the virtual board offers one: the slave
side of pty A. A bridge thread copies bytes between pty A and pty B, and the
MicroPython unix port runs with pty B as its controlling terminal, so Ctrl-C
from mpremote interrupts the running firmware exactly as on a board. The
board's filesystem is a host folder (the process's working directory and the
head of MICROPYPATH). Like a board, it runs boot.py and main.py when they are
there and drops to the REPL afterwards; when the process exits (Ctrl-D soft
reset, sys.exit) it is started again, as after a hard reset: unlike a board's,
its soft reset is a full boot. No socat needed.

It has a hardware watchdog: the `machine` stand-in (tests/mpy/fake_machine.py,
found outside the board's filesystem) reports the armed WDT and every feed
over a pipe ($VBOARD_WDT); when the feeds stop for the armed timeout, or the
firmware calls machine.reset(), the board is reset: the process is killed and
booted again from main.py, which disarms the watchdog as a real reset does.
"""
import fcntl
import os
import pty
import select
import subprocess
import termios
import threading
import time
import tty
from pathlib import Path

from tools import mpy


STARTUP_S = 0.25

# What a board's port does at a reset: boot.py, then main.py, both in the
# REPL's globals, each the image's frozen copy if there is one (the folders
# after ".frozen" on the path stand for the image), else the filesystem's; a
# traceback is printed and the boot goes on; then the REPL.
_BOOT = """
def _boot():
    import sys
    image = sys.path[sys.path.index(".frozen") + 1:]
    for f in ("boot.py", "main.py"):
        for where in image + ["."]:
            try:
                src = open(where + "/" + f).read()
                break
            except OSError:
                src = None
        if src is None:
            continue
        try:
            exec(compile(src, f, "exec"), globals())
        except SystemExit:
            raise
        except BaseException as e:
            sys.print_exception(e)
_boot()
del _boot
"""


def _make_controlling_tty():
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class VirtualBoard:
    def __init__(self, root, heap_bytes=None, extra_path=()):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.heap_bytes = heap_bytes
        self.extra_path = [str(p) for p in extra_path]
        self.boots = 0
        self.wdt_resets = 0  # resets the watchdog did
        self._proc = None
        self._wdt_fd = None  # the host's end of the running process's watchdog pipe
        self._wdt_ms = None  # the armed timeout, None while disarmed
        self._fed_at = 0.0
        self._wdt_buf = b""
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = None
        self.port = None

    # -- lifecycle
    def start(self):
        self._host_master, self._host_slave = pty.openpty()
        tty.setraw(self._host_slave)
        self._mp_master, self._mp_slave = pty.openpty()
        self.port = os.ttyname(self._host_slave)
        self._spawn()
        self._thread = threading.Thread(target=self._bridge, name="vboard", daemon=True)
        self._thread.start()
        time.sleep(STARTUP_S)
        return self.port

    def stop(self):
        with self._lock:  # the bridge thread may be resetting the board right now
            self._stopping = True
            self._kill()
        if self._thread:
            self._thread.join(timeout=2)
        for fd in (self._host_master, self._host_slave, self._mp_master, self._mp_slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def reset(self):
        """Hard reset: kill the port and boot again from main.py.

        Returns once the port can take a Ctrl-C: one sent while the process
        starts, before MicroPython handles SIGINT, would kill it instead.
        """
        with self._lock:
            self._kill()
            self._spawn()
        time.sleep(STARTUP_S)

    def wait_boot(self, boots, timeout_s=10):
        """Return once the board has booted again after `boots` boots, and can
        take a Ctrl-C (see reset())."""
        end = time.monotonic() + timeout_s
        while self.boots == boots:
            if time.monotonic() > end:
                raise TimeoutError("the virtual board did not reset")
            time.sleep(0.02)
        time.sleep(STARTUP_S)

    def wait(self):
        """Block while the board runs (until stop() or Ctrl-C)."""
        self._thread.join()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- internals
    def _argv(self):
        argv = mpy.command()
        if self.heap_bytes:
            argv += ["-X", "heapsize=%d" % self.heap_bytes]
        return argv + ["-i", "-c", _BOOT]

    def _env(self, wdt_fd):
        env = dict(os.environ)
        env["VBOARD_WDT"] = "/dev/fd/%d" % wdt_fd
        # the board's root first, then lib/ (mip installs there), then frozen modules
        env["MICROPYPATH"] = ":".join(
            [str(self.root), str(self.root / "lib"), ".frozen"] + self.extra_path)
        return env

    def _spawn(self):
        # a raw line like a board's USB CDC, except that Ctrl-C raises
        # KeyboardInterrupt in a running script (ISIG)
        tty.setraw(self._mp_slave)
        attrs = termios.tcgetattr(self._mp_slave)
        attrs[3] |= termios.ISIG
        termios.tcsetattr(self._mp_slave, termios.TCSANOW, attrs)
        rd, wr = os.pipe()
        try:
            self._proc = subprocess.Popen(
                self._argv(), cwd=str(self.root), env=self._env(wr),
                stdin=self._mp_slave, stdout=self._mp_slave, stderr=self._mp_slave,
                start_new_session=True, preexec_fn=_make_controlling_tty, pass_fds=(wr,))
        finally:
            os.close(wr)
        self._wdt_fd = rd
        self._wdt_ms = None  # a reset disarms the watchdog
        self._wdt_buf = b""
        self.boots += 1

    def _kill(self):
        p = self._proc
        if p and p.poll() is None:
            p.kill()
            p.wait()
        if self._wdt_fd is not None:
            os.close(self._wdt_fd)
            self._wdt_fd = None

    def _watch(self):
        """Read the running process's watchdog messages: 'A<ms>\\n' armed,
        'F' fed, 'R' machine.reset(). Why the board must reset now, or None."""
        fd = self._wdt_fd
        while fd is not None and select.select([fd], [], [], 0)[0]:
            data = os.read(fd, 4096)
            if not data:
                break  # the process is gone: the exit is handled as a soft reset
            self._wdt_buf += data
            if self._take_messages():
                return "machine.reset()"
        if self._wdt_ms is not None and time.monotonic() - self._fed_at > self._wdt_ms / 1000:
            self.wdt_resets += 1
            return "watchdog"
        return None

    def _take_messages(self):
        buf = self._wdt_buf
        while buf:
            c = buf[:1]
            if c == b"F":
                self._fed_at = time.monotonic()
                buf = buf[1:]
            elif c == b"R":
                buf = b""
                self._wdt_buf = buf
                return True
            elif c == b"A":
                end = buf.find(b"\n")
                if end < 0:
                    break  # the rest comes with the next read
                self._wdt_ms = int(buf[1:end])
                self._fed_at = time.monotonic()
                buf = buf[end + 1:]
            else:
                buf = buf[1:]  # not a message of the stand-in's: skip it
        self._wdt_buf = buf
        return False

    def _bridge(self):
        while not self._stopping:
            try:
                ready, _, _ = select.select([self._host_master, self._mp_master], [], [], 0.05)
            except (OSError, ValueError):
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                dest = self._mp_master if fd == self._host_master else self._host_master
                try:
                    os.write(dest, data)
                except OSError:
                    pass
            with self._lock:
                if self._stopping:
                    continue
                if self._proc.poll() is not None:
                    time.sleep(0.05)  # a soft reset: boot again
                    self._kill()
                    self._spawn()
                elif self._watch():
                    self._kill()  # a hard reset: the watchdog fired, or machine.reset()
                    self._spawn()
