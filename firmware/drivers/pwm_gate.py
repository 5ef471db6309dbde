# The alternator path's MOSFET gate, switched with PWM. Duty is in 0.01 %
# steps (0..10000); duty_u16 is the API both the ESP32 and rp2 ports share.
from machine import Pin, PWM
from micropython import const

DUTY_MAX = const(10000)


class PwmGate:
    def __init__(self, pin, freq_hz):
        # start at 0 % before the pin becomes an output
        self._pwm = PWM(Pin(pin), freq=freq_hz, duty_u16=0)
        self.duty = 0

    def set_duty(self, duty):
        if duty < 0:
            duty = 0
        elif duty > DUTY_MAX:
            duty = DUTY_MAX
        if duty != self.duty:
            self.duty = duty
            self._pwm.duty_u16(duty * 65535 // DUTY_MAX)  # < 2**30: no bigint
