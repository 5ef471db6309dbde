# Boot (after boot.py): every output at its safe level first; then the BMS
# with the watchdog armed, or -- once, on the boot right after tools/flash.py
# or a person asked for it -- maintenance mode: outputs off, watchdog off,
# the REPL free for mpremote until the next reset. Every way in and out:
# docs/flashing.md. This file stays small and self-contained: maintenance
# must work when the rest of the firmware on the board is broken or half
# uploaded.
import sys

MARKER = "maintenance.req"  # the one-shot request; it holds the lease in seconds
LEASE_S = 900  # maintenance ends with a reset after this long, unless asked otherwise
LEASE_MAX_S = 3600
_DEFAULT_BOARD = {"esp32": "esp32", "rp2": "pico_w"}
_STOPPED = ("BMS stopped, outputs off; the watchdog restarts it within 5 s. "
            "For a REPL session: import main; main.maintenance()")

BMS_MODE = "boot"  # then "run", "stopped" or "maintenance": read at the REPL by tools/flash.py
_lease = None


def board_name():
    try:
        import json

        with open("board.json") as f:
            return json.load(f)["board"]
    except (OSError, ValueError, KeyError):
        return _DEFAULT_BOARD.get(sys.platform, "sim")


def maintenance(lease_s=LEASE_S):
    """Ask for maintenance mode: the board resets into it, for one boot."""
    import machine

    with open(MARKER, "w") as f:
        f.write(str(lease_s))
    machine.reset()


def take_request():
    """The lease in seconds when maintenance was asked for, else 0. The marker
    goes before anything else: a request is good for one boot, and a marker
    that cannot be deleted is refused (the board would stay in maintenance)."""
    import os

    try:
        with open(MARKER) as f:
            text = f.read(12)
    except OSError:
        return 0
    try:
        os.remove(MARKER)
    except OSError:
        return 0
    try:
        lease_s = int(text)
    except ValueError:
        return LEASE_S
    return min(lease_s, LEASE_MAX_S) if lease_s > 0 else LEASE_S


def _attach_bench(a):
    if a is None:
        return
    try:
        import bench

        bench.attach(a)
    except (ImportError, MemoryError):
        pass  # no bench module, or no heap left for it: the REPL still works


def _maintain(hw, error, lease_s):
    global BMS_MODE, _lease
    import machine

    BMS_MODE = "maintenance"
    _lease = machine.Timer(0 if sys.platform == "esp32" else -1)  # ESP32: hardware timer 0
    _lease.init(mode=machine.Timer.ONE_SHOT, period=lease_s * 1000,
                callback=lambda t: machine.reset())
    if error is not None:
        print("maintenance: the board did not start:", repr(error))
    else:
        try:  # the stopped app, for the bench module (docs/bench-testing.md)
            import app

            _attach_bench(app.App(hw))
        except Exception as e:  # a broken firmware is what maintenance is for
            print("maintenance: no app:", repr(e))
    # last: tools/flash.py waits for this line before it sends its Ctrl-C
    print("BMS MAINTENANCE: outputs off, protection off, watchdog off, no Bluetooth.")
    print("Ends with a reset (machine.reset(), Ctrl-D at the REPL, power), or by itself in %d s."
          % lease_s)


def _arm(hw):
    if hw is not None:
        hw.wdt.arm()
    else:  # no board (boot.py armed it already, when it is there): come back by itself
        import machine

        machine.WDT(timeout=5000)


def run():
    global BMS_MODE
    hw = error = None
    try:
        name = board_name()
        board = getattr(__import__("boards." + name), name)
        hw = board.make()  # first: every output at its safe level
    except Exception as e:  # a broken board module: maintenance must still come up
        error = e
    lease_s = take_request()
    if lease_s:
        _maintain(hw, error, lease_s)
        return
    BMS_MODE = "run"
    bms = None
    try:
        if error is not None:
            raise error
        hw.wdt.arm()  # from here a stuck boot or control task resets the board
        try:  # the radio before the heap grows: ESP32 can fail to start it later (micropython#14293)
            import bluetooth

            bluetooth.BLE().active(True)
        except (ImportError, OSError):
            pass  # no radio on this port: the BMS runs without Bluetooth
        hw.wdt.feed()
        import asyncio
        import app

        bms = app.App(hw, restartable=True)
        hw.wdt.feed()
        done = asyncio.run(app.main(hw, app=bms))
        if done.restart_requested:
            import machine

            machine.reset()
    except KeyboardInterrupt:  # the REPL's bench module gets the stopped app
        _attach_bench(bms)
        print(_STOPPED)
    except BaseException:  # a crash: the stopped app too, for a look at it
        _attach_bench(bms)
        raise
    finally:  # Ctrl-C, a crash or a restart: nothing stays on, and the board comes back
        BMS_MODE = "stopped"
        try:
            if hw is not None:
                from bms.controller import safe_outputs

                safe_outputs(hw)
                if bms is not None:  # its controller writes only what changed: it must forget
                    bms.controller.safe_outputs()
        finally:
            _arm(hw)


if __name__ == "__main__":
    run()
