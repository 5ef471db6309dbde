"""bmsctl's Instant Readout decoder (tools/readout_decode.py) against the
firmware's own advertisements and an independent reader: the states of
tests/test_readout_decode.py, emitted by bms/readout.py inside MicroPython,
decode to the same values with victron-ble and with ours."""
import pytest

from tools import readout_decode as RD
from test_readout_decode import KEY, ad_structures, run_firmware

victron_ble = pytest.importorskip("victron_ble.devices")


@pytest.fixture(scope="module")
def adverts():
    return [ad_structures(bytes.fromhex(o["adv"]))[0xFF][2:] for o in run_firmware()]


def test_every_field_as_victron_ble_reads_it(adverts):
    key = RD.parse_key(KEY)
    assert len(adverts) == 8
    for k, data in enumerate(adverts):
        theirs = victron_ble.LynxSmartBMS(KEY).parse(data)
        ours = RD.decode(data, key)
        assert ours["model_id"] == 0xA3E8
        assert ours["voltage_v"] == theirs.get_voltage(), k
        assert ours["current_a"] == theirs.get_current(), k
        assert ours["soc_pct"] == theirs.get_soc(), k
        assert ours["consumed_ah"] == theirs.get_consumed_ah(), k
        assert ours["time_to_go_min"] == theirs.get_remaining_mins(), k
        assert ours["temperature_c"] == theirs.get_battery_temperature(), k
        assert ours["error"] == RD.ERROR_NAMES[theirs.get_error_flags()], k
        io, alarms = theirs.get_io_status(), theirs.get_alarm_flags()
        assert ours["io"] == {n: RD._IO_WORDS[io >> 2 * i & 3] for i, n in enumerate(RD.IO_PAIRS)}
        assert ours["alarms"] == {n: RD._ALARM_WORDS[alarms >> 2 * i & 3]
                                  for i, n in enumerate(RD.ALARM_PAIRS)}
    # step 4 of the states: cable fault, a cell below the disconnect level, hot MOSFETs
    assert RD.decode(adverts[4], key)["alarms"]["bms_cable_fault"] == "alarm"
    assert RD.decode(adverts[4], key)["io"]["allowed_to_discharge"] == "no"
    assert RD.decode(adverts[2], key)["time_to_go_min"] > 0  # discharging


def test_wrong_key_and_bad_input_say_why(adverts):
    wrong = bytearray(RD.parse_key(KEY))
    wrong[0] ^= 1
    with pytest.raises(RD.ReadoutError, match="key does not match"):
        RD.decode(adverts[0], bytes(wrong))
    with pytest.raises(RD.ReadoutError, match="not a Victron product advertisement"):
        RD.decode(adverts[0][:10], RD.parse_key(KEY))
    with pytest.raises(RD.ReadoutError, match="32 hex digits"):
        RD.parse_key("0123")
    with pytest.raises(RD.ReadoutError, match="32 hex digits"):
        RD.parse_key("zz" * 16)
