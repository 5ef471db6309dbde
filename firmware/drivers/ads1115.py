# ADS1115 16-bit I2C ADC, read round-robin without blocking: each poll() reads
# the conversion started on the previous poll and starts the next channel, so
# every channel refreshes once per (channels x control tick). Used on boards
# with too few native ADC pins (Pico W) for the slow channels.
import micropython
from micropython import const

_REG_CONV = const(0)
_REG_CFG = const(1)
# single-shot, +-4.096 V range, 860 SPS, comparator off; channel in bits 14..12
_CFG_HI = const(0xC3)  # OS=1, MUX=100 (AIN0 vs GND) | PGA=001, MODE=1
_CFG_LO = const(0xE3)
# this many failed polls in a row and the values are stale: at 4 channels a
# channel is then at least 3 refreshes old (30 ms at the 10 ms tick)
STALE_POLLS = const(3)


class Ads1115:
    def __init__(self, i2c, addr=0x48, channels=4):
        self._i2c = i2c
        self._addr = addr
        self._n = channels
        self._cfg = bytearray(2)
        self._rx = bytearray(2)
        self.value = [0] * channels  # read_u16 scale: 0..65535 over 0..3.3 V
        self._ch = 0
        self.fresh = False  # False while the values are stale (see poll)
        self.errors = 0  # failed polls, counted up to 2**30 - 1
        # stale until the first conversion is read, and the bus is first
        # touched by poll(): a dead ADC at boot must not stop the board
        # from booting, it only makes the readings invalid
        self._fails = STALE_POLLS  # failed polls in a row, up to STALE_POLLS
        self._resync = True

    def _start(self, ch):
        self._cfg[0] = _CFG_HI | (ch << 4)
        self._cfg[1] = _CFG_LO
        self._i2c.writeto_mem(self._addr, _REG_CFG, self._cfg)

    @micropython.native
    def poll(self):
        """One step of the round robin; False while the values are stale
        (STALE_POLLS failed polls in a row, until a read succeeds again)."""
        try:
            if self._resync:
                # after a failed transfer the conversion register may hold
                # another channel's result: convert this channel again first
                self._start(self._ch)
                self._resync = False
            else:
                self._i2c.readfrom_mem_into(self._addr, _REG_CONV, self._rx)
                raw = (self._rx[0] << 8) | self._rx[1]
                if raw & 0x8000:
                    raw = 0  # below ground: clamp, the inputs are single-ended
                # 4.096 V full scale -> 3.3 V read_u16 scale
                u16 = raw * 8192 // 3300
                self.value[self._ch] = 65535 if u16 > 65535 else u16
                self._fails = 0
                self._ch = (self._ch + 1) % self._n
                self._start(self._ch)
        except OSError:
            # a glitch keeps the last values for a poll or two; a dead bus
            # makes them stale, so the readings stop counting as valid
            if self.errors < 0x3FFFFFFF:
                self.errors += 1
            if self._fails < STALE_POLLS:
                self._fails += 1
            self._resync = True
        self.fresh = self._fails < STALE_POLLS
        return self.fresh


class AdsInput:
    """One ADS1115 channel with the read_u16() interface of machine.ADC."""

    def __init__(self, ads, ch):
        self.ads = ads  # its values are as fresh as this ADC's (analog.Sense asks)
        self._ch = ch

    def read_u16(self):
        return self.ads.value[self._ch]
