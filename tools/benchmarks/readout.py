# Instant Readout benchmark (MicroPython): heap bytes and time per advertisement.
# Each measured update changes the current, so every one re-encrypts and
# re-frames: the worst case of the once-a-second refresh.
# usage: micropython tools/benchmarks/readout.py [--quick]
import sys
import gc
import json
import time
import cryptolib
from bms import readout as R
from readout_double import make_ctl  # tests/mpy is on the bench path


def main():
    quick = "--quick" in sys.argv
    rounds = 20 if quick else 200
    per = 50
    key = bytes(range(16))
    ro = R.Readout(cryptolib.aes(key, 1), key[0], 0x4321)
    ctl = make_ctl(alt_ma=30000, sys_ma=-12000, fet_ddegc=350, seen=4, pack_mv=13262,
                   min_cell_mv=3310, max_temp_ddegc=231)
    m = ctl.meas
    ctl.soc.count(0, ctl.pack, ctl.meas, ctl.settings)  # seeded (the controller's job)
    ro.update(ctl)
    update = ro.update
    seal = ro.advert.seal
    plain = ro.plain
    best_update = best_seal = 1 << 29
    alloc = 0
    for r in range(rounds):
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        t0 = time.ticks_us()
        for k in range(per):
            m.sys_ma = -12000 - ((r * per + k) & 1023) * 100
            update(ctl)
        t1 = time.ticks_us()
        for k in range(per):
            plain[2] = k  # a new plaintext each time: encrypt and frame
            seal(plain)
        t2 = time.ticks_us()
        used = gc.mem_alloc() - before
        gc.enable()
        alloc = max(alloc, used)
        best_update = min(best_update, time.ticks_diff(t1, t0))
        best_seal = min(best_seal, time.ticks_diff(t2, t1))
    print(json.dumps({
        "readout_encrypt_alloc_bytes": alloc,
        "readout_update_us": best_update / per,
        "readout_encrypt_us": best_seal / per,
    }))


main()
