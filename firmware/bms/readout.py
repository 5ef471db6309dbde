# Victron "Instant Readout": the record 0x0A "(Lynx Smart) BMS" built from
# the BMS state, its plaintext bit layout, and the one advertisement that
# carries it (framing and encryption: bms/readout_frame.py). Everything after
# construction works in preallocated buffers and allocates nothing.
from micropython import const
from bms import fet_thermal
from bms.measure import CH_BAT, CH_ALT_I, CH_SYS_I, CH_FET
from bms.readout_frame import Advert

MODEL_SMART_BMS = const(0xA3E8)  # "Smart BMS 12-200" in the readers' tables
RECORD_BMS = const(0x0A)
_BMS_LEN = const(16)  # plaintext bytes of record 0x0A (127 bits used)

_UNKNOWN = const(-0x3FFFFFFF)  # a value in our units that is not available
_CHANNELS = CH_BAT | CH_ALT_I | CH_SYS_I | CH_FET  # the readings the record reports

# io_status pairs: 0 not available, 1 yes, 2 no
_YES = const(1)
_NO = const(2)
# alarm_flags pairs: 0 unsupported, 1 ok, 2 warning, 3 alarm
_OK = const(1)
_WARNING = const(2)
_ALARM = const(3)
_FET_ALARM = (_OK, _WARNING, _ALARM)  # by fet_thermal.level()

# error_flags: Victron's BMS error list is not public, so these codes are ours.
ERR_NONE = const(0)
ERR_LINK = const(1)  # battery data lost on the BMS cable
ERR_ALTERNATOR = const(2)  # alternator port fault


def put_bits(buf, bit, width, value):
    """Store the low `width` bits of value at plaintext bit `bit`, LSB first.

    A negative value lands as two's complement within the width.
    """
    while width > 0:
        i = bit >> 3
        sh = bit & 7
        n = 8 - sh
        if n > width:
            n = width
        m = ((1 << n) - 1) << sh
        buf[i] = (buf[i] & ~m) | ((value << sh) & m)
        value >>= n
        bit += n
        width -= n


def _clamp(v, lo, hi):
    return lo if v < lo else (hi if v > hi else v)


def _div_round(a, b):
    """a / b rounded half away from zero (b > 0)."""
    if a >= 0:
        return (a + b // 2) // b
    return -((b // 2 - a) // b)


class BmsRecord:
    """Values of one 0x0A record in our units; _UNKNOWN where not available."""

    def __init__(self):
        self.error = ERR_NONE
        self.ttg_min = _UNKNOWN
        self.volt_mv = _UNKNOWN
        self.current_ma = _UNKNOWN  # + charge, - discharge
        self.io = 0  # 7 pairs, contactor first
        self.alarms = 0  # 9 pairs, low cell voltage first
        self.soc_pm = 0  # 0.1 %; there is no usable NA (victron-ble shows 102.3 %)
        self.consumed_mah = _UNKNOWN
        self.temp_ddegc = _UNKNOWN

    def encode(self, buf):
        """The 16-byte plaintext. Real values are clamped short of each NA pattern."""
        put_bits(buf, 0, 8, self.error)
        v = self.ttg_min
        put_bits(buf, 8, 16, 0xFFFF if v == _UNKNOWN else _clamp(v, 0, 0xFFFE))
        v = self.volt_mv
        put_bits(buf, 24, 16, 0x7FFF if v == _UNKNOWN else _clamp(_div_round(v, 10), -0x8000, 0x7FFE))
        v = self.current_ma
        put_bits(buf, 40, 16, 0x7FFF if v == _UNKNOWN else _clamp(_div_round(v, 100), -0x8000, 0x7FFE))
        put_bits(buf, 56, 16, self.io)
        put_bits(buf, 72, 18, self.alarms)
        put_bits(buf, 90, 10, _clamp(self.soc_pm, 0, 1000))
        v = self.consumed_mah
        put_bits(buf, 100, 20, 0xFFFFF if v == _UNKNOWN else _clamp(_div_round(v, 100), 0, 0xFFFFE))
        v = self.temp_ddegc
        put_bits(buf, 120, 7, 0x7F if v == _UNKNOWN else _clamp(_div_round(v + 400, 10), 0, 0x7E))
        put_bits(buf, 127, 1, 1)  # unused bits are 1


def _yes_no(flag):
    return _YES if flag else _NO


class Readout:
    """Record 0x0A from a controller: `update(controller)` reads
    controller.meas, .pack, .protection, .alternator, .remote, .soc and
    .settings.
    """

    def __init__(self, ecb, key_check, nonce):
        self.record = BmsRecord()
        self.plain = bytearray(_BMS_LEN)
        self.advert = Advert(ecb, key_check, MODEL_SMART_BMS, RECORD_BMS, _BMS_LEN, nonce)
        self.adv = self.advert.adv
        self.mfr = self.advert.mfr

    def set_key(self, ecb, key_check):
        self.advert.set_key(ecb, key_check)

    @property
    def ready(self):
        return self.advert.sealed

    @property
    def changes(self):
        """Counts changes of the advertised bytes (the trace logs `mfr` on each)."""
        return self.advert.changes

    def update(self, ctl):
        """Rebuild the advertisement from the BMS state; True if its bytes changed.

        Nothing is built until the readings it reports are fresh and the
        controller's state of charge is known (seeded from a bank voltage).
        """
        m = ctl.meas
        if m.stale & _CHANNELS:
            return False
        p = ctl.pack
        pr = ctl.protection
        s = ctl.settings
        r = self.record
        volt = p.pack_mv if p.seen else m.bat_mv
        cur = m.alt_ma + m.sys_ma
        soc = ctl.soc
        if not soc.known:  # no voltage yet: a SoC of 0 would be a false alarm
            return False
        r.volt_mv = volt
        r.current_ma = cur
        r.soc_pm = soc.soc_pm
        r.consumed_mah = soc.consumed_mah
        t = soc.ttg_min(cur)
        r.ttg_min = _UNKNOWN if t < 0 else t
        r.temp_ddegc = p.max_temp_ddegc if p.seen else _UNKNOWN
        if p.lost:
            r.error = ERR_LINK
        elif ctl.alternator.fault:
            r.error = ERR_ALTERNATOR
        else:
            r.error = ERR_NONE
        # contactor (pair 0): we have none, so it stays "not available"
        r.io = (_yes_no(pr.atc) << 2 | _yes_no(pr.atd) << 4 | _yes_no(pr.prealarm_out) << 6
                | _yes_no(pr.load_out) << 8 | _yes_no(ctl.remote.on) << 10
                | _yes_no(pr.alt_allowed) << 12)
        r.alarms = (self._low_cell(p, s) | _FET_ALARM[fet_thermal.level(m.fet_ddegc, s)] << 4
                    | (_ALARM if p.lost else _OK) << 8
                    | (_ALARM if not pr.atd else (_WARNING if pr.prealarm_out else _OK)) << 10)
        r.encode(self.plain)
        return self.advert.seal(self.plain)

    @staticmethod
    def _low_cell(p, s):
        if not p.seen:
            return 0
        v = p.min_cell_mv
        if v < s.cell_uv_mv:
            return _ALARM
        if v < s.cell_prealarm_mv:
            return _WARNING
        return _OK

