# ESP32 DevKitC-class board (ESP32-WROOM, 240 MHz). Pin map: docs/boards.md.
# Fast channels on the native ADC1 (usable while Bluetooth runs); the remote
# terminals on an ADS1115 because ADC1 has no more broken-out pins.
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

NAME = "esp32"
ALT_PWM_HZ = 20000  # the power stage's current reference, RC-filtered (docs/boards.md)


def _adc(pin):
    return ADC(Pin(pin), atten=ADC.ATTN_11DB)  # 0..~3.1 V


def make(baud=115200, root="/"):
    # Outputs first, so they are driven to their safe level as early as possible.
    chg = Switch(16)
    dsg = Switch(17)
    alt = PwmGate(18, ALT_PWM_HZ)
    load = Switch(19)
    charge = Switch(23)
    prealarm = Switch(25)
    led = Switch(2)
    dsg_limit = Switch(12)  # discharge driver in its 80 A limit (a current-limited start)
    sys_oc = OcLatch(13, 4)  # System+ over-current latch: Q in, re-arm out
    ads = Ads1115(I2C(0, sda=Pin(21), scl=Pin(22), freq=400000), addr=0x48, channels=2)
    sense = analog.Sense(
        bat=analog.voltage(_adc(36), 20000),
        start=analog.voltage(_adc(39), 20000),
        sys=analog.voltage(_adc(34), 20000),
        alt_i=analog.current(_adc(35), 250),
        sys_i=analog.current(_adc(32), 500),
        fet=analog.Ntc(_adc(33)),
        remote_l=analog.voltage(AdsInput(ads, 0), 33000),
        remote_h=analog.voltage(AdsInput(ads, 1), 33000),
        poll=ads.poll,
    )
    link = UartLink(2, tx=26, rx=27, baud=baud)
    return Hardware(NAME, chg, dsg, alt, load, charge, prealarm, sense, link, led,
                    Watchdog(), Store(root), sys_oc, dsg_limit)
