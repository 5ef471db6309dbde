# The one settings schema: every setting with its wire id, type, unit, default,
# valid range and whether a change needs a restart. Validation rejects a bad
# value with an error code and a message; it never clamps.
try:
    from micropython import const
except ImportError:  # CPython: the host tools share this module
    def const(x):  # type: ignore[misc]  # CPython stand-in, same behaviour
        return x

from bms.linkframe import min_period_ms

INT = const(0)  # integer in [lo, hi]
CHOICE = const(1)  # integer from an explicit list
ENUM = const(2)  # index into a list of names
TEXT = const(3)  # str, length in [lo, hi], printable ASCII
PIN = const(4)  # six decimal digits, write-only

# Error codes shared by the store, the BLE protocol and the tools.
OK = const(0)
E_UNKNOWN_KEY = const(1)
E_TYPE = const(2)
E_RANGE = const(3)
E_CHOICE = const(4)
E_CONFLICT = const(5)
E_READ_ONLY = const(6)

ERROR_NAMES = ("ok", "unknown setting", "wrong type", "out of range",
               "not an allowed value", "conflicts with another setting", "read only")

# id, name, kind, unit, default, lo, hi, restart, choices, label
# ids are the wire ids of the BLE protocol: never reuse or renumber one.
# Literals only (the choices too, not names of tuples): SCHEMA is then one
# constant, in flash when frozen, and takes no heap.
SCHEMA = (
    # -- cell voltage protection
    (1, "cell_prealarm_mv", INT, "mV", 3100, 2850, 3150, False, None, "Pre-alarm cell voltage"),
    (2, "cell_uv_mv", INT, "mV", 2800, 2600, 2800, False, None, "Load disconnect cell voltage"),
    (3, "cell_uv_emergency_mv", INT, "mV", 2500, 2300, 2600, False, None,
     "Emergency disconnect cell voltage (no pre-alarm wait)"),
    (4, "cell_uv_recover_mv", INT, "mV", 3200, 3000, 3400, False, None,
     "All cells above this allow discharge again"),
    (5, "uv_disconnect_delay_s", INT, "s", 30, 30, 600, False, None,
     "Minimum pre-alarm time before load disconnect"),
    (6, "cell_ov_mv", INT, "mV", 3750, 3500, 3750, False, None, "Charge stop cell voltage"),
    (7, "cell_ov_release_mv", INT, "mV", 3600, 3350, 3650, False, None,
     "All cells below this allow charging again"),
    # -- temperature protection (0.1 degC)
    # LiFePO4 must never be charged below 0 degC (lithium plating): the
    # range stops there. Discharging is fine down to about -20 degC.
    (10, "temp_charge_low_dc", INT, "0.1C", 50, 0, 150, False, None, "No charging below (0 degC at the lowest)"),
    (11, "temp_charge_high_dc", INT, "0.1C", 500, 350, 600, False, None, "No charging above"),
    (12, "temp_discharge_high_dc", INT, "0.1C", 600, 450, 700, False, None, "No discharging above"),
    (13, "temp_hyst_dc", INT, "0.1C", 30, 10, 100, False, None, "Temperature hysteresis"),
    (16, "temp_discharge_low_dc", INT, "0.1C", -200, -300, 0, False, None, "No discharging below"),
    (14, "fet_derate_dc", INT, "0.1C", 850, 600, 1000, False, None,
     "BMS MOSFET temperature where alternator current is derated"),
    (15, "fet_trip_dc", INT, "0.1C", 1050, 700, 1200, False, None,
     "BMS MOSFET temperature where the alternator path opens"),
    # -- battery bank and link
    (20, "battery_count", INT, "", 1, 1, 50, False, None, "Batteries on the BMS cable"),
    (21, "link_timeout_ms", INT, "ms", 1000, 300, 10000, False, None,
     "Battery data older than this counts as lost"),
    (22, "scan_period_ms", INT, "ms", 100, 100, 1000, False, None, "Battery scan period"),
    (23, "link_baud", CHOICE, "baud", 115200, 19200, 230400, True,
     (19200, 38400, 57600, 115200, 230400), "Battery cable UART speed"),
    (24, "battery_capacity_ah", INT, "Ah", 200, 5, 1000, False, None,
     "Capacity of one battery (state of charge, time to go)"),
    # -- behaviour
    (30, "remote_function", ENUM, "", 0, 0, 2, False, ("alternator", "system", "full_off"),
     "Remote on/off function"),
    (31, "prealarm_mode", ENUM, "", 0, 0, 1, False, ("continuous", "intermittent"), "Pre-alarm output"),
    (32, "lowpower_delay_min", INT, "min", 120, 10, 1440, False, None,
     "Low-power off after a low-cell disconnect without charge"),
    # -- alternator / starter port
    # standard fuse ratings (A); the limit is 90 % of the rating, capped at
    # 100 A (reached with a 125 A fuse)
    (40, "alt_fuse_a", CHOICE, "A", 100, 20, 125, False, (20, 25, 30, 35, 40, 50, 60, 70, 80, 100, 125),
     "Fuse rating on the alternator port"),
    (41, "alt_on_mv", INT, "mV", 13000, 13000, 14000, False, None,
     "Alternator charging starts above this starter voltage"),
    (42, "alt_off_mv", INT, "mV", 12800, 12600, 13800, False, None,
     "Starter voltage below which alternator charging stops"),
    (43, "alt_on_delay_ms", INT, "ms", 3000, 0, 60000, False, None, "Enable delay"),
    (44, "alt_off_delay_ms", INT, "ms", 2000, 0, 60000, False, None, "Disable delay"),
    (45, "alt_protect", ENUM, "", 0, 0, 1, False, ("off", "on"),
     "Reduce alternator current after a time at full output"),
    (46, "alt_protect_after_s", INT, "s", 300, 30, 3600, False, None, "Time at full output"),
    (47, "alt_protect_pct", INT, "%", 70, 30, 95, False, None, "Reduced target, % of the limit"),
    # -- Bluetooth
    (60, "device_name", TEXT, "", "SmartBMS", 1, 20, False, None, "Bluetooth name"),
    (61, "readout_enabled", ENUM, "", 1, 0, 1, False, ("off", "on"), "Instant Readout"),
    (62, "pin", PIN, "", "000000", 6, 6, False, None, "Bluetooth PIN (write only)"),
)


