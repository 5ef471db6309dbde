# Raspberry Pi Pico W (RP2040). Pin map: docs/boards.md. The RP2040 has three
# usable ADC pins: they take the channels the fast loops need (currents and
# the starter voltage); the rest are read round-robin from two ADS1115s.
from machine import ADC, I2C, Pin

from drivers.hardware import Hardware
from drivers.switch import Switch
from drivers.oc_latch import OcLatch
from drivers.pwm_gate import PwmGate
from drivers import analog
from drivers.ads1115 import Ads1115, AdsInput
from drivers.uart_link import UartLink
from drivers.watchdog import Watchdog
from drivers.storage import Store

NAME = "pico_w"
ALT_PWM_HZ = 20000  # the power stage's current reference, RC-filtered (docs/boards.md)


class _TwoAdcs:
    def __init__(self, a, b):
        self._a = a
        self._b = b

    def poll(self):
        a = self._a.poll()  # both advance every tick
        b = self._b.poll()
        return a and b


def make(baud=115200, root="/"):
    chg = Switch(2)
    dsg = Switch(3)
    alt = PwmGate(4, ALT_PWM_HZ)
    load = Switch(5)
    charge = Switch(6)
    prealarm = Switch(7)
    led = Switch("LED")  # the CYW43's LED
    dsg_limit = Switch(10)  # discharge driver in its 80 A limit (a current-limited start)
    sys_oc = OcLatch(11, 12)  # System+ over-current latch: Q in, re-arm out
    i2c = I2C(0, sda=Pin(8), scl=Pin(9), freq=400000)
    ads_a = Ads1115(i2c, addr=0x48, channels=4)
    ads_b = Ads1115(i2c, addr=0x49, channels=1)
    sense = analog.Sense(
        bat=analog.voltage(AdsInput(ads_a, 0), 20000),
        start=analog.voltage(ADC(Pin(28)), 20000),
        sys=analog.voltage(AdsInput(ads_a, 1), 20000),
        alt_i=analog.current(ADC(Pin(26)), 250),
        sys_i=analog.current(ADC(Pin(27)), 500),
        fet=analog.Ntc(AdsInput(ads_a, 2)),
        remote_l=analog.voltage(AdsInput(ads_a, 3), 33000),
        remote_h=analog.voltage(AdsInput(ads_b, 0), 33000),
        poll=_TwoAdcs(ads_a, ads_b).poll,
    )
    link = UartLink(0, tx=0, rx=1, baud=baud)
    return Hardware(NAME, chg, dsg, alt, load, charge, prealarm, sense, link, led,
                    Watchdog(), Store(root), sys_oc, dsg_limit)
