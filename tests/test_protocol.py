# micropython
from bms import client as P
from bms.protocol import _version_numbers
from bms import settings as S
from bms.soc import Soc
from bleapp_double import make_controller
from version import VERSION
from mpytest import raises


def test_status_round_trip_every_field():
    ctl = make_controller()
    b = P.encode_status(ctl)
    assert len(b) == P.STATUS_LEN == 91 and b[0] == P.STATUS_FORMAT == 3
    d = P.decode_status(b)
    want = {"prot_state": 1, "alt_state": 3, "remote_mode": 1, "configured": 2, "seen": 2,
            "pack_mv": 13250, "min_cell_mv": 3301, "min_cell_at": 5, "max_cell_mv": 3340,
            "max_cell_at": 2, "min_temp_dc": -52, "max_temp_dc": 231, "alt_ma": 45678,
            "sys_ma": -12345, "block_chg": 0, "block_dsg": 0x24, "warn": 1, "lost": 0,
            "start_mv": 13900, "alt_duty": 4321, "alt_target_ma": -5, "alt_limit_ma": 90000,
            "alt_limit_reason": 2, "alt_fault": 0, "uptime_ms": 123456, "atc": True,
            "atd": True, "chg_fet": True, "dsg_fet": False, "alt_allowed": True,
            "load_out": True, "charge_out": False, "prealarm_out": True, "data_ok": True,
            "full_scan": True, "battery_alarm": False, "remote_on": True, "block_alt": 0x124,
            "block_sys": 0x200, "link_frames_ok": 12345, "link_crc_errors": 3,
            "link_rejected": 2, "link_garbage_bytes": 77,
            # the controller's state of charge, not seeded yet: unknown, not 0 %
            "soc_pm": P.SOC_UNKNOWN, "consumed_mah": 0, "ttg_min": P.TTG_NONE}
    for k in want:
        assert d[k] == want[k], k
    assert d["flash_fault"] is False and d["pack_flags"] & 32 == 0
    d = P.decode_status(P.encode_status(ctl, flash_fault=True))
    assert d["flash_fault"] is True and d["data_ok"] and d["remote_on"]
    d = P.decode_status(b)
    assert [d["fw_major"], d["fw_minor"], d["fw_patch"]] == _version_numbers(VERSION)
    with raises(ValueError):
        P.decode_status(b[:-1])
    with raises(ValueError):  # format 1 is refused, not misread
        P.decode_status(bytes((1,)) + b[1:58])


def test_status_format_2_still_reads():
    """A newer tool reading older firmware: the first 80 bytes are format 2."""
    b = P.encode_status(make_controller())
    d = P.decode_status(bytes((2,)) + b[1:P.STATUS_LEN_2])
    assert d["format"] == 2 and d["min_cell_mv"] == 3301 and d["link_garbage_bytes"] == 77
    assert d["soc_pm"] is None and d["fw_major"] is None
    with raises(ValueError):  # the lengths belong to their formats
        P.decode_status(bytes((2,)) + b[1:])


def test_status_state_of_charge_from_the_controller():
    ctl = make_controller()
    ctl.soc = Soc()
    ctl.meas.alt_ma, ctl.meas.sys_ma = 0, -20000  # 20 A out of the bank
    d = P.decode_status(P.encode_status(ctl))
    assert d["soc_pm"] == P.SOC_UNKNOWN  # not seeded yet
    ctl.soc.step(0, 13200, -20000, 400000)  # 400 Ah bank at 13.2 V: 50 %
    ctl.soc.step(3600000, 13200, -20000, 400000)
    d = P.decode_status(P.encode_status(ctl))
    assert d["soc_pm"] == ctl.soc.soc_pm and d["consumed_mah"] == ctl.soc.consumed_mah > 0
    assert d["ttg_min"] == ctl.soc.ttg_min(-20000) > 0
    ctl.meas.sys_ma = 3000  # charging: no time to go
    assert P.decode_status(P.encode_status(ctl))["ttg_min"] == P.TTG_NONE
    ctl.meas.sys_ma = -600  # a trickle: days to go, clamped below the "none" marker
    ctl.soc.remaining_mah = 2000000  # 2000 Ah at 0.6 A: 139 days
    assert P.decode_status(P.encode_status(ctl))["ttg_min"] == 0xFFFE


def test_version_numbers_never_fail():
    assert _version_numbers("1.2.3") == [1, 2, 3]
    assert _version_numbers("0.2.0rc1") == [0, 2, 0]
    assert _version_numbers("2") == [2, 0, 0]
    assert _version_numbers("x.300.") == [0, 255, 0]


