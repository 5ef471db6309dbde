# ADS1115 16-bit I2C ADC, read round-robin without blocking: each poll() reads
# the conversion started on the previous poll and starts the next channel, so
# every channel refreshes once per (channels x control tick). Used on boards
# with too few native ADC pins (Pico W) for the slow channels.
from micropython import const

_REG_CONV = const(0)
_REG_CFG = const(1)
# single-shot, +-4.096 V range, 860 SPS, comparator off; channel in bits 14..12
_CFG_HI = const(0xC3)  # OS=1, MUX=100 (AIN0 vs GND) | PGA=001, MODE=1
_CFG_LO = const(0xE3)


class Ads1115:
    def __init__(self, i2c, addr=0x48, channels=4):
        self._i2c = i2c
        self._addr = addr
        self._n = channels
        self._cfg = bytearray(2)
        self._rx = bytearray(2)
        self.value = [0] * channels  # read_u16 scale: 0..65535 over 0..3.3 V
        self._ch = 0
        self.errors = 0
        self._start(0)

    def _start(self, ch):
        self._cfg[0] = _CFG_HI | (ch << 4)
        self._cfg[1] = _CFG_LO
        self._i2c.writeto_mem(self._addr, _REG_CFG, self._cfg)

    def poll(self):
        try:
            self._i2c.readfrom_mem_into(self._addr, _REG_CONV, self._rx)
            raw = (self._rx[0] << 8) | self._rx[1]
            if raw & 0x8000:
                raw = 0  # below ground: clamp, the inputs are single-ended
            # 4.096 V full scale -> 3.3 V read_u16 scale
            u16 = raw * 8192 // 3300
            self.value[self._ch] = 65535 if u16 > 65535 else u16
            self._ch = (self._ch + 1) % self._n
            self._start(self._ch)
        except OSError:
            self.errors += 1  # a bus glitch keeps the last values; counted


class AdsInput:
    """One ADS1115 channel with the read_u16() interface of machine.ADC."""

    def __init__(self, ads, ch):
        self._ads = ads
        self._ch = ch

    def read_u16(self):
        return self._ads.value[self._ch]
