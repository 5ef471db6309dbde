# micropython
# History: counters from protection edges, extremes, alternator Ah without
# floats, the ring log, the save policy, and the persisted blob with its CRC.
from bms import history as H
from bms import reasons as R
from mpytest import no_alloc
from protect_rig import Rig, rig


class Ctl:
    """What History.step counts: a protection rig's masks, pack and meas."""

    def __init__(self, changes=None, booted=True):
        self.rig = rig(changes) if booted else Rig(changes)
        self.protection = self.rig.p
        self.pack = self.rig.pack
        self.meas = self.rig.meas
        self.h = H.History()

    def run(self, ms, step=10):
        end = self.rig.now + ms
        while self.rig.now < end:
            self.rig.tick(step)
            self.h.step(self.rig.now, self.protection, self.pack, self.meas)
        return self.h


def _codes(h):
    return [e[1] for e in h.events()]


def test_counts_and_logs_each_event_once():
    c = Ctl()
    r = c.rig
    c.run(100)
    r.cells(3300, 3750)  # OV stop
    h = c.run(100)
    assert h.hv_stops == 1
    r.cells(3300, 3500)
    c.run(100)
    r.cells(3300, 3760)
    c.run(100)
    assert h.hv_stops == 2
    r.cells(3300)
    r.temps(-50, 200)
    c.run(2000)
    assert h.low_temp == 1
    r.temps(200, 650)  # both high limits: one high-temperature event
    c.run(2000)
    assert h.high_temp == 1
    r.temps(200)
    r.pack.data_ok = False
    c.run(100)
    r.pack.data_ok = True
    c.run(100)
    assert h.data_losses == 1
    r.meas.sys_ma = -450000
    c.run(10)
    r.meas.sys_ma = 0
    c.run(100)
    assert h.oc_trips == 1
    r.cells(2400)
    c.run(100)
    assert h.lvd == 1
    codes = _codes(h)
    assert codes == [4, 4, 5, 6, 7, 1, 9, 2, 3], [H.event_name(x) for x in codes]
    ev = h.events()
    assert ev[0][3] == 3750 and ev[1][3] == 3760 and ev[2][3] == -50 and ev[3][3] == 650
    assert ev[6][3] == -450000 and ev[7][3] == 2400
    assert ev[7][2] & R.CELL_UV  # the reason mask at that moment
    assert H.event_name(4) == "cell_ov" and H.event_name(H.EV_WARN) == "prealarm"


def test_boot_is_one_event():
    c = Ctl(booted=False)
    r = c.rig
    r.pack.full_scan = False
    r.pack.data_ok = False
    r.remote.on = False
    c.run(500)
    r.remote.on = True
    r.pack.full_scan = True
    r.pack.data_ok = True
    h = c.run(100)
    assert _codes(h) == [0]


def test_prealarm_logged():
    c = Ctl()
    c.rig.cells(3000)
    h = c.run(100)
    assert _codes(h) == [H.EV_WARN] and h.events()[0][3] == 3000


def test_extremes_only_from_valid_data():
    c = Ctl()
    r = c.rig
    r.cells(3100, 3500)
    r.temps(-20, 350)
    h = c.run(100)
    r.pack.data_ok = False
    r.cells(1000, 5000)
    r.temps(-400, 900)
    c.run(100)
    assert (h.min_cell_mv, h.max_cell_mv, h.min_temp_ddegc, h.max_temp_ddegc) == (3100, 3500, -20, 350)


def test_alt_ah_integration():
    c = Ctl()
    c.run(10)
    c.meas.alt_ma = 90000
    h = c.run(3600 * 1000, 1000)  # one hour at 90 A
    assert h.alt_mah == 90000, h.alt_mah
    c.meas.alt_ma = -5000  # discharge never counts
    c.run(10000, 1000)
    assert h.alt_mah == 90000
    c.meas.alt_ma = 1  # 1 mA for 1 h in 10 ms steps: no rounding loss
    c.run(3600 * 1000, 1000)
    assert h.alt_mah == 90001


def test_alt_ah_gap_is_capped():
    c = Ctl()
    c.meas.alt_ma = 100000
    c.run(20)  # the first step only starts the clock: 10 ms = 1000 mAs
    c.rig.tick(60000)  # a stalled minute counts as history._MAX_DT_MS: 100000 mAs
    c.h.step(c.rig.now, c.protection, c.pack, c.meas)
    assert c.h.alt_mah == 28 and c.h._alt_mas == 200


