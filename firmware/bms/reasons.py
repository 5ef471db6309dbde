# Why a path is closed: one bit per reason. Protection keeps four masks
# (block_chg = not ATC, block_dsg = not ATD, block_alt, block_sys) and a
# warning mask; status, trace and history turn them into names here.
try:
    from micropython import const
except ImportError:  # CPython: bmsctl names the reasons
    def const(x):  # type: ignore[misc]
        return x

# -- blocking reasons (bit number = index in REASON_NAMES)
BOOT = const(1 << 0)  # no full scan of the configured batteries yet
DATA_LOST = const(1 << 1)  # a configured battery is stale, missing or extra
CELL_UV = const(1 << 2)  # load disconnect after the pre-alarm wait
CELL_UV_EMERGENCY = const(1 << 3)  # disconnected at once below the emergency floor
CELL_OV = const(1 << 4)
TEMP_LOW_CHARGE = const(1 << 5)
TEMP_HIGH_CHARGE = const(1 << 6)
TEMP_HIGH_DISCHARGE = const(1 << 7)
BMS_OVERTEMP = const(1 << 8)  # our own MOSFETs: alternator path only
OVERCURRENT = const(1 << 9)  # System+ tripped, waiting to retry
OC_LOCKOUT = const(1 << 10)  # System+ tripped too often: needs remote toggle or command
REMOTE_OFF = const(1 << 11)
LOW_POWER_OFF = const(1 << 12)
BATTERY_ALARM = const(1 << 13)  # a battery raised its own alarm flag
TEMP_LOW_DISCHARGE = const(1 << 14)  # battery below temp_discharge_low_dc
COUNT_MISMATCH = const(1 << 15)  # the ring holds more or fewer batteries than battery_count
# a battery's own alarm by kind (report v2); BATTERY_ALARM above is a v1
# report's alarm, whose kind is not said
BATTERY_LOW_CELL = const(1 << 16)  # discharge only
BATTERY_HIGH_CELL = const(1 << 17)  # charge only
BATTERY_LOW_TEMP = const(1 << 18)  # charge only
BATTERY_HIGH_TEMP = const(1 << 19)  # both

REASON_NAMES = ("boot", "data_lost", "cell_uv", "cell_uv_emergency", "cell_ov",
                "temp_low_charge", "temp_high_charge", "temp_high_discharge",
                "bms_overtemp", "overcurrent", "oc_lockout", "remote_off",
                "low_power_off", "battery_alarm", "temp_low_discharge",
                "count_mismatch", "battery_low_cell", "battery_high_cell", "battery_low_temp",
                "battery_high_temp")

# -- warnings: nothing is blocked by these
PREALARM = const(1 << 0)  # a cell at or below the pre-alarm level
FET_DERATE = const(1 << 1)  # alternator current reduced: hot MOSFETs
CELL_HIGH = const(1 << 2)  # alternator current reduced: a cell near the OV stop

WARN_NAMES = ("prealarm", "fet_derate", "cell_high")


def names(mask, table=REASON_NAMES):
    """Names of the bits set in mask, lowest bit first; unknown bits as 'bitN'."""
    out = []
    mask &= 0x3FFFFFFF  # a negative int would never shift to zero
    i = 0
    while mask:
        if mask & 1:
            out.append(table[i] if i < len(table) else "bit%d" % i)
        mask >>= 1
        i += 1
    return out


def warn_names(mask):
    return names(mask, WARN_NAMES)
