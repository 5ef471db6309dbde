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


def run():
    import asyncio
    import app

    from bms.controller import safe_outputs

    name = board_name()
    board = getattr(__import__("boards." + name), name)
    hw = board.make()
    try:
        asyncio.run(app.main(hw))
    finally:  # Ctrl-C at the REPL, a crash, or a restart: nothing stays on
        safe_outputs(hw)


if __name__ == "__main__":
    run()
