# The alternator power stage's current reference: a PWM the board filters to
# the reference of the stage's hardware current loop (docs/boards.md). Duty in 0.01 %
# steps (0..DUTY_MAX_CPCT = 10000, the limiter's); duty_u16 is the API both
# the ESP32 and rp2 ports share.
from machine import Pin, PWM

from bms.alt_limiter import DUTY_MAX_CPCT


class PwmGate:
    def __init__(self, pin, freq_hz):
        # start at 0 % before the pin becomes an output
        self._pwm = PWM(Pin(pin), freq=freq_hz, duty_u16=0)
        self.duty_cpct = 0

    def set_duty(self, duty_cpct):
        if duty_cpct < 0:
            duty_cpct = 0
        elif duty_cpct > DUTY_MAX_CPCT:
            duty_cpct = DUTY_MAX_CPCT
        if duty_cpct != self.duty_cpct:
            self.duty_cpct = duty_cpct
            self._pwm.duty_u16(duty_cpct * 65535 // DUTY_MAX_CPCT)  # < 2**30: no bigint
