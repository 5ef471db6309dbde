# Victron "Instant Readout" advertisements: the record 0x0A "(Lynx Smart) BMS"
# built from the BMS state, AES-128-CTR encrypted on an ECB cipher object the
# caller passes in (the boards have no CTR mode), framed as the complete
# 31-byte legacy advertising payload. Everything after construction works in
# preallocated buffers and allocates nothing.
from binascii import unhexlify
from micropython import const
from bms import fet_thermal
from bms.measure import CH_BAT, CH_ALT_I, CH_SYS_I, CH_FET

_COMPANY_ID = const(0x02E1)  # Victron Energy BV
MODEL_SMART_BMS = const(0xA3E8)  # "Smart BMS 12-200" in the readers' tables
RECORD_BMS = const(0x0A)
_BMS_LEN = const(16)  # plaintext bytes of record 0x0A (127 bits used)
_PRODUCT_ADV = const(0x10)  # manufacturer-data record "product advertisement"
_HEADER_BYTE1 = const(0x02)  # undocumented, ignored by readers; most devices send 2
_HEADER_LEN = const(8)  # 0x10, byte 1, model id, record, nonce, key check byte
_FLAGS_AD = b"\x02\x01\x06"  # LE general discoverable, no BR/EDR
_AD_MANUFACTURER = const(0xFF)
_AD_NAME = const(0x09)  # Complete Local Name
_AD_SHORT_NAME = const(0x08)
_AD_UUID128 = const(0x07)  # complete list of 128-bit service UUIDs

_UNKNOWN = const(-0x3FFFFFFF)  # a value in our units that is not available
_CHANNELS = CH_BAT | CH_ALT_I | CH_SYS_I | CH_FET  # the readings the record reports

# io_status pairs: 0 not available, 1 yes, 2 no
_YES = const(1)
_NO = const(2)
# alarm_flags pairs: 0 unsupported, 1 ok, 2 warning, 3 alarm
OK = const(1)
WARNING = const(2)
_ALARM = const(3)
_FET_ALARM = (OK, WARNING, _ALARM)  # by fet_thermal.level()

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


class AesCtr:
    """AES-CTR keystream from an ECB cipher object (`encrypt(src, dst)`).

    The counter block is stepped little-endian (Victron) or big-endian (NIST).
    """

    def __init__(self, ecb, little_endian=True):
        self.ecb = ecb
        self.little = little_endian
        self.counter = bytearray(16)
        self._ks = bytearray(16)
        self._used = 16  # keystream bytes consumed; 16 = make a new block

    def start(self, block):
        for i in range(16):
            self.counter[i] = block[i]
        self._used = 16

    def _step(self):
        c = self.counter
        i = 0 if self.little else 15
        d = 1 if self.little else -1
        for _ in range(16):
            v = (c[i] + 1) & 0xFF
            c[i] = v
            if v:
                return
            i += d

    def crypt(self, src, dst, n):
        """dst[:n] = src[:n] XOR keystream; encrypt and decrypt are the same."""
        ks = self._ks
        used = self._used
        for i in range(n):
            if used == 16:
                self.ecb.encrypt(self.counter, ks)
                self._step()
                used = 0
            dst[i] = src[i] ^ ks[used]
            used += 1
        self._used = used


class Advert:
    """Victron framing of one record type around a plaintext of `plain_len` bytes.

    `adv` is the whole advertising payload (Flags AD + manufacturer AD), `mfr`
    the manufacturer data after the company id, as readers receive it.
    """

    def __init__(self, ecb, key_check, model_id, record, plain_len, nonce):
        self.plain_len = plain_len
        self.nonce = nonce & 0xFFFF
        n = 3 + 4 + _HEADER_LEN + plain_len
        self.adv = bytearray(n)
        a = self.adv
        a[0:3] = _FLAGS_AD
        a[3] = n - 4  # AD length counts the type byte, not itself
        a[4] = _AD_MANUFACTURER
        a[5] = _COMPANY_ID & 0xFF
        a[6] = _COMPANY_ID >> 8
        self.mfr = memoryview(a)[7:]
        m = self.mfr
        m[0] = _PRODUCT_ADV
        m[1] = _HEADER_BYTE1
        m[2] = model_id & 0xFF
        m[3] = model_id >> 8
        m[4] = record
        self._data = memoryview(a)[7 + _HEADER_LEN:]
        self._sent = bytearray(plain_len)  # plaintext of the current advertisement
        self._block = bytearray(16)
        self._ctr = AesCtr(ecb)
        self._key_check = key_check
        self._rekeyed = False
        self.sealed = False  # True once an advertisement has been built
        self.changes = 0  # counts every change of the advertised bytes

    def set_key(self, ecb, key_check):
        """New key (ECB cipher object and byte 0 of the key): re-encrypt on next seal."""
        self._ctr = AesCtr(ecb)
        self._key_check = key_check  # written with the next ciphertext, not before
        self._rekeyed = True

    def seal(self, plain):
        """Encrypt plain if it differs from what is advertised; True if the bytes changed.

        The nonce advances on every change after the first, so no nonce ever
        carries two plaintexts under one key (until the 16-bit counter wraps).
        """
        sent = self._sent
        if self.sealed and not self._rekeyed and plain == sent:
            return False
        if self.sealed:
            self.nonce = (self.nonce + 1) & 0xFFFF
        self._rekeyed = False
        self.sealed = True
        for i in range(self.plain_len):
            sent[i] = plain[i]
        nonce = self.nonce
        m = self.mfr
        m[5] = nonce & 0xFF
        m[6] = nonce >> 8
        m[7] = self._key_check
        b = self._block
        b[0] = m[5]
        b[1] = m[6]
        ctr = self._ctr
        ctr.start(b)
        ctr.crypt(sent, self._data, self.plain_len)
        self.changes += 1
        return True


def scan_response(name, service_uuid):
    """Scan response payload: the device name and our 128-bit service UUID
    (so configuration tools that filter on it still find us).

    The name is complete when it fits beside the UUID, else shortened.
    service_uuid: "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
    """
    uuid = bytes(reversed(unhexlify(service_uuid.replace("-", ""))))  # little-endian on air
    raw = name.encode()
    kind = _AD_NAME
    room = 31 - 2 - (2 + len(uuid))
    if len(raw) > room:
        raw = raw[:room]
        kind = _AD_SHORT_NAME
    return bytes((len(raw) + 1, kind)) + raw + bytes((len(uuid) + 1, _AD_UUID128)) + uuid


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
                    | (_ALARM if p.lost else OK) << 8
                    | (_ALARM if not pr.atd else (WARNING if pr.prealarm_out else OK)) << 10)
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
            return WARNING
        return OK

