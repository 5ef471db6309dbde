# A stand-in for the `machine` module, for driver and board tests on the unix
# port: records what the drivers do to pins, PWM, ADC, I2C, UART and WDT.
# install() puts it in sys.modules before any driver is imported.
import sys

log = []  # (what, id, value) in order, for "which pin moved first" checks


class Pin:
    OUT = 1
    IN = 0
    PULL_UP = 2
    pins = {}

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self._v = 0 if value is None else value
        Pin.pins[id] = self
        if value is not None:
            log.append(("pin", id, value))

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = v
        log.append(("pin", self.id, v))


class PWM:
    def __init__(self, pin, freq=0, duty_u16=0):
        self.pin = pin
        self.freq = freq
        self.u16 = duty_u16
        log.append(("pwm", pin.id, duty_u16))

    def duty_u16(self, v=None):
        if v is None:
            return self.u16
        self.u16 = v
        log.append(("pwm", self.pin.id, v))


class ADC:
    ATTN_11DB = 3
    levels = {}  # pin id -> read_u16 value

    def __init__(self, pin, atten=None):
        self.pin = pin

    def read_u16(self):
        return ADC.levels.get(self.pin.id, 0)


class I2C:
    regs = {}  # (addr, reg) -> bytes

    def __init__(self, id, sda=None, scl=None, freq=0):
        self.id = id

    def writeto_mem(self, addr, reg, buf):
        I2C.regs[(addr, reg)] = bytes(buf)

    def readfrom_mem_into(self, addr, reg, buf):
        data = I2C.regs.get((addr, reg), b"\x00\x00")
        for i in range(len(buf)):
            buf[i] = data[i]


class UART:
    def __init__(self, id, baudrate=115200, tx=None, rx=None, **kw):
        self.id = id
        self.baudrate = baudrate
        self.kw = kw
        self.rx = bytearray()
        self.tx = bytearray()

    def any(self):
        return len(self.rx)

    def readinto(self, buf, n=None):
        n = min(len(buf) if n is None else n, len(self.rx))
        if n == 0:
            return None
        for i in range(n):
            buf[i] = self.rx[i]
        self.rx = self.rx[n:]
        return n

    def write(self, buf):
        self.tx.extend(buf)
        return len(buf)


class WDT:
    fed = 0

    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout

    def feed(self):
        WDT.fed += 1


def install():
    sys.modules["machine"] = sys.modules[__name__]
