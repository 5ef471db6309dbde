# micropython
# drivers/ble_readout.py against a recording fake of the two aioble entry
# points it uses (aioble.advertise and aioble.core.ble.gap_advertise).
import sys
import asyncio
import cryptolib
from binascii import unhexlify
from bms import readout as R
from bms.measure import Measurements
from bms.settings import Settings


class Obj:
    pass


class FakeAioble:
    def __init__(self):
        self.core = Obj()
        self.core.ble = self
        self.calls = []  # (interval_us, adv_data, resp_data, connectable)
        self.connect = asyncio.Event()

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None, connectable=True):
        self.calls.append((interval_us, bytes(adv_data), bytes(resp_data), connectable))

    async def advertise(self, interval_us, adv_data=None, resp_data=None, connectable=True):
        self.gap_advertise(interval_us, adv_data, resp_data, connectable)
        await self.connect.wait()
        return "connection"


FAKE = FakeAioble()
sys.modules["aioble"] = FAKE
from drivers import ble_readout as B  # noqa: E402


class Store:
    def __init__(self):
        self.files = {}

    def read(self, name):
        return self.files.get(name)

    def write(self, name, data):
        self.files[name] = bytes(data)


class Randoms:
    def __init__(self):
        self.n = 0

    def __call__(self, count):
        self.n += 1
        return bytes((self.n * 17 + i) & 0xFF for i in range(count))


def make_ctl():
    c = Obj()
    c.now_ms = 0
    c.meas = Measurements()
    c.meas.valid = True
    c.meas.bat_mv = 13200
    c.meas.alt_ma = 1000
    c.meas.sys_ma = -3000
    p = c.pack = Obj()
    p.seen = 0
    p.lost = 0
    pr = c.protection = Obj()
    pr.atc = pr.atd = pr.load_out = pr.alt_allowed = True
    pr.prealarm_out = False
    c.alternator = Obj()
    c.alternator.fault = 0
    c.remote = Obj()
    c.remote.on = True
    c.settings = Settings()
    return c


def test_key_record_round_trip_and_corruption():
    key = unhexlify("00112233445566778899aabbccddeeff")
    rec = R.key_record(key)
    assert len(rec) == 18 and R.key_from_record(rec) == key
    assert R.key_from_record(None) is None
    assert R.key_from_record(rec[:17]) is None
    for i in range(18):
        bad = bytearray(rec)
        bad[i] ^= 0x04
        assert R.key_from_record(bad) is None, i


def test_next_key_steps_byte_0_and_is_fresh():
    old = b"\xff" + bytes(15)
    new = R.next_key(old, bytes(range(16, 32)))
    assert new[0] == 0 and new[1:] == bytes(range(17, 32))


def test_key_made_at_first_boot_and_kept():
    store = Store()
    ro = B.BleReadout(store, make_ctl(), Randoms())
    assert ro.key_made and len(ro.key) == 16
    assert R.key_from_record(store.read(B.KEY_FILE)) == ro.key
    again = B.BleReadout(store, make_ctl(), Randoms())
    assert not again.key_made and again.key == ro.key


def test_corrupt_key_file_gives_a_new_key():
    store = Store()
    store.write(B.KEY_FILE, b"garbage")
    ro = B.BleReadout(store, make_ctl(), Randoms())
    assert ro.key_made and R.key_from_record(store.read(B.KEY_FILE)) == ro.key


def test_new_key_on_pin_change():
    store = Store()
    ctl = make_ctl()
    ro = B.BleReadout(store, ctl, Randoms())
    old = ro.key
    ro.refresh()
    assert ro.readout.mfr[7] == old[0]
    ro.new_key(bytes(range(100, 116)))
    assert ro.key[0] == (old[0] + 1) & 0xFF and ro.key[1:] == bytes(range(101, 116))
    assert R.key_from_record(store.read(B.KEY_FILE)) == ro.key
    assert ro.refresh()  # same values, new key: new bytes
    assert ro.readout.mfr[7] == ro.key[0]
    out = bytearray(16)
    ctr = R.AesCtr(cryptolib.aes(ro.key, 1))
    ctr.start(bytes(ro.readout.mfr[5:7]) + bytes(14))
    ctr.crypt(bytes(ro.readout.mfr[8:]), out, 16)
    assert out == ro.readout.plain
    try:
        ro.set_key(b"short")
        assert False
    except ValueError:
        pass


def test_disabled_or_not_ready_sends_flags_only():
    ctl = make_ctl()
    ctl.meas.valid = False
    ro = B.BleReadout(Store(), ctl, Randoms())
    assert not ro.refresh()
    assert ro.adv_data() == b"\x02\x01\x06"
    ctl.meas.valid = True
    assert ro.refresh()
    assert len(ro.adv_data()) == 31
    ctl.settings.update({"readout_enabled": 0})
    assert ro.refresh()
    assert ro.adv_data() == b"\x02\x01\x06"
    assert ro.resp_data() == b"\x09\x09SmartBMS"


async def test_advertise_refreshes_every_second_until_connected():
    FAKE.calls = []
    FAKE.connect = asyncio.Event()
    ctl = make_ctl()
    ro = B.BleReadout(Store(), ctl, Randoms())
    task = asyncio.create_task(ro.advertise())
    await asyncio.sleep_ms(300)
    assert len(FAKE.calls) == 1
    first = FAKE.calls[0]
    assert first[0] == B.INTERVAL_US and first[3] is True
    assert len(first[1]) == 31 and first[2] == b"\x09\x09SmartBMS"
    ctl.meas.sys_ma = -9000
    ctl.now_ms = 1000
    await asyncio.sleep_ms(1000)
    assert len(FAKE.calls) == 2  # changed values: new payload
    assert FAKE.calls[1][1] != first[1] and FAKE.calls[1][3] is True
    ctl.settings.update({"device_name": "Boat"})
    await asyncio.sleep_ms(1000)
    assert len(FAKE.calls) == 3 and FAKE.calls[2][2] == b"\x05\x09Boat"
    assert FAKE.calls[2][1] == FAKE.calls[1][1]  # values unchanged: same nonce and bytes
    ctl.meas = None  # a broken controller: counted, advertising goes on
    await asyncio.sleep_ms(1000)
    assert ro.errors == 1 and "AttributeError" in ro.last_error and not task.done()
    FAKE.connect.set()
    assert await task == "connection"
    await asyncio.sleep_ms(1200)
    assert len(FAKE.calls) == 3  # no refresh while connected
