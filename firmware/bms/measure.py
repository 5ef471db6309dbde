# Port measurements for one control tick, filled in place by the board's sense
# driver (never reallocated). Integers only; currents are positive INTO the
# lithium bank, so a System+ load is negative and the alternator positive.
#
# Each channel comes from a native ADC pin (fresh every tick) or from an
# external ADC read round-robin (drivers/ads1115.py), which can go stale on
# its own: `stale` has a bit per channel, and each consumer asks only about
# the channels it uses, so a dead remote-terminal ADC does not blind the
# alternator port.
from micropython import const

CH_BAT = const(1)
CH_START = const(2)
CH_SYS = const(4)
CH_ALT_I = const(8)
CH_SYS_I = const(16)
CH_FET = const(32)
CH_REMOTE_L = const(64)
CH_REMOTE_H = const(128)
CH_ALL = const(255)


class Measurements:
    def __init__(self):
        self.bat_mv = 0  # Li-ion port (bank) voltage
        self.start_mv = 0  # Alternator/Starter port voltage
        self.sys_mv = 0  # System+ port voltage
        self.alt_ma = 0  # alternator port current, + = into the bank
        self.sys_ma = 0  # System+ current, + = charging the bank, - = loads
        self.fet_ddegc = 0  # BMS MOSFET temperature, 0.1 degC
        self.remote_l_mv = 0  # Remote L terminal voltage
        self.remote_h_mv = 0  # Remote H terminal voltage
        self.sys_oc = False  # the System+ over-current latch is set (hw.sys_oc, read every tick)
        self.stale = CH_ALL  # CH_* bits of channels without a fresh value; all until the first read