def test_settings_page_round_trip_and_paging():
    s = S.Settings()
    s.update({"device_name": "x" * 20})
    values = s.values()
    got = {}
    nxt = 0
    pages = 0
    while True:
        page = P.encode_settings_page(values, nxt)
        assert len(page) <= P.MAX_VALUE
        v, nxt = P.decode_settings_page(page)
        got.update(v)
        pages += 1
        if nxt == 0:
            break
    assert "pin" not in got
    del values["pin"]
    assert got == values and pages == 1
    v, nxt = P.decode_settings_page(P.encode_settings_page(values, 40))
    assert min(S.entry(k)[0] for k in v) == 40


def test_a_settings_page_is_one_block_of_the_heap():
    """The firmware answers every page read of a phone session: the page is
    sized first and written in place, so what it allocates is the page and
    the device name's encoding, not a few blocks per record and a growing
    copy (4 KB on the 32-bit build before)."""
    import gc

    s = S.Settings()
    s.update({"device_name": "x" * 20})
    gc.collect()
    gc.disable()  # every byte allocated stays counted
    try:
        a = gc.mem_alloc()
        page = P.encode_settings_page(s, 0)
        spent = gc.mem_alloc() - a
    finally:
        gc.enable()
    assert len(page) > 100 and spent <= len(page) + 160, (len(page), spent)


def test_records_errors():
    assert P.decode_records(b"\x14\x04\x00\x00\x00") == ({"battery_count": 4}, P.OK, 0)
    assert P.decode_records(b"\x14\x04\x00\x00\x00\x99")[1:] == (P.E_UNKNOWN_KEY, 0x99)
    assert P.decode_records(b"\x14\x04\x00")[1:] == (P.E_MALFORMED, 0x14)
    assert P.decode_records(b"\x3c")[1:] == (P.E_MALFORMED, 0x3c)
    assert P.decode_records(b"\x3c\x03ab")[1:] == (P.E_MALFORMED, 0x3c)
    v, code, _ = P.decode_records(b"\x0a\xf6\xff\xff\xff")  # negative i32
    assert v == {"temp_charge_low_dc": -10}


def test_set_request_and_errors():
    req = P.encode_set_request({"battery_count": 4, "device_name": "Boat"})
    assert req == b"\x01\x14\x04\x00\x00\x00\x3c\x04Boat"
    with raises(KeyError):
        P.encode_set_request({"nope": 1})
    with raises(ValueError):
        P.encode_set_request({e[1]: e[4] for e in S.SCHEMA if e[2] == S.INT})
    errs = [("cell_ov_mv", S.E_RANGE, "m"), ("nope", S.E_UNKNOWN_KEY, "m")]
    assert P.decode_set_errors(P.encode_set_errors(errs)) == [("cell_ov_mv", 3), (0, 1)]


def test_cells_pages():
    ctl = make_controller()
    ctl.pack.configured = 20
    a = P.decode_cells(P.encode_cells(ctl.pack, 0))
    assert len(a["batteries"]) == 16 and a["total"] == 20
    b = P.decode_cells(P.encode_cells(ctl.pack, 16))
    assert b["first"] == 16 and len(b["batteries"]) == 4
    assert b["batteries"][3]["cell_mv"] == [3376, 3377, 3378, 3379]
    assert len(P.encode_cells(ctl.pack, 0)) <= P.MAX_VALUE
    assert P.parse_response(P.encode_cells(ctl.pack, 20))[0] == P.E_RANGE


def test_auth_response():
    d = P.decode_auth(P.encode_auth(P.E_BAD_PROOF, 2, False, 300, 70000))
    assert d["failures"] == 255 and d["wait_s"] == 0xFFFF and not d["authenticated"]
    d = P.decode_auth(P.encode_auth(0, 1, True, 0, 0, b"n" * 16))
    assert d["nonce"] == b"n" * 16 and d["authenticated"]


def test_error_names_cover_codes():
    for code in range(7):
        assert P.error_name(code) == S.ERROR_NAMES[code]
    assert P.error_name(P.E_LOCKED_OUT).startswith("locked")
    assert P.error_name(200) == "error 200"


def test_history_pages_round_trip():
    from bms.history import History
    h = History()
    h.lvd, h.oc_trips, h.min_cell_mv, h.alt_mah = 3, 1, 2650, 1234
    for i in range(20):
        h._log(1000 * i, 5, 1 << 5, -i)
    pages = []
    page = 0
    while True:
        got = P.encode_history_page(h, page)
        assert got is not None and len(got[0]) + 3 <= P.MAX_VALUE
        pages.append(got[0])
        if not got[1]:
            break
        page += 1
    assert len(pages) == 3 and P.encode_history_page(h, 3) is None
    counters, events = P.decode_history(pages)
    assert counters["lvd"] == 3 and counters["oc_trips"] == 1 and counters["alt_mah"] == 1234
    assert counters["min_cell_mv"] == 2650
    assert events == h.events()
    assert P.encode_history_page(History(), 1) is None
