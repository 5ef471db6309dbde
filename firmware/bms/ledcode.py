# Status LED: one LED, blink codes in the style of Victron's Lynx BMS: steady
# on when all is well, N short flashes every 4 s for a fault class, a slow
# heartbeat while waiting for the first battery scan.
from micropython import const

OK = const(0)
BOOT = const(1)  # no complete battery scan yet
WARNING = const(2)  # pre-alarm or derating: 1 flash
LINK = const(3)  # battery data lost / BMS cable: 2 flashes
CELL = const(4)  # cell voltage or temperature blocks charge or discharge: 3 flashes
BMS_TEMP = const(5)  # BMS MOSFET over-temperature or overcurrent: 4 flashes
OFF = const(6)  # low-power off or remote full off: a blip every 3 s
COUNT = const(7)  # more or fewer batteries on the cable than battery_count: 5 flashes

NAMES = ("ok", "boot", "warning", "link", "cell", "bms_temp", "off", "battery_count")
_FLASHES = (0, 0, 1, 2, 3, 4, 0, 5)
_CYCLE_MS = const(4000)
_FLASH_MS = const(200)
# bms/reasons.py's bits that code_for() reads, as const() copies: an
# imported module's name is a look-up on every tick
# (tests/test_ledcode_protection.py holds each to reasons.py's)
_LOW_POWER_OFF = const(1 << 12)
_COUNT_MISMATCH = const(1 << 15)
_DATA_LOST = const(1 << 1)
_PORT_FAULTS = const(1 << 8 | 1 << 9 | 1 << 14 | 1 << 10)  # BMS_OVERTEMP, OVERCURRENT, SHORT_CIRCUIT, OC_LOCKOUT
_REMOTE_OFF = const(1 << 11)


def code_for(protection, pack, alternator):
    """The most important thing the LED should say right now."""
    blocked = protection.block_chg | protection.block_dsg
    if blocked:  # (nothing blocked, the usual tick, skips these tests)
        if blocked & _LOW_POWER_OFF:
            return OFF
        if blocked & _COUNT_MISMATCH:  # before boot: it is why a boot never ends
            return COUNT
    if not pack.full_scan:
        return BOOT
    if blocked & _DATA_LOST:
        return LINK
    port = protection.block_alt | protection.block_sys  # MOSFET heat, overcurrent live here
    if port & _PORT_FAULTS or alternator.fault:
        return BMS_TEMP
    if blocked:
        return CELL if blocked & ~_REMOTE_OFF else OFF  # OFF: switched off by the remote terminal
    return WARNING if protection.warn else OK


def lit(code, now_ms):
    """Whether the LED is on at now_ms for this code."""
    if code == OK:
        return True
    t = now_ms % _CYCLE_MS
    if code == BOOT:
        return t < _CYCLE_MS // 2  # slow heartbeat
    if code == OFF:
        return (now_ms % 3000) < 50
    n = _FLASHES[code]
    slot = t // (2 * _FLASH_MS)
    return slot < n and (t % (2 * _FLASH_MS)) < _FLASH_MS
