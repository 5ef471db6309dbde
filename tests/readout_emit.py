# MicroPython side of tests/test_readout_decode.py: reads a JSON object
# {"key": hex, "nonce": n, "name": str, "steps": [{state}, ...]} on stdin, runs
# the firmware's Readout over the steps (one second apart) and prints one JSON
# line per step with the advertising data it would send.
import sys
import json
import cryptolib
from binascii import hexlify, unhexlify
from bms import readout as R
from bms import readout_frame as RF
from bms.measure import Measurements
from bms.settings import Settings
from bms.soc import Soc
from bms.protocol import SERVICE_UUID


class Obj:
    pass


def controller():
    c = Obj()
    c.meas = Measurements()
    c.pack = Obj()
    c.protection = Obj()
    c.alternator = Obj()
    c.remote = Obj()
    c.settings = Settings()
    c.soc = Soc()
    return c


def apply(c, step):
    for part in ("meas", "pack", "protection", "alternator", "remote"):
        obj = getattr(c, part)
        for k, v in step.get(part, {}).items():
            setattr(obj, k, v)
    errors = c.settings.update(step.get("settings", {}))
    if errors:
        raise ValueError(str(errors))


def main():
    job = json.loads(sys.stdin.read())
    key = unhexlify(job["key"])
    ro = R.Readout(cryptolib.aes(key, 1), key[0], job["nonce"])
    c = controller()
    for k, step in enumerate(job["steps"]):
        apply(c, step)
        c.soc.count(k * 1000, c.pack, c.meas, c.settings)  # the controller's part
        changed = ro.update(c)
        print(json.dumps({
            "changed": changed,
            "adv": hexlify(ro.adv).decode(),
            "resp": hexlify(RF.scan_response(c.settings.device_name, SERVICE_UUID)).decode(),
            "remaining_mah": c.soc.remaining_mah,
            "cap_mah": c.soc.cap_mah,
        }))


main()
