# Runs first at every boot and at every soft reset. It arms the watchdog at
# once, unless maintenance mode was asked for (main.py then takes the request).
# So a stopped or broken firmware always comes back by itself, and a soft
# reset ends maintenance: one from the raw REPL (mpremote without `resume`)
# skips main.py and would otherwise leave the board with no firmware running
# and nothing to reset it. docs/flashing.md, "Maintenance mode".
import os

try:
    os.stat("maintenance.req")  # main.MARKER
except OSError:
    import machine

    machine.WDT(timeout=5000)  # drivers/watchdog.py TIMEOUT_MS
