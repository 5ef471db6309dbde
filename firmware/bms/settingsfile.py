# The settings + secrets blob kept in flash: magic, length, JSON body and a
# truncated SHA-256 over all of it. decode() rejects anything corrupt (raises
# ValueError) and checks every stored value against the schema again, so a
# file written by an older firmware with a now-invalid value falls back to the
# default for that value (and a broken cross-field rule for the settings of
# that rule), reported, never applied.
import hashlib
import json
import struct
from binascii import unhexlify

from bms import settings as S

MAGIC = b"BMS1"
_HASH_LEN = 8
_HEAD = 6  # magic + u16 body length


def _digest(data):
    return hashlib.sha256(data).digest()[:_HASH_LEN]


_TOO_LONG = "settings file: longer than its buffer"
_HEX = b"0123456789abcdef"


# The body is written straight into the caller's buffer (buf None: only
# counted), piece by piece: a save makes no objects for the names and the
# numbers, only for a text value's JSON. Each writer returns the new end.
def _raw(buf, n, cap, piece):
    k = n + len(piece)
    if k > cap:
        raise ValueError(_TOO_LONG)
    if buf is not None:
        buf[n:k] = piece
    return k


def _name(buf, n, cap, name):
    """The name in quotes and a colon (a setting's name is a plain
    identifier: its JSON is itself)."""
    if n + len(name) + 4 > cap:
        raise ValueError(_TOO_LONG)
    if buf is not None:
        buf[n] = 0x22  # "
        for ch in name:
            n += 1
            buf[n] = ord(ch)
        buf[n + 1:n + 4] = b'": '
        return n + 4
    return n + len(name) + 4


def _value(buf, n, cap, v):
    if type(v) is not int:  # a text, as json.dumps escapes it
        return _raw(buf, n, cap, json.dumps(v).encode())
    if v < 0:
        n = _raw(buf, n, cap, b"-")
        v = -v
    d = 1
    k = n + 1
    while v // d >= 10:  # (d * 10 could leave the boards' small ints)
        d *= 10
        k += 1
    if k > cap:
        raise ValueError(_TOO_LONG)
    if buf is not None:
        while d:
            buf[n] = 0x30 + v // d % 10
            n += 1
            d //= 10
    return k


def _body(buf, n, cap, names, values, secrets):
    """The JSON document, as json.dumps writes it."""
    n = _raw(buf, n, cap, b'{"settings": {')
    sep = False
    for name in names:
        if sep:
            n = _raw(buf, n, cap, b", ")
        sep = True
        n = _value(buf, _name(buf, n, cap, name), cap, values[name])
    n = _value(buf, _raw(buf, n, cap, b'}, "puk": '), cap, secrets["puk"])
    n = _raw(buf, n, cap, b', "readout_key": "')
    key = secrets["readout_key"]
    if n + 2 * len(key) > cap:
        raise ValueError(_TOO_LONG)
    for x in key:  # in hex
        if buf is not None:
            buf[n] = _HEX[x >> 4]
            buf[n + 1] = _HEX[x & 15]
        n += 2
    n = _value(buf, _raw(buf, n, cap, b'", "failures": '), cap, secrets["failures"])
    return _raw(buf, n, cap, b"}")


def encode_into(buf, values, secrets, names=None):
    """The blob of encode() written into `buf` (a bytearray); its length.
    ValueError when it does not fit (nothing is stored then). `names`: the
    keys of `values` to store (all of a dict's by default)."""
    n = _body(buf, _HEAD, len(buf) - _HASH_LEN, values if names is None else names, values, secrets)
    if n - _HEAD > 0xFFFF:
        raise ValueError("settings file: body too long")
    buf[0:4] = MAGIC
    struct.pack_into("<H", buf, 4, n - _HEAD)
    buf[n:n + _HASH_LEN] = _digest(memoryview(buf)[:n])
    return n + _HASH_LEN