def test_ring_keeps_the_last_entries():
    c = Ctl()
    r = c.rig
    for k in range(H.LOG_LEN + 5):
        r.cells(3300, 3750 + k)
        c.run(10)
        r.cells(3300, 3500)
        c.run(10)
    h = c.h
    ev = h.events()
    assert len(ev) == H.LOG_LEN and h.hv_stops == H.LOG_LEN + 5
    assert ev[0][3] == 3755 and ev[-1][3] == 3750 + H.LOG_LEN + 4


def test_save_policy():
    c = Ctl()
    h = c.run(100)
    assert not h.dirty  # first extremes only: routine
    h.saved(c.rig.now)
    c.rig.cells(3300, 3700)  # a new max: routine, waits for the period
    c.run(100)
    assert not h.dirty
    c.run(H.SAVE_PERIOD_MS - 300, 100)
    assert not h.dirty
    c.run(300, 100)
    assert h.dirty
    h.saved(c.rig.now)
    assert not h.dirty
    c.rig.cells(2400)  # important: load disconnect, but rate limited
    c.run(100)
    assert h.lvd == 1 and not h.dirty
    c.run(H.SAVE_GAP_MS - 200, 100)
    assert not h.dirty
    c.run(200, 100)
    assert h.dirty


def test_important_event_right_after_boot_saves_at_once():
    c = Ctl()
    c.run(100)
    c.rig.pack.data_ok = False
    c.run(10)
    assert c.h.dirty


def _blob(h):
    buf = bytearray(H.BLOB_LEN + 3)  # a save's buffer is longer: only BLOB_LEN of it is the blob
    assert h.pack_into(buf) == H.BLOB_LEN and buf[H.BLOB_LEN:] == bytearray(3)
    return bytes(buf[:H.BLOB_LEN])


def test_round_trip():
    c = Ctl()
    c.rig.cells(3300, 3760)
    c.meas.alt_ma = 50000
    c.run(5000, 100)
    c.rig.cells(2400)
    c.run(100)
    h = c.h
    blob = _blob(h)
    g = H.History()
    assert g.from_bytes(blob)
    for name in ("lvd", "hv_stops", "low_temp", "high_temp", "data_losses", "oc_trips",
                 "min_cell_mv", "max_cell_mv", "min_temp_ddegc", "max_temp_ddegc", "alt_mah",
                 "_alt_mas", "count", "head"):
        assert getattr(g, name) == getattr(h, name), name
    assert g.events() == h.events() and not g.dirty
    assert _blob(g) == blob


def test_corrupt_blob_rejected_and_state_kept():
    c = Ctl()
    c.rig.cells(3300, 3760)
    h = c.run(100)
    blob = bytearray(_blob(h))
    g = H.History()
    g.lvd = 7
    for i in (0, 5, 40, len(blob) - 1):
        bad = bytearray(blob)
        bad[i] ^= 0x10
        assert not g.from_bytes(bytes(bad)), i
    assert not g.from_bytes(bytes(blob[:-1]))
    assert not g.from_bytes(b"")
    assert not g.from_bytes(None)
    assert g.lvd == 7 and g.count == 0


def test_clear():
    c = Ctl()
    c.rig.cells(3300, 3760)
    h = c.run(100)
    h.saved(c.rig.now)
    h.clear()
    assert h.hv_stops == 0 and h.count == 0 and h.events() == [] and h.dirty
    assert h.max_cell_mv == H.UNSEEN_MAX


def test_crc16_check_value():
    assert H.crc16(b"123456789", 9) == 0x29B1


def test_step_allocates_nothing():
    c = Ctl()
    r = c.rig
    h = c.h
    c.meas.alt_ma = 80000

    def go(ms):
        end = r.now + ms
        while r.now < end:
            r.tick()
            no_alloc(h.step, r.now, c.protection, c.pack, c.meas)

    go(100)
    r.cells(3000, 3760)
    r.temps(-50, 650)
    go(2000)
    r.meas.sys_ma = -450000
    go(20)
    r.pack.data_ok = False
    go(100)
    assert h.count >= 5 and h.alt_mah > 0
    for _ in range(2):  # the save stamp held past ticks.AGE_MAX
        r.now += 2 * 86400000
        go(20)


def test_urgent_event_after_quiet_days_saves_at_once():
    # the last save is days old: a stamp 2**29 ms (6.2 days) old reads as
    # negative unless held (bms/ticks.py hold())
    for days in (7, 13):
        c = Ctl()
        h = c.run(100)
        h.saved(c.rig.now)
        h = c.run(days * 86400000, 60000)
        assert not h.dirty, days
        c.rig.cells(2400)  # load disconnect: important
        h = c.run(10)
        assert h.lvd == 1 and h.dirty, days
