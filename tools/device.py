"""One connection to a MicroPython board over mpremote's SerialTransport.

mpremote's Python API is internal (mpremote is pinned in pyproject.toml).
The connection never soft-resets on entering the raw REPL: on the virtual
board a soft reset ends the process, and on a real board the firmware is
restarted explicitly by reset().
"""
import ast
import threading
import time

import serial
import serial.tools.list_ports
from mpremote.transport import TransportError
from mpremote.transport_serial import SerialTransport

_OPEN_RETRY_S = 10
# mpremote waits without limit for a board to acknowledge a command; a board
# that reset in between (its watchdog) never does: a read gives up after
# _READ_TIMEOUT_S, and a whole command after _COMMAND_TIMEOUT_S
_REPL_ATTEMPTS = 3  # enter_raw_repl: interrupt, Ctrl-A, wait for the banner
_READ_TIMEOUT_S = 15
_COMMAND_TIMEOUT_S = 60


class DeviceError(Exception):
    pass


def detect_port():
    """The one USB serial port that looks like a board, or DeviceError."""
    ports = sorted((p for p in serial.tools.list_ports.comports()
                    if p.vid is not None and p.pid is not None), key=lambda p: p.device)
    if not ports:
        raise DeviceError("no board found: plug it in, or name it with --port "
                          "(or flash the virtual board with --board sim)")
    if len(ports) > 1:
        raise DeviceError("several serial devices found, choose one with --port: " +
                          ", ".join("%s (%s)" % (p.device, p.description) for p in ports))
    return ports[0].device


class Device:
    def __init__(self, port, vboard=None):
        self.port = port
        self.vboard = vboard
        # how long the firmware gets to boot before it is asked how it is
        self.boot_wait_s = 0.3 if vboard is not None else 2.0
        self.t = None

    def open(self, wait_s=0):
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self.t = SerialTransport(self.port, baudrate=115200)
                self.t.serial.timeout = _READ_TIMEOUT_S
                break
            except TransportError as e:
                if time.monotonic() > deadline:
                    raise DeviceError("cannot open %s: %s" % (self.port, e.args[0])) from None
                time.sleep(0.3)
        return self

    def repl(self):
        """Stop whatever runs and enter the raw REPL. A board busy printing
        (or a loaded host) can miss the Ctrl-A that follows mpremote's
        interrupt: then interrupt again, drop what it printed, and ask again."""
        if self.t.in_raw_repl:
            return
        for attempt in range(_REPL_ATTEMPTS):
            try:
                self.t.enter_raw_repl(soft_reset=False)
                return
            except TransportError as e:
                if attempt == _REPL_ATTEMPTS - 1:
                    raise DeviceError("%s does not answer like a MicroPython board (%s)"
                                      % (self.port, e)) from None
            self.t.serial.write(b"\r\x03\x03")
            time.sleep(0.2)
            self.t.serial.reset_input_buffer()

    def rebooted(self):
        """The board reset by itself (its watchdog, the maintenance lease): it
        is no longer in the raw REPL that this connection entered."""
        self.t.in_raw_repl = False

    def close(self):
        if self.t is not None:
            try:
                if self.t.in_raw_repl and self.t.serial.is_open:
                    self.t.exit_raw_repl()
            finally:
                if self.t.serial.is_open:  # a command that timed out closed it
                    self.t.close()
                self.t = None

    def _bounded(self, fn, *args, **kw):
        """fn(*args, **kw) on the transport, given up after _COMMAND_TIMEOUT_S."""
        port = self.t.serial
        timer = threading.Timer(_COMMAND_TIMEOUT_S, port.close)  # unblocks a read that never ends
        timer.start()
        try:
            return fn(*args, **kw)
        except TransportError as e:
            raise DeviceError("board error:\n" + str(e.args[-1] if e.args else e)) from None
        except (serial.SerialException, OSError, TypeError) as e:
            if port.is_open:
                raise
            raise DeviceError("%s gave no answer within %d s (did the board reset?)"
                              % (self.port, _COMMAND_TIMEOUT_S)) from e
        finally:
            timer.cancel()

    def run(self, code):
        """Execute code on the board; its printed output as text."""
        self.repl()
        return self._bounded(self.t.exec, code).decode()

    def value(self, code):
        """Execute code whose last printed line is a Python literal; that value."""
        return ast.literal_eval(self.run(code).strip().split("\n")[-1])

    def write(self, path, data, progress=None):
        self.repl()
        self._bounded(self.t.fs_writefile, path, data, progress_callback=progress)

    def read_output(self, seconds):
        """What the board prints during `seconds` (boot messages)."""
        end = time.monotonic() + seconds
        out = bytearray()
        s = self.t.serial
        while time.monotonic() < end:
            n = s.in_waiting
            out += s.read(n) if n else b""
            time.sleep(0.02)
        return out.decode(errors="replace")

    def wait_for(self, text, seconds):
        """What the board prints until `text` appears (then True) or `seconds`
        pass (False): boot messages."""
        end = time.monotonic() + seconds
        out = bytearray()
        s = self.t.serial
        want = text.encode()
        while time.monotonic() < end and want not in out:
            n = s.in_waiting
            out += s.read(n) if n else b""
            time.sleep(0.02)
        return want in out, out.decode(errors="replace")

    def reset(self):
        """Hard reset; the firmware boots from boot.py and main.py. Reopens the port."""
        if self.vboard is not None:
            self.close()
            self.vboard.reset()
            self.open(_OPEN_RETRY_S)
        else:
            self.reset_by("")

    def reset_by(self, code):
        """Run `code`, then machine.reset(), on the board; reopen the port once
        it is back. The board's own reset, on the virtual board too."""
        self.repl()
        boots = self.vboard.boots if self.vboard is not None else None
        self.t.exec_raw_no_follow(code + "\nimport time, machine\ntime.sleep_ms(100)\nmachine.reset()")
        self.t.in_raw_repl = False  # the board is gone: nothing to leave
        if self.vboard is not None:
            self.vboard.wait_boot(boots)  # its pty stays open: the boot output is kept
            return
        self.close()
        time.sleep(1.5)  # USB CDC boards drop off the bus while they reboot
        self.open(_OPEN_RETRY_S)
