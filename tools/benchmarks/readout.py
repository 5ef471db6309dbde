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
from bms.measure import Measurements
from bms.settings import Settings


class Obj:
    pass


def controller():
    c = Obj()
    m = c.meas = Measurements()
    m.valid = True
    m.bat_mv = 13250
    m.alt_ma = 30000
    m.sys_ma = -12000
    m.fet_dc = 350
    p = c.pack = Obj()
    p.seen = 4
    p.pack_mv = 13262
    p.min_cell_mv = 3310
    p.max_temp_dc = 231
    p.lost = 0
    pr = c.protection = Obj()
    pr.atc = pr.atd = pr.load_out = pr.alt_allowed = True
    pr.prealarm_out = False
    c.alternator = Obj()
    c.alternator.fault = 0
    c.remote = Obj()
    c.remote.on = True
    c.settings = Settings()
    return c


def main():
    quick = "--quick" in sys.argv
    rounds = 20 if quick else 200
    per = 50
    key = bytes(range(16))
    ro = R.Readout(cryptolib.aes(key, 1), key[0], 0x4321)
    ctl = controller()
    m = ctl.meas
    now = 0
    ro.update(now, ctl)
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
            now += 1000
            m.sys_ma = -12000 - ((r * per + k) & 1023) * 100
            update(now, ctl)
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
