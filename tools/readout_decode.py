"""Decode a Victron Instant Readout advertisement of record 0x0A ("BMS"),
as the BMS sends it (docs/instant-readout.md), on the host with the key.

    decode(mfr, key) -> {"voltage_v": 13.25, "current_a": -12.3, "soc_pct": 62.5, ...}

`mfr` is the manufacturer data after the company id 0x02E1 (what bleak's
advertisement_data.manufacturer_data[0x02E1] holds). Raises ReadoutError
with a sentence when the bytes are not such a record or the key does not fit.
"""
COMPANY_ID = 0x02E1
RECORD_BMS = 0x0A
_HEADER = 8  # 0x10, byte 1, model id (2), record type, nonce (2), key check byte

IO_PAIRS = ("contactor_closed", "allowed_to_charge", "allowed_to_discharge", "user_relay",
            "aux_output", "remote_enabled", "alternator_allowed")
ALARM_PAIRS = ("low_cell_voltage", "high_current", "high_bms_temperature", "contactor_resistance",
               "bms_cable_fault", "load_disconnect")
_IO_WORDS = {0: None, 1: "yes", 2: "no"}
_ALARM_WORDS = {0: None, 1: "ok", 2: "warning", 3: "alarm"}
ERROR_NAMES = {0: "none", 1: "battery data lost", 2: "alternator port fault"}


class ReadoutError(Exception):
    pass


def parse_key(text):
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ReadoutError("the key is 32 hex digits (bmsctl command read-readout-key)") from None
    if len(key) != 16:
        raise ReadoutError("the key is 32 hex digits, not %d" % (2 * len(key)))
    return key


def _keystream(key, nonce, n):
    """AES-128-CTR keystream, counter block = the nonce as a 128-bit
    little-endian integer, stepped little-endian (Victron's CTR)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    out = b""
    counter = nonce
    while len(out) < n:
        out += ecb.update(counter.to_bytes(16, "little"))
        counter = (counter + 1) % (1 << 128)
    return out[:n]


def _bits(data, bit, width):
    return int.from_bytes(data, "little") >> bit & ((1 << width) - 1)


def _signed(v, width):
    return v - (1 << width) if v >> (width - 1) else v


def decode(mfr, key):
    mfr = bytes(mfr)
    if len(mfr) < _HEADER + 16 or mfr[0] != 0x10:
        raise ReadoutError("not a Victron product advertisement")
    if mfr[4] != RECORD_BMS:
        raise ReadoutError("record type 0x%02x, not the BMS record 0x0a" % mfr[4])
    if mfr[7] != key[0]:
        raise ReadoutError("the key does not match this advertisement (check byte %02x, key starts "
                           "%02x): after a PIN change the BMS has a new key" % (mfr[7], key[0]))
    nonce = mfr[5] | mfr[6] << 8
    enc = mfr[_HEADER:_HEADER + 16]
    plain = bytes(a ^ b for a, b in zip(enc, _keystream(key, nonce, len(enc))))
    ttg = _bits(plain, 8, 16)
    volt = _signed(_bits(plain, 24, 16), 16)
    cur = _signed(_bits(plain, 40, 16), 16)
    consumed = _bits(plain, 100, 20)
    temp = _bits(plain, 120, 7)
    io = _bits(plain, 56, 16)
    alarms = _bits(plain, 72, 18)
    return {
        "model_id": mfr[2] | mfr[3] << 8,
        "nonce": nonce,
        "error": ERROR_NAMES.get(plain[0], "error %d" % plain[0]),
        "voltage_v": None if volt == 0x7FFF else volt / 100,
        "current_a": None if cur == 0x7FFF else cur / 10,
        "soc_pct": _bits(plain, 90, 10) / 10,
        "consumed_ah": None if consumed == 0xFFFFF else consumed / 10,
        "time_to_go_min": None if ttg == 0xFFFF else ttg,
        "temperature_c": None if temp == 0x7F else temp - 40,
        "io": {n: _IO_WORDS[io >> 2 * i & 3] for i, n in enumerate(IO_PAIRS)},
        "alarms": {n: _ALARM_WORDS[alarms >> 2 * i & 3] for i, n in enumerate(ALARM_PAIRS)},
    }


def lines(r):
    """The decoded record in words and units."""
    def unit(v, fmt):
        return "n/a" if v is None else fmt % v
    alarms = [n.replace("_", " ") + " " + w for n, w in r["alarms"].items() if w not in (None, "ok")]
    io = ["%s %s" % (n.replace("_", " "), w) for n, w in r["io"].items() if w is not None]
    return [
        ("bank", "%s, %s" % (unit(r["voltage_v"], "%.2f V"), unit(r["current_a"], "%+.1f A"))),
        ("state of charge", "%.1f %%, %s used, time to go %s" % (
            r["soc_pct"], unit(r["consumed_ah"], "%.1f Ah"), unit(r["time_to_go_min"], "%d min"))),
        ("temperature", unit(r["temperature_c"], "%d °C")),
        ("error", r["error"]),
        ("alarms", ", ".join(alarms) or "none"),
        ("io", ", ".join(io)),
    ]
