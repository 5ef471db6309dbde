"""A virtual MicroPython board: the unix port behind a pseudo-terminal.

mpremote talks to a serial device, so the virtual board offers one: the slave
side of pty A. A bridge thread copies bytes between pty A and pty B, and the
MicroPython unix port runs with pty B as its controlling terminal, so Ctrl-C
from mpremote interrupts the running firmware exactly as on a board. The
board's filesystem is a host folder (the process's working directory and the
head of MICROPYPATH). Like a board, it boots main.py when there is one and
drops to the REPL afterwards (-i); when the process exits (Ctrl-D soft reset,
sys.exit) it is started again. No socat needed.
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


def _make_controlling_tty():
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class VirtualBoard:
    def __init__(self, root, heap_bytes=None, extra_path=()):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.heap_bytes = heap_bytes
        self.extra_path = [str(p) for p in extra_path]
        self.boots = 0
        self._proc = None
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
        if (self.root / "main.py").exists():
            argv += ["-i", "main.py"]
        return argv

    def _env(self):
        env = dict(os.environ)
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
        self._proc = subprocess.Popen(
            self._argv(), cwd=str(self.root), env=self._env(),
            stdin=self._mp_slave, stdout=self._mp_slave, stderr=self._mp_slave,
            start_new_session=True, preexec_fn=_make_controlling_tty)
        self.boots += 1

    def _kill(self):
        p = self._proc
        if p and p.poll() is None:
            p.kill()
            p.wait()

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
                if not self._stopping and self._proc.poll() is not None:
                    time.sleep(0.05)  # a soft reset: boot again
                    self._spawn()
