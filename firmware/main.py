# Boot: pick the board (board.json, written by tools/flash.py, or the port's
# platform), build its hardware with every output in its safe state, run the app.
import sys

_DEFAULT_BOARD = {"esp32": "esp32", "rp2": "pico_w"}


def board_name():
    try:
        import json

        with open("board.json") as f:
            return json.load(f)["board"]
    except (OSError, ValueError, KeyError):
        return _DEFAULT_BOARD.get(sys.platform, "sim")


def _attach_bench(a):
    if a is None:
        return
    try:
        import bench

        bench.attach(a)
    except (ImportError, MemoryError):
        pass  # no bench module, or no heap left for it: the REPL still works


def run():
    name = board_name()
    board = getattr(__import__("boards." + name), name)
    hw = board.make()  # first: every output at its safe level
    try:  # then the radio, before the heap grows: ESP32 can fail to start the radio later (micropython#14293)
        import bluetooth

        bluetooth.BLE().active(True)
    except (ImportError, OSError):
        pass  # no radio on this port: the BMS runs without Bluetooth
    import asyncio
    import app
    from bms.controller import safe_outputs

    a = None
    try:
        a = app.App(hw, restartable=True)
        done = asyncio.run(app.main(hw, app=a))
    except BaseException:  # Ctrl-C or a crash: the REPL's bench module gets the stopped app
        _attach_bench(a)
        raise
    finally:  # Ctrl-C at the REPL, a crash, or a restart: nothing stays on
        safe_outputs(hw)
    if done.restart_requested:
        import machine

        machine.reset()


if __name__ == "__main__":
    run()
