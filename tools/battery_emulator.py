"""Play the battery bank to a real board's battery-cable UART.

Connect a USB-serial adapter to the board's battery cable pins (adapter TX ->
board RX, adapter RX -> board TX, common ground) and run

    python tools/battery_emulator.py /dev/ttyUSB0 --batteries 4 --cell-mv 3300 3310 3290 3305
    python tools/battery_emulator.py /dev/ttyUSB0 --scenario bench.json

The batteries are the simulator's (boards/sim/chain.py): the board gets the
same frames, at the same line rate, with the same fault injection as in the
simulator. Until the shared scenario format (boards/sim/scenario.py) is on
main, a scenario here is a small JSON file, read by load_scenario() only:

    {"batteries": 4, "cell_mv": [3300, 3300, 3300, 3300], "temp_dc": 250,
     "set": [{"addr": 2, "cell_mv": [3300, 3290, 3310, 3300], "temp_dc": 180, "flags": 1}],
     "events": [{"at_ms": 2000, "do": "noise", "bytes": 100},
                {"at_ms": 3000, "do": "silence", "addr": 3, "on": true}]}

Event kinds: set_cells (addr, cell_mv), set_temp (addr, temp_dc), set_flags
(addr, flags), noise (bytes), flip_bits (count), drop_frames (count),
silence (addr, on), unplug (on).
"""
import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "firmware"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from boards.sim.chain import BatteryChain  # noqa: E402

# event kind -> the fields it needs
EVENTS = {
    "set_cells": ("addr", "cell_mv"),
    "set_temp": ("addr", "temp_dc"),
    "set_flags": ("addr", "flags"),
    "noise": ("bytes",),
    "flip_bits": ("count",),
    "drop_frames": ("count",),
    "silence": ("addr", "on"),
    "unplug": ("on",),
}


class ScenarioError(ValueError):
    pass


def load_scenario(text, overrides=None):
    """Parse and check a scenario (JSON text, then command-line overrides)
    into a dict with every key set."""
    try:
        scn = json.loads(text)
    except ValueError as e:
        raise ScenarioError("scenario is not valid JSON: %s" % e) from None
    if not isinstance(scn, dict):
        raise ScenarioError("scenario must be a JSON object")
    scn.update(overrides or {})
    count = scn.get("batteries", 1)
    if not isinstance(count, int) or not 1 <= count <= 50:
        raise ScenarioError("batteries must be an integer 1..50")
    out = {
        "batteries": count,
        "cell_mv": list(scn.get("cell_mv", [3300] * 4)),
        "temp_dc": scn.get("temp_dc", 250),
        "set": list(scn.get("set", [])),
        "events": sorted(scn.get("events", []), key=lambda e: e.get("at_ms", 0)),
    }
    if len(out["cell_mv"]) != 4:
        raise ScenarioError("cell_mv needs 4 values")
    for ev in out["events"]:
        kind = ev.get("do")
        if kind not in EVENTS:
            raise ScenarioError("unknown event %r (known: %s)" % (kind, ", ".join(EVENTS)))
        missing = [k for k in ("at_ms",) + EVENTS[kind] if k not in ev]
        if missing:
            raise ScenarioError("event %s lacks %s" % (kind, ", ".join(missing)))
    for item in out["set"]:
        if not 1 <= item.get("addr", 0) <= count:
            raise ScenarioError("set: addr must be 1..%d" % count)
    return out


def build_chain(scn, baud):
    chain = BatteryChain(scn["batteries"], baud)
    for addr in range(1, scn["batteries"] + 1):
        chain.set_cells(addr, *scn["cell_mv"])
        chain.set_temp(addr, scn["temp_dc"])
    for item in scn["set"]:
        apply_event(chain, dict(item, do="set"))
    return chain


def apply_event(chain, ev):
    kind = ev["do"]
    if kind in ("set", "set_cells") and "cell_mv" in ev:
        chain.set_cells(ev["addr"], *ev["cell_mv"])
    if kind in ("set", "set_temp") and "temp_dc" in ev:
        chain.set_temp(ev["addr"], ev["temp_dc"])
    if kind in ("set", "set_flags") and "flags" in ev:
        chain.set_flags(ev["addr"], ev["flags"])
    if kind == "noise":
        chain.noise(ev["bytes"])
    elif kind == "flip_bits":
        chain.flip_bits(ev["count"])
    elif kind == "drop_frames":
        chain.drop_frames(ev["count"])
    elif kind == "silence":
        chain.silence(ev["addr"], ev["on"])
    elif kind == "unplug":
        chain.unplug(ev["on"])


def run(ser, chain, events, duration_s=None, clock=time.monotonic, stop=None):
    """Serve the board until duration_s has passed (or stop() is true)."""
    start = clock()
    pending = list(events)
    buf = bytearray(4096)
    while True:
        now_ms = int((clock() - start) * 1000)
        if duration_s is not None and now_ms >= duration_s * 1000:
            break
        if stop is not None and stop():
            break
        while pending and pending[0]["at_ms"] <= now_ms:
            apply_event(chain, pending.pop(0))
        data = ser.read(ser.in_waiting or 1)  # the port is opened with timeout=0
        if data:
            chain.write(data, len(data), now_ms)
        n = chain.readinto(buf, now_ms)
        if n:
            ser.write(bytes(buf[:n]))
        else:
            time.sleep(0.0005)
    return chain


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("port", help="serial port of the USB-serial adapter")
    ap.add_argument("--baud", type=int, default=115200)
    ap.add_argument("--scenario", help="scenario JSON file")
    ap.add_argument("--batteries", type=int, help="battery count (overrides the scenario)")
    ap.add_argument("--cell-mv", type=int, nargs=4, metavar="MV", help="every battery's 4 cells")
    ap.add_argument("--temp-dc", type=int, help="every battery's temperature, 0.1 degC")
    ap.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C)")
    args = ap.parse_args(argv)
    text = Path(args.scenario).read_text() if args.scenario else "{}"
    overrides = {}
    if args.batteries is not None:
        overrides["batteries"] = args.batteries
    if args.cell_mv:
        overrides["cell_mv"] = args.cell_mv
    if args.temp_dc is not None:
        overrides["temp_dc"] = args.temp_dc
    try:
        scn = load_scenario(text, overrides)
    except ScenarioError as e:
        ap.error(str(e))
    import serial  # pyserial, only needed for a real port

    chain = build_chain(scn, args.baud)
    with serial.Serial(args.port, args.baud, timeout=0) as ser:
        try:
            run(ser, chain, scn["events"], args.duration)
        except KeyboardInterrupt:
            pass
    print("scans answered: %d, reports sent: %d" % (chain.scans, chain.frames_sent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