def entry(name):
    """The schema entry of the setting called name, None if there is none.
    A search of SCHEMA, not a dict beside it (less heap; only requests and
    the settings file look settings up, never the control tick)."""
    for e in SCHEMA:
        if e[1] == name:
            return e
    return None


def entry_of_id(wid):
    """The schema entry with wire id wid, None if there is none."""
    for e in SCHEMA:
        if e[0] == wid:
            return e
    return None


# (smaller, larger, gap, message): larger - smaller must be at least gap
# (gap 1: strictly below).
ORDER_RULES = (
    ("cell_uv_emergency_mv", "cell_uv_mv", 1, "emergency level must be below load disconnect"),
    ("cell_uv_mv", "cell_prealarm_mv", 1, "load disconnect must be below pre-alarm"),
    ("cell_prealarm_mv", "cell_uv_recover_mv", 1, "pre-alarm must be below the recovery level"),
    ("cell_ov_release_mv", "cell_ov_mv", 1, "charge release must be below charge stop"),
    ("temp_charge_low_dc", "temp_charge_high_dc", 1, "low charge limit must be below high"),
    ("temp_discharge_low_dc", "temp_discharge_high_dc", 1, "low discharge limit must be below high"),
    ("fet_derate_dc", "fet_trip_dc", 1, "MOSFET derate must be below trip"),
    # the port's loop holds the starter 100 mV above the off level
    # (bms/alternator.py): that floor must sit below the on level, so the
    # port's own load can sag a starter that just engaged without letting go
    ("alt_off_mv", "alt_on_mv", 200, "alternator off level must be at least 0.2 V below the on level"),
)


