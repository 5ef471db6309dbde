# The System+ over-current latch (docs/boards.md, "System+ short-circuit
# tier"): a comparator on the shunt amplifier sets a latch whose output
# disables the System+ gate drivers in hardware, within microseconds and
# whatever the firmware is doing. The firmware only reads the latch (one
# input pin) and re-arms it (one output pin, a short high pulse) when the
# overcurrent policy allows: bms/overcurrent.py.
from machine import Pin


class OcLatch:
    def __init__(self, q_pin, rearm_pin):
        # pulled up: a broken wire to the latch reads as tripped, so the
        # firmware keeps System+ open rather than trusting a silent pin
        self._q = Pin(q_pin, Pin.IN, Pin.PULL_UP)
        self._rearm = Pin(rearm_pin, Pin.OUT, value=0)

    def tripped(self):
        """True while the latch holds the System+ gates off."""
        return self._q.value() == 1

    def rearm(self):
        """Clear the latch. With the current still above the threshold the
        comparator sets it again at once: re-arming cannot close onto a short."""
        self._rearm.value(1)
        self._rearm.value(0)
