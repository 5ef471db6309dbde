# Victron "Instant Readout" framing: the complete 31-byte legacy advertising
# payload around one record (Flags AD, manufacturer AD with the product
# header, nonce and key check byte), the record's AES-128-CTR encryption on
# an ECB cipher object the caller passes in (the boards have no CTR mode), and
# the scan response. The record itself: bms/readout.py. Everything after
# construction works in preallocated buffers and allocates nothing.
from binascii import unhexlify
from micropython import const

_COMPANY_ID = const(0x02E1)  # Victron Energy BV
_PRODUCT_ADV = const(0x10)  # manufacturer-data record "product advertisement"
_HEADER_BYTE1 = const(0x02)  # undocumented, ignored by readers; most devices send 2
_HEADER_LEN = const(8)  # 0x10, byte 1, model id, record, nonce, key check byte
FLAGS_AD = b"\x02\x01\x06"  # LE general discoverable, no BR/EDR
_AD_MANUFACTURER = const(0xFF)
_AD_NAME = const(0x09)  # Complete Local Name
_AD_SHORT_NAME = const(0x08)
_AD_UUID128 = const(0x07)  # complete list of 128-bit service UUIDs


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
        a[0:3] = FLAGS_AD
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
