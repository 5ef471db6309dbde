# An on/off output: a MOSFET gate-driver enable, a Load/Charge-disconnect
# high-side switch, the pre-alarm driver or the status LED.
from machine import Pin


class Switch:
    def __init__(self, pin, invert=False):
        self._off = 1 if invert else 0
        # value= at construction: the pin never glitches on at boot
        self._pin = Pin(pin, Pin.OUT, value=self._off)
        self.on = False

    def set(self, on):
        if on != self.on:
            self.on = on
            self._pin.value(self._off ^ 1 if on else self._off)
