# The Instant Readout advertisement of the simulated board: the firmware's own
# bms.readout.Readout, rebuilt once a second of sim time from the controller
# and keyed with the scenario's readout_key, so that the trace carries the
# manufacturer data a phone would receive (hex, from the 0x10 byte on).
import cryptolib
from binascii import hexlify
from bms.readout import Readout

REFRESH_MS = 1000


class ReadoutTap:
    def __init__(self, key, nonce=0):
        self.readout = Readout(cryptolib.aes(key, 1), key[0], nonce)
        self.mfr_hex = None  # None while nothing is advertised
        self._next_ms = 0

    def step(self, t_ms, ctl):
        """Called after each controller tick with the sim time since the start."""
        if t_ms < self._next_ms:
            return
        self._next_ms = t_ms + REFRESH_MS
        if not ctl.settings.readout_enabled:
            self.mfr_hex = None
            return
        ro = self.readout
        if ro.update(ctl) or (self.mfr_hex is None and ro.ready):
            self.mfr_hex = hexlify(ro.mfr).decode()
