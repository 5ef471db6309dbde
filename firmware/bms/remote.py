# Remote on/off terminal: decode the four datasheet modes from the voltages
# on Remote L and Remote H, then debounce (a switch bounces, a wire loop
# being plugged in makes contact several times), and tell the tick in which
# it turned on (protection clears alarms and wakes on that edge).
#
# The edge is a command (it clears an overcurrent lockout), so it must come
# from the owner, not from the bus: the terminals are read through an
# ADS1115, which a short on System+ can brown out. Stale readings keep the
# last mode, and an "on" counts as an edge only after an OFF that was read,
# fresh and unbroken, for _ARM_MS: a glitch that reads off for a few
# hundred ms and then on again is no toggle (issue 15).
#
# Front end (docs/protection.md): L is pulled up to the bank through 22 kohm,
# H is pulled down to minus through 100 kohm. Open terminals therefore read
# L ~ bank voltage and H ~ 0 V. A wire loop between L and H makes a divider:
# both read the same ~82 % of the bank voltage. That is the bridge signature:
# L and H within _BRIDGE_TOL_MV of each other and L clearly below its open
# level. An external source driving H to the bank voltage leaves L at its
# open level, so it reads as "H high", not as a bridge.
import micropython
from micropython import const

from bms.measure import CH_BAT, CH_REMOTE_L, CH_REMOTE_H
from bms.ticks import diff

OFF = const(0)
BRIDGED = const(1)
L_LOW = const(2)
H_HIGH = const(3)
MODE_NAMES = ("off", "bridged", "l_low", "h_high")

_L_LOW_MV = const(5000)  # L below this: pulled to battery minus
_H_HIGH_MV = const(3000)  # H above this: driven high
_BRIDGE_TOL_MV = const(300)  # L and H this close count as one node
_BRIDGE_L_PCT = const(90)  # bridged L sits below this % of the bank voltage
_DEBOUNCE_MS = const(100)  # a new mode must hold this long
_ARM_MS = const(1000)  # an on-edge needs a valid OFF at least this long before it
_CHANNELS = CH_REMOTE_L | CH_REMOTE_H | CH_BAT


def decode(l_mv, h_mv, bat_mv):
    """The electrical mode of one sample (no debounce)."""
    d = l_mv - h_mv
    if -_BRIDGE_TOL_MV <= d <= _BRIDGE_TOL_MV and h_mv > _H_HIGH_MV and l_mv * 100 < bat_mv * _BRIDGE_L_PCT:
        return BRIDGED
    if l_mv < _L_LOW_MV:
        return L_LOW
    if h_mv > _H_HIGH_MV:
        return H_HIGH
    return OFF


class Remote:
    def __init__(self):
        self.mode = OFF  # debounced mode; off until proven otherwise
        self.on = False
        self.rose = False  # True for the one step in which `on` became True
        self._was_on = False
        self._raw = OFF
        self._raw_ms = 0
        self.armed = False  # a valid OFF has lasted _ARM_MS: the next on is an edge
        self._off = False  # fresh OFF readings without a break since _off_ms
        self._off_ms = 0
        # the quiet gate (step): the inputs of the last step, and whether it
        # left no timer running (debounce, arming) and no edge to clear
        self._quiet = False
        self._l = 0
        self._h = 0
        self._bat = 0
        self._stale = 0

    @micropython.native
    def step(self, now_ms, meas):
        # Quiet gate: the same readings (an external ADC holds its value for
        # several ticks) after a step that left nothing in motion come out
        # the same, so they are not decoded again.
        stale = meas.stale & _CHANNELS
        if (self._quiet and meas.remote_l_mv == self._l and meas.remote_h_mv == self._h
                and meas.bat_mv == self._bat and stale == self._stale):
            return
        l_mv = self._l = meas.remote_l_mv
        h_mv = self._h = meas.remote_h_mv
        bat_mv = self._bat = meas.bat_mv
        self._stale = stale
        if stale:
            # no fresh reading (a dead external ADC): the last debounced
            # mode stands, a change it had begun to see must start over,
            # and an OFF not yet long enough to arm starts over too
            raw = self._raw = self.mode
            self._off = False
        else:
            raw = decode(l_mv, h_mv, bat_mv)
            if raw != OFF:
                self._off = False
            elif not self._off:
                self._off = True
                self._off_ms = now_ms
            elif not self.armed and diff(now_ms, self._off_ms) >= _ARM_MS:
                self.armed = True  # the stamp is not read again until the next OFF
        if raw != self._raw:
            self._raw = raw
            self._raw_ms = now_ms
        elif raw != self.mode and diff(now_ms, self._raw_ms) >= _DEBOUNCE_MS:
            self.mode = raw
            self.on = raw != OFF
        on = self.on
        rose = self.rose = on and not self._was_on and self.armed
        if on:
            self.armed = False
        self._was_on = on
        self._quiet = not rose and raw == self.mode and (self.armed or not self._off)
