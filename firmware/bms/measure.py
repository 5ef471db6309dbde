# Port measurements for one control tick, filled in place by the board's sense
# driver (never reallocated). Integers only; currents are positive INTO the
# lithium bank, so a System+ load is negative and the alternator positive.


class Measurements:
    def __init__(self):
        self.bat_mv = 0  # Li-ion port (bank) voltage
        self.start_mv = 0  # Alternator/Starter port voltage
        self.sys_mv = 0  # System+ port voltage
        self.alt_ma = 0  # alternator port current, + = into the bank
        self.sys_ma = 0  # System+ current, + = charging the bank, - = loads
        self.fet_dc = 0  # BMS MOSFET temperature, 0.1 degC
        self.remote_l_mv = 0  # Remote L terminal voltage
        self.remote_h_mv = 0  # Remote H terminal voltage
        self.valid = False  # False until the first complete read
