# micropython
import cryptolib
from binascii import hexlify, unhexlify
from bms import readout as R
from bms import readout_frame as RF
from mpytest import no_alloc
from readout_double import make_ctl, tick
from bms.measure import CH_ALL

KEY = unhexlify("0df4d0995b7d1e176c0c33ecb9e70dcd")


def update(ro, ctl, now_ms):
    """One control tick's SoC count (the controller's duty since issue 16),
    then the readout's update."""
    tick(ctl, now_ms)
    return ro.update(ctl)


def field(buf, bit, width, signed=False):
    """Independent reader: the plaintext as one little-endian integer."""
    v = (int.from_bytes(bytes(buf), "little") >> bit) & ((1 << width) - 1)
    if signed and v >> (width - 1):
        v -= 1 << width
    return v


def readout(nonce=0x1234):
    return R.Readout(cryptolib.aes(KEY, 1), KEY[0], nonce)


# -- bit packing

def test_put_bits_lsb_first_across_bytes():
    b = bytearray(4)
    R.put_bits(b, 3, 12, 0xABC)
    assert field(b, 3, 12) == 0xABC
    assert field(b, 0, 3) == 0 and field(b, 15, 17) == 0
    R.put_bits(b, 0, 32, 0)
    R.put_bits(b, 5, 16, -2)  # two's complement within the width
    assert field(b, 5, 16, True) == -2
    assert field(b, 21, 11) == 0 and field(b, 0, 5) == 0


def test_put_bits_leaves_neighbours():
    b = bytearray(b"\xff" * 4)
    R.put_bits(b, 7, 10, 0)
    assert b == bytearray(b"\x7f\x00\xfe\xff")


def test_record_fields_at_limits():
    rec = R.BmsRecord()
    buf = bytearray(16)
    rec.error = 0xFF
    rec.ttg_min = 0xFFFE
    rec.volt_mv = 327660
    rec.current_ma = -3276800
    rec.io = 0xFFFF
    rec.alarms = 0x3FFFF
    rec.soc_pm = 1000
    rec.consumed_mah = 0xFFFFE * 100
    rec.temp_ddegc = 860
    rec.encode(buf)
    assert field(buf, 0, 8) == 0xFF
    assert field(buf, 8, 16) == 0xFFFE
    assert field(buf, 24, 16, True) == 0x7FFE
    assert field(buf, 40, 16, True) == -0x8000
    assert field(buf, 56, 16) == 0xFFFF
    assert field(buf, 72, 18) == 0x3FFFF
    assert field(buf, 90, 10) == 1000
    assert field(buf, 100, 20) == 0xFFFFE
    assert field(buf, 120, 7) == 126
    assert field(buf, 127, 1) == 1
    rec.error = rec.io = rec.alarms = rec.soc_pm = rec.ttg_min = rec.consumed_mah = 0
    rec.volt_mv = -327680
    rec.current_ma = 3276600
    rec.temp_ddegc = -400
    rec.encode(buf)
    assert field(buf, 0, 120) == (0x7FFE << 40) | (0x8000 << 24)
    assert field(buf, 120, 7) == 0 and field(buf, 127, 1) == 1


def test_real_values_never_hit_na_patterns():
    rec = R.BmsRecord()
    buf = bytearray(16)
    rec.ttg_min = 10 ** 6
    rec.volt_mv = 400000
    rec.current_ma = 4000000
    rec.soc_pm = 2000
    rec.consumed_mah = 10 ** 9
    rec.temp_ddegc = 2000
    rec.encode(buf)
    assert field(buf, 8, 16) == 0xFFFE
    assert field(buf, 24, 16) == 0x7FFE
    assert field(buf, 40, 16) == 0x7FFE
    assert field(buf, 90, 10) == 1000
    assert field(buf, 100, 20) == 0xFFFFE
    assert field(buf, 120, 7) == 0x7E
    rec.soc_pm = -5
    rec.consumed_mah = -100
    rec.temp_ddegc = -900
    rec.encode(buf)
    assert field(buf, 90, 10) == 0
    assert field(buf, 100, 20) == 0
    assert field(buf, 120, 7) == 0


