# Battery-link figures, run inside MicroPython (tools/bench.py merges the
# JSON line this prints). Options: --quick (a few seconds), --fuzz-bytes N
# (a long fixed-seed fuzz run reporting whether it stayed clean).
import sys
import gc
import json
import time

from bms.link import Decoder
from bms.linkframe import LinkMaster
from bms.linkframe import scan_ms
from bms.pack import Pack
from boards.sim.chain import BatteryChain
from linkgen import Rng, scan, fuzz_stream, CheckingPack

CHUNK = 256  # what one control-tick readinto() may return


def chunked(stream):
    n = len(stream)
    mv = memoryview(stream)
    chunks = []
    for i in range(0, n, CHUNK):
        chunks.append(mv[i:i + CHUNK])
    return chunks


def decode_rate(repeats):
    """Bytes/s through Decoder.feed into a 50-battery pack, 256-byte chunks."""
    pack = Pack(50)
    d = Decoder(pack)
    streams = [scan(50, s) for s in range(8)]
    parts = [chunked(s) for s in streams]
    nbytes = sum(len(s) for s in streams)
    best = None
    for _ in range(repeats):
        t0 = time.ticks_us()
        for seq in range(len(parts)):
            d.expect(seq)  # as the controller does after sending the request
            for c in parts[seq]:
                d.feed(c, len(c), 0)
        dt = time.ticks_diff(time.ticks_us(), t0)
        if best is None or dt < best:
            best = dt
    if d.frames_ok != repeats * len(streams) * 50 or d.garbage_bytes:
        raise RuntimeError("decode benchmark lost frames")
    return nbytes * 1000000 // best, best // len(streams)


def evaluate_us(repeats):
    """Host us for Pack.evaluate with 50 fresh batteries (runs every tick)."""
    pack = Pack(50)
    d = Decoder(pack)
    s = scan(50, 1)
    d.expect(1)
    d.feed(s, len(s), 0)
    best = None
    for _ in range(repeats):
        t0 = time.ticks_us()
        for _ in range(100):
            pack.evaluate(10, 1000)
        dt = time.ticks_diff(time.ticks_us(), t0)
        if best is None or dt < best:
            best = dt
    return best / 100


def full_scan_ms():
    """From the request leaving the BMS to the 50th report decoded, in the
    simulated ring at 115200 baud, 1 ms steps."""
    chain = BatteryChain(50, 115200)
    for addr in range(1, 51):
        chain.set_alarms(addr, 0)  # report v2, as the firmware plans its scans for
    pack = Pack(50)
    d = Decoder(pack)
    m = LinkMaster(100, 115200)
    m.configure(50, 100)
    m.poll(0)
    chain.write(m.buf, m.n, 0)
    d.expect(m.seq)
    buf = bytearray(CHUNK)
    for t in range(1, 1000):
        n = chain.readinto(buf, t)
        if n:
            d.feed(buf, n, t)
        if d.frames_ok == 50:
            return t
    return -1


def alloc_per_frame(scans):
    pack = Pack(50)
    d = Decoder(pack)
    streams = [scan(50, s) for s in range(scans)]
    d.expect(0)
    d.feed(streams[0], len(streams[0]), 0)
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    t = 0
    for seq in range(scans):
        s = streams[seq]
        d.expect(seq)
        d.feed(s, len(s), t)
        pack.evaluate(t, 1000)
        t += 100
    used = gc.mem_alloc() - before
    gc.enable()
    return used / (scans * 50)


def fuzz(nbytes):
    rng = Rng(20261123)
    pack = CheckingPack()
    d = Decoder(pack)
    fed = 0
    intact = 0
    stale = 0
    now = 0
    seq = 0
    while fed < nbytes:
        seq = (seq + 1) & 0xFF  # a new request for every piece of the stream
        d.expect(seq)
        pack.expect = seq
        stream, k, r = fuzz_stream(rng, 500, seq)
        intact += k
        stale += r
        i = 0
        while i < len(stream):
            c = min(rng.below(CHUNK) + 1, len(stream) - i)
            d.feed(memoryview(stream)[i:i + c], c, now)
            pack.verify(now)
            i += c
            now += 1
        fed += len(stream)
    d.feed(stream, 0, now + 1000)
    return {
        "link_fuzz_bytes": fed,
        "link_fuzz_corrupt_accepted": pack.corrupt,
        # stored can exceed intact: a truncated frame whose missing bytes
        # happen to equal the next bytes on the line is whole again
        "link_fuzz_frames_intact": intact,
        "link_fuzz_frames_stored": d.frames_ok,
        "link_fuzz_replays": stale,
        "link_fuzz_replays_refused": d.stale_seq,
        "link_fuzz_clean": 1 if pack.corrupt == 0 else 0,
        "link_fuzz_crc_errors": d.crc_errors,
        "link_fuzz_garbage_bytes": d.garbage_bytes,
    }


def main():
    quick = "--quick" in sys.argv
    out = {}
    rate, us_per_scan = decode_rate(20 if quick else 200)
    out["link_decode_bytes_per_s"] = rate
    out["link_decode_us_per_scan_50batt"] = us_per_scan
    out["link_full_scan_ms_50batt"] = full_scan_ms()
    out["link_full_scan_ms_50batt_formula"] = scan_ms(50, 115200)  # report v2
    out["link_alloc_bytes_per_frame"] = alloc_per_frame(4 if quick else 20)
    out["link_pack_evaluate_us_50batt"] = evaluate_us(5 if quick else 50)
    if "--fuzz-bytes" in sys.argv:
        out.update(fuzz(int(sys.argv[sys.argv.index("--fuzz-bytes") + 1])))
    print(json.dumps(out))


main()