def check_value(entry, value):
    """(code, message) for one value against its schema entry, no cross rules."""
    name, kind, unit, lo, hi, choices = entry[1], entry[2], entry[3], entry[5], entry[6], entry[8]
    if kind == TEXT or kind == PIN:
        if not isinstance(value, str):
            return E_TYPE, name + ": expected text"
        if not lo <= len(value) <= hi:
            return E_RANGE, "%s: length %d outside %d..%d" % (name, len(value), lo, hi)
        for ch in value:
            if kind == PIN and not "0" <= ch <= "9":
                return E_TYPE, name + ": digits only"
            if not " " <= ch <= "~":
                return E_TYPE, name + ": printable ASCII only"
        return OK, ""
    if not isinstance(value, int) or isinstance(value, bool):
        return E_TYPE, name + ": expected an integer"
    if kind == CHOICE and value not in choices:
        return E_CHOICE, "%s: %d %s is not one of %s" % (name, value, unit, choices)
    if not lo <= value <= hi:
        return E_RANGE, "%s: %d %s outside %d..%d" % (name, value, unit, lo, hi)
    return OK, ""


def check_order(values):
    """(code, message, names) for the first violated cross-field rule, or
    None; names are the settings the rule ties together, the one to blame
    first."""
    for small, large, gap, msg in ORDER_RULES:
        if values[large] - values[small] < gap:
            return E_CONFLICT, "%s (%d) / %s (%d): %s" % (
                small, values[small], large, values[large], msg), (small, large)
    # the period the link really runs at: a long chain at a low baud rate
    # scans slower than scan_period_ms asks (bms/link.py LinkMaster.configure)
    period = min_period_ms(values["battery_count"], values["link_baud"])
    if period < values["scan_period_ms"]:
        period = values["scan_period_ms"]
    if values["link_timeout_ms"] < 2 * period:
        return (E_CONFLICT, "link_timeout_ms must be at least two scan periods (%d ms)" % (2 * period),
                ("link_timeout_ms", "scan_period_ms", "battery_count", "link_baud"))
    if values["temp_charge_high_dc"] > values["temp_discharge_high_dc"]:
        return (E_CONFLICT, "temp_charge_high_dc above temp_discharge_high_dc",
                ("temp_charge_high_dc", "temp_discharge_high_dc"))
    return None


class _Overlay:
    """The settings with changes applied, read as check_order() reads a
    dict: no copy of all the values per change."""

    def __init__(self, settings, changes):
        self._s = settings
        self._c = changes

    def __getitem__(self, name):
        c = self._c
        return c[name] if name in c else getattr(self._s, name)


class Settings:
    """Current values as attributes (fast to read in the control step);
    settings[name] reads one as a dict of values() does, without the dict."""

    def __init__(self):
        for e in SCHEMA:
            v = e[4]
            # frozen, an int beyond +-8191 in a constant tuple is a long int
            # (tools/mpy-tool.py), and the tick's arithmetic on it would
            # allocate; v + 0 is the same value as a small int
            setattr(self, e[1], v + 0 if type(v) is int else v)
        self.version = 0  # bumped on every applied change

    def values(self):
        d = {}
        for e in SCHEMA:
            d[e[1]] = getattr(self, e[1])
        return d

    def __getitem__(self, name):
        return getattr(self, name)

    def update(self, changes):
        """Apply a dict of changes all-or-nothing.

        Returns a list of (name, code, message); empty when applied. Nothing
        changes unless every value and every cross-field rule passes.
        """
        errors = []
        for name in changes:
            e = entry(name)
            if e is None:
                errors.append((name, E_UNKNOWN_KEY, name + ": unknown setting"))
                continue
            code, msg = check_value(e, changes[name])
            if code:
                errors.append((name, code, msg))
        if not errors:  # every change is valid: the rules see them applied
            bad = check_order(_Overlay(self, changes))
            if bad:
                errors.append((bad[2][0], bad[0], bad[1]))
        if errors:
            return errors
        changed = False
        for name in changes:
            if getattr(self, name) != changes[name]:
                setattr(self, name, changes[name])
                changed = True
        if changed:
            self.version += 1
        return errors

    def needs_restart(self, names):
        for n in names:
            e = entry(n)
            if e and e[7]:
                return True
        return False