def test_unknown_values_use_na_patterns():
    rec = R.BmsRecord()
    buf = bytearray(16)
    rec.encode(buf)
    assert field(buf, 8, 16) == 0xFFFF
    assert field(buf, 24, 16) == 0x7FFF
    assert field(buf, 40, 16) == 0x7FFF
    assert field(buf, 100, 20) == 0xFFFFF
    assert field(buf, 120, 7) == 0x7F
    assert field(buf, 90, 10) == 0  # SoC has no usable NA


def test_rounding_half_away_from_zero():
    rec = R.BmsRecord()
    buf = bytearray(16)
    rec.volt_mv = 13255
    rec.current_ma = -150
    rec.temp_ddegc = -15  # -1.5 degC -> 38.5 + ... raw (385 / 10) rounds to 39 = -1 degC
    rec.encode(buf)
    assert field(buf, 24, 16, True) == 1326
    assert field(buf, 40, 16, True) == -2
    assert field(buf, 120, 7) == 39


# -- AES-CTR

def test_ctr_nist_sp800_38a_f51_big_endian_in_chunks():
    key = unhexlify("2b7e151628aed2a6abf7158809cf4f3c")
    pt = unhexlify("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
                   "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
    ct = unhexlify("874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
                   "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee")
    ctr = RF.AesCtr(cryptolib.aes(key, 1), little_endian=False)
    ctr.start(unhexlify("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"))
    out = bytearray(64)
    mv = memoryview(out)
    pos = 0
    for n in (5, 11, 16, 1, 31):  # chunk edges off the block edges
        ctr.crypt(memoryview(pt)[pos:], mv[pos:], n)
        pos += n
    assert bytes(out) == ct
    ctr.start(unhexlify("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"))
    back = bytearray(64)
    ctr.crypt(out, back, 64)
    assert bytes(back) == pt


def test_ctr_little_endian_counter_carries_from_byte_0():
    ctr = RF.AesCtr(cryptolib.aes(KEY, 1))
    ctr.start(b"\xff\xff" + bytes(14))
    out = bytearray(32)
    ctr.crypt(bytes(32), out, 32)
    ks = bytearray(16)
    cryptolib.aes(KEY, 1).encrypt(b"\x00\x00\x01" + bytes(13), ks)
    assert out[16:] == ks


def test_smart_battery_protect_capture_rebuilt_byte_for_byte():
    key = unhexlify("fac570d66380b797a5b7543758be00e4")
    plain = bytearray(15)
    for bit, width, v in ((0, 8, 0xF9), (8, 8, 1), (16, 8, 0), (24, 16, 0), (40, 16, 0),
                          (56, 16, 1307), (72, 16, 1307), (88, 16, 0), (104, 16, 0)):
        R.put_bits(plain, bit, width, v)
    adv = RF.Advert(cryptolib.aes(key, 1), key[0], 0xA3B0, 0x09, 15, 0x2335)
    adv.mfr[1] = 0x80  # this device's undocumented header byte; ours sends 0x02
    assert adv.seal(plain)
    assert hexlify(adv.mfr) == b"1080b0a3093523fadedea38b1af8bcbde91ca8b6dbb60e"
    assert bytes(adv.adv[:7]) == b"\x02\x01\x06\x1a\xff\xe1\x02"


# -- framing and nonce rules

def test_payload_is_exactly_31_bytes_flags_then_manufacturer():
    ro = readout(0xBEEF)
    assert update(ro, make_ctl(), 0)
    a = ro.adv
    assert len(a) == 31
    assert bytes(a[:3]) == b"\x02\x01\x06"
    assert a[3] == 27 and a[4] == 0xFF and a[5] == 0xE1 and a[6] == 0x02
    assert bytes(a[7:12]) == b"\x10\x02\xe8\xa3\x0a"
    assert a[12] == 0xEF and a[13] == 0xBE and a[14] == KEY[0]
    assert len(ro.mfr) == 24 and bytes(ro.mfr) == bytes(a[7:])


UUID = "b45f0000-8c2e-4a71-9d3e-5c1a7e0b2f64"
UUID_LE = bytes(reversed(unhexlify("b45f00008c2e4a719d3e5c1a7e0b2f64")))


def test_scan_response_carries_the_name_and_service():
    assert RF.scan_response("SmartBMS", UUID) == b"\x09\x09SmartBMS\x11\x07" + UUID_LE
    long = RF.scan_response("x" * 20, UUID)
    assert len(long) == 31 and long[:13] == b"\x0c\x08" + b"x" * 11


def test_nonce_advances_only_when_plaintext_changes():
    ctl = make_ctl()
    ro = readout(0xFFFE)
    assert not ro.ready
    assert update(ro, ctl, 0)
    assert ro.advert.nonce == 0xFFFE
    first = bytes(ro.mfr)
    assert ro.changes == 1
    assert not update(ro, ctl, 1000)  # same values: same bytes, same nonce
    assert bytes(ro.mfr) == first and ro.changes == 1
    ctl.meas.sys_ma -= 1000
    assert update(ro, ctl, 2000)
    assert ro.advert.nonce == 0xFFFF
    ctl.meas.sys_ma -= 1000
    assert update(ro, ctl, 3000)
    assert ro.advert.nonce == 0  # 16-bit wrap
    assert ro.mfr[5] == 0 and ro.mfr[6] == 0


def test_never_two_plaintexts_under_one_nonce():
    ctl = make_ctl()
    ro = readout(7)
    seen = {}
    for k in range(300):
        ctl.meas.sys_ma = -100 * (k % 37) - 1000 * (k % 3)
        update(ro, ctl, k * 1000)
        n = ro.advert.nonce
        p = bytes(ro.plain)
        assert seen.setdefault(n, p) == p, n
    assert len(seen) > 100


def test_new_key_advances_nonce_and_check_byte():
    ctl = make_ctl()
    ro = readout(100)
    update(ro, ctl, 0)
    before = bytes(ro.mfr)
    key2 = bytes([(KEY[0] + 1) & 0xFF]) + KEY[1:]
    ro.set_key(cryptolib.aes(key2, 1), key2[0])
    assert bytes(ro.mfr) == before  # nothing changes until the next update
    assert update(ro, ctl, 1000)
    assert ro.advert.nonce == 101
    assert ro.mfr[7] == key2[0] and bytes(ro.mfr) != before


def test_nothing_advertised_before_measurements_are_valid():
    ctl = make_ctl()
    ctl.meas.stale = CH_ALL
    ro = readout()
    assert not update(ro, ctl, 0)
    assert not ro.ready
    ctl.meas.stale = 0
    ctl.pack.seen = 0
    ctl.meas.bat_mv = 0
    assert not update(ro, ctl, 1000)
    assert not ro.ready
    ctl.meas.bat_mv = 13100
    assert update(ro, ctl, 2000)
    assert ro.ready and ctl.soc.soc_pm == 300


def decrypt(ro):
    out = bytearray(16)
    ctr = RF.AesCtr(cryptolib.aes(KEY, 1))
    ctr.start(bytes(ro.mfr[5:7]) + bytes(14))
    ctr.crypt(bytes(ro.mfr[8:]), out, 16)
    return out


def test_fields_from_the_controller():
    ctl = make_ctl()
    ro = readout()
    update(ro, ctl, 0)
    p = decrypt(ro)
    assert p == ro.plain
    assert field(p, 0, 8) == R.ERR_NONE
    assert field(p, 24, 16, True) == 1326  # pack voltage from the batteries
    assert field(p, 40, 16, True) == 150  # 20 A in - 5 A out
    assert field(p, 8, 16) == 0xFFFF  # charging: no time to go
    assert field(p, 120, 7) == 62  # 21.5 degC rounds to 22
    # contactor n/a, charge, discharge yes, relay no, aux yes, remote yes, alternator yes
    assert field(p, 56, 16) == 0 | 1 << 2 | 1 << 4 | 2 << 6 | 1 << 8 | 1 << 10 | 1 << 12
    # low cell ok, high current n/a, fet temp ok, resistance n/a, cable ok, load ok
    assert field(p, 72, 18) == 1 | 1 << 4 | 1 << 8 | 1 << 10
    soc = field(p, 90, 10)
    assert 600 < soc < 800  # 13.26 V at rest
    cap_dah = ctl.settings.battery_capacity_ah * 10
    assert abs(field(p, 100, 20) - (cap_dah - cap_dah * soc // 1000)) <= 1


def test_alarm_and_io_pairs_follow_the_state():
    ctl = make_ctl()
    ro = readout()
    s = ctl.settings
    ctl.pack.min_cell_mv = s.cell_prealarm_mv - 1
    ctl.meas.fet_ddegc = s.fet_derate_dc
    ctl.protection.prealarm_out = True
    ctl.protection.atc = False
    ctl.remote.on = False
    update(ro, ctl, 0)
    p = decrypt(ro)
    assert field(p, 72, 18) == 2 | 2 << 4 | 1 << 8 | 2 << 10
    assert field(p, 56, 16) == 2 << 2 | 1 << 4 | 1 << 6 | 1 << 8 | 2 << 10 | 1 << 12
    ctl.pack.min_cell_mv = s.cell_uv_mv - 1
    ctl.meas.fet_ddegc = s.fet_trip_dc
    ctl.protection.atd = ctl.protection.load_out = ctl.protection.alt_allowed = False
    ctl.pack.lost = 1
    update(ro, ctl, 1000)
    p = decrypt(ro)
    assert field(p, 72, 18) == 3 | 3 << 4 | 3 << 8 | 3 << 10
    assert field(p, 56, 16) == 2 << 2 | 2 << 4 | 1 << 6 | 2 << 8 | 2 << 10 | 2 << 12
    assert field(p, 0, 8) == R.ERR_LINK
    ctl.pack.lost = 0
    ctl.alternator.fault = 3
    ctl.pack.seen = 0  # no battery data: bank voltage measured here, no temperature
    update(ro, ctl, 2000)
    p = decrypt(ro)
    assert field(p, 0, 8) == R.ERR_ALTERNATOR
    assert field(p, 24, 16) == 1325
    assert field(p, 120, 7) == 0x7F
    assert field(p, 72, 2) == 0  # low cell voltage: no cell data


def test_time_to_go_when_discharging():
    ctl = make_ctl()
    ctl.meas.alt_ma = 0
    ctl.meas.sys_ma = -10000
    ro = readout()
    update(ro, ctl, 0)
    p = decrypt(ro)
    rem_mah = ctl.soc.remaining_mah
    assert field(p, 8, 16) == rem_mah * 60 // 10000


def test_encrypt_and_refresh_allocate_nothing():
    ctl = make_ctl()
    ro = readout()
    update(ro, ctl, 0)
    ctl.meas.sys_ma = -7000
    assert no_alloc(update, ro, ctl, 1000)
    assert not no_alloc(update, ro, ctl, 2000)
    ctl.meas.sys_ma = -8000
    assert no_alloc(update, ro, ctl, 3000)


def test_cipher_and_framing_allocate_nothing():
    adv = RF.Advert(cryptolib.aes(KEY, 1), KEY[0], R.MODEL_SMART_BMS, R.RECORD_BMS, 16, 1)
    plain = bytearray(16)
    assert adv.seal(plain)
    plain[3] = 9
    assert no_alloc(adv.seal, plain)
    assert adv.nonce == 2
    ctr = RF.AesCtr(cryptolib.aes(KEY, 1))
    src = bytearray(40)
    dst = bytearray(40)
    no_alloc(ctr.start, src)
    no_alloc(ctr.crypt, src, dst, 40)
    rec = R.BmsRecord()
    no_alloc(rec.encode, plain)
