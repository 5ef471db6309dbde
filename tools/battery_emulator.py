"""Play the battery bank to a real board's battery-cable UART.

Connect a USB-serial adapter to the board's battery cable pins (adapter TX ->
board RX, adapter RX -> board TX, common ground) and run

    python tools/battery_emulator.py /dev/ttyUSB0 --batteries 4 --cell-mv 3300 3310 3290 3305
    python tools/battery_emulator.py /dev/ttyUSB0 --scenario cable-unplug

The batteries are the simulator's (boards/sim/chain.py): the board gets the
same frames, at the same line rate, with the same fault injection. Scenarios
are the simulator's files (docs/scenarios.md), read by boards/sim/scenario.py.
The emulator plays the battery side only: cells and temperatures come from the
scenario's plant at rest (state of charge, per-cell spread, temperature and
cell events), and every cable event (cable, silent, flags, uart_noise,
uart_flip, uart_drop) is carried out. Events that act on the BMS's own ports
(engine, loads, chargers, remote, fuse) need the real wiring and are skipped,
with a note.
"""
import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "firmware"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from boards.sim import scenario as sc  # noqa: E402
from boards.sim.chain import BatteryChain  # noqa: E402
from boards.sim.plant import Plant  # noqa: E402

# scenario actions that happen on the battery side of the cable
BATTERY_SIDE = ("temp_c", "cell", "cable", "silent", "flags", "alarms", "uart_noise", "uart_flip", "uart_drop")
PLANT_STEP_MS = 100


def load_scenario(name_or_path=None, batteries=None):
    """The shared scenario loader; without a file, a quiet bank of `batteries`."""
    if name_or_path is None:
        return sc.parse({"name": "bench", "batteries": batteries or 1}, "command line")
    scn = sc.load(name_or_path)
    if batteries is not None and batteries != scn.batteries:
        raise sc.ScenarioError("--batteries %d contradicts the scenario's %d batteries"
                               % (batteries, scn.batteries))
    return scn


class BatterySide:
    """The scenario's batteries at rest, on the emulated cable."""

    def __init__(self, scn, baud, cell_mv=None, temp_ddegc=None):
        self.plant = Plant(scn.batteries, scn.plant)
        self.chain = BatteryChain(scn.batteries, baud)
        self.cell_mv = cell_mv  # fixed values for every battery, or None
        self.temp_ddegc = temp_ddegc
        self.skipped = []
        self.push()

    def push(self):
        p = self.plant
        for b in range(p.batteries):
            mv = self.cell_mv or p.cell_mv[b * 4:b * 4 + 4]
            self.chain.set_cells(b + 1, *mv)
            t = p.temp_ddegc(b) if self.temp_ddegc is None else self.temp_ddegc
            self.chain.set_temp(b + 1, t)

    def step(self, dt_ms):
        self.plant.step(dt_ms)
        self.push()

    def apply(self, action, value):
        if action in BATTERY_SIDE:
            sc.apply(self, action, value)
            self.push()
        else:
            self.skipped.append(action)
            print("skipped %s event: it acts on the BMS's ports, not on the batteries" % action)


def run(ser, side, events, duration_s=None, clock=time.monotonic):
    """Serve the board until duration_s has passed."""
    start = clock()
    pending = list(events)  # [(t_ms, action, value)] sorted by time
    buf = bytearray(4096)
    stepped_ms = 0
    chain = side.chain
    while True:
        now_ms = int((clock() - start) * 1000)
        if duration_s is not None and now_ms >= duration_s * 1000:
            break
        while pending and pending[0][0] <= now_ms:
            _t, action, value = pending.pop(0)
            side.apply(action, value)
        if now_ms - stepped_ms >= PLANT_STEP_MS:
            side.step(now_ms - stepped_ms)
            stepped_ms = now_ms
        data = ser.read(ser.in_waiting or 1)  # the port is opened with timeout=0
        if data:
            chain.write(data, len(data), now_ms)
        n = chain.readinto(buf, now_ms)
        if n:
            ser.write(bytes(buf[:n]))
        else:
            time.sleep(0.0005)
    return side


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("port", help="serial port of the USB-serial adapter")
    ap.add_argument("--baud", type=int, default=115200)
    ap.add_argument("--scenario", help="shipped scenario name or JSON file (docs/scenarios.md)")
    ap.add_argument("--batteries", type=int, help="battery count without a scenario (1..50)")
    ap.add_argument("--cell-mv", type=int, nargs=4, metavar="MV",
                    help="fixed cell voltages for every battery instead of the plant's")
    ap.add_argument("--temp-dc", type=int, help="fixed temperature for every battery, 0.1 degC")
    ap.add_argument("--duration", type=float,
                    help="seconds to run (default: the scenario's; without one, until Ctrl-C)")
    args = ap.parse_args(argv)
    try:
        scn = load_scenario(args.scenario, args.batteries)
    except sc.ScenarioError as e:
        ap.error(str(e))
    import serial  # pyserial, only needed for a real port

    duration = args.duration
    if duration is None and args.scenario:
        duration = scn.duration_ms / 1000
    side = BatterySide(scn, args.baud, args.cell_mv, args.temp_dc)
    with serial.Serial(args.port, args.baud, timeout=0) as ser:
        try:
            run(ser, side, scn.events, duration)
        except KeyboardInterrupt:
            pass
    print("scans answered: %d, reports sent: %d" % (side.chain.scans, side.chain.frames_sent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