def max_size():
    """The longest blob a valid Settings and Auth can give: every value at
    its widest (a text in escaped characters), the widest secrets."""
    n = _HEAD + _HASH_LEN + len(b'{"settings": {}, "puk": "12345678", "readout_key": "", '
                                   b'"failures": }') + 32 + 11
    for e in S.SCHEMA:
        kind, lo, hi = e[2], e[5], e[6]
        if kind == S.TEXT or kind == S.PIN:
            width = 2 + 2 * hi  # quotes, and each character may be escaped (\" or \\)
        else:
            width = max(len(str(lo)), len(str(hi)))
        n += len(e[1]) + 2 + 2 + width + 2  # "name": value,
    return n


def encode(values, secrets):
    """values: {name: value}; secrets: {'puk', 'readout_key' (bytes), 'failures'}."""
    n = _body(None, _HEAD, _HEAD + 0x10000, values, values, secrets) + _HASH_LEN  # past the u16 length: refused
    buf = bytearray(n)
    encode_into(buf, values, secrets)
    return bytes(buf)


def decode(data):
    """(values, secrets, problems) from a blob; ValueError when it is corrupt.

    `values` holds every schema name (defaults where the file lacked a value or
    held one the schema refuses); `problems` lists what was replaced.
    """
    data = bytes(data)
    if len(data) < _HEAD + _HASH_LEN or data[:4] != MAGIC:
        raise ValueError("settings file: bad header")
    n = struct.unpack("<H", data[4:6])[0]
    if len(data) != _HEAD + n + _HASH_LEN:
        raise ValueError("settings file: bad length")
    if _digest(data[:_HEAD + n]) != data[_HEAD + n:]:
        raise ValueError("settings file: hash mismatch")
    try:
        doc = json.loads(data[_HEAD:_HEAD + n])
        stored = doc["settings"]
        secrets = {"puk": doc["puk"], "readout_key": unhexlify(doc["readout_key"]),
                   "failures": doc["failures"]}
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError("settings file: bad body (%s)" % e)
    puk, failures = secrets["puk"], secrets["failures"]
    if (not isinstance(puk, str) or len(puk) != 8 or not puk.isdigit()
            or len(secrets["readout_key"]) != 16
            or not isinstance(failures, int) or not 0 <= failures < 1000000):
        raise ValueError("settings file: bad secrets")
    if not isinstance(stored, dict):
        raise ValueError("settings file: bad settings")
    values = S.Settings().values()
    problems = []
    for name in stored:
        entry = S.entry(name)
        if entry is None:
            problems.append(name + ": no longer a setting, ignored")
            continue
        code, msg = S.check_value(entry, stored[name])
        if code:
            problems.append(msg + ", default kept")
        else:
            values[name] = stored[name]
    # a conflict (a rule added, or a value above replaced by its default):
    # only the settings of that rule go back to their defaults, never the
    # rest (the PIN least of all). Defaults pass every rule, so each pass
    # puts at least one more setting back and the loop ends.
    defaults = S.Settings().values()
    for _ in range(len(values)):
        bad = S.check_order(values)
        if bad is None:
            break
        for name in bad[2]:
            values[name] = defaults[name]
        problems.append(bad[1] + ": " + ", ".join(bad[2]) + " back to defaults")
    return values, secrets, problems


def new_secrets(rand):
    """Secrets for a first boot: a PUK and a readout key from the RNG
    ("new" tells the app to show the PUK once)."""
    from bms.auth import make_puk
    return {"puk": make_puk(rand(32)), "readout_key": bytes(rand(16)), "failures": 0, "new": True}


def load(blob, rand):
    """(values, secrets, problems) at boot from the store's bytes (or None).

    A missing or corrupt blob gives defaults and new secrets, reported; the
    caller writes the result back so the new secrets persist.
    """
    if blob is None:
        return S.Settings().values(), new_secrets(rand), []
    try:
        return decode(blob)
    except ValueError as e:
        return S.Settings().values(), new_secrets(rand), [str(e) + ": defaults used"]


def _secrets(auth):
    return {"puk": auth.puk, "readout_key": auth.readout_key, "failures": auth.failures}


def snapshot(settings, auth):
    """The blob for the current Settings and Auth (write it when it differs)."""
    return encode(settings.values(), _secrets(auth))


def _names():
    for e in S.SCHEMA:
        yield e[1]


def snapshot_into(buf, settings, auth):
    """snapshot() written into `buf` (at least max_size() bytes), in the
    schema's order; its length."""
    return encode_into(buf, settings, _secrets(auth), _names())
