# micropython
# The simulated battery ring against the real decoder and pack: timing at the
# line rate and every fault the scenarios can inject.
from bms.link import Decoder
from bms.linkframe import LinkMaster
from bms.linkframe import scan_ms, F_ALARM, CELLS_BYTES
from bms.pack import Pack, LOST_STALE, LOST_NO_ECHO, LOST_MISSING, LOST_DUPLICATE
from boards.sim.chain import BatteryChain


class Rig:
    def __init__(self, count, baud=115200, configured=None):
        self.chain = BatteryChain(count, baud)
        self.pack = Pack(configured or count)
        self.dec = Decoder(self.pack)
        self.master = LinkMaster(100, baud)
        self.master.configure(configured or count, 100)
        self.buf = bytearray(256)
        self.t = 0
        self.last_rx = 0
        self.ok_ticks = 0  # ticks that ended with pack.data_ok

    def tick(self, t, timeout_ms=1000):
        # in the order of Controller.tick
        n = self.chain.readinto(self.buf, t)
        if n:
            self.dec.feed(self.buf, n, t)
            self.last_rx = t
        if self.master.poll(t):
            self.chain.write(self.master.buf, self.master.n, t)
            self.dec.expect(self.master.seq)
        self.pack.evaluate(t, timeout_ms)
        if self.pack.data_ok:
            self.ok_ticks += 1

    def run(self, ms, timeout_ms=1000):
        end = self.t + ms
        while self.t < end:
            self.tick(self.t, timeout_ms)
            self.t += 10  # the control tick


def test_full_scan_of_50_batteries_fits_100_ms():
    assert scan_ms(50, 115200) <= 100  # planned with v2 reports (20 bytes)
    done_ms = scan_ms(50, 115200, CELLS_BYTES)  # this ring sends v1
    c = BatteryChain(50)
    m = LinkMaster()
    m.poll(0)
    c.write(m.buf, m.n, 0)
    pack = Pack(50)
    d = Decoder(pack)
    d.expect(m.seq)
    buf = bytearray(2048)
    early = c.readinto(buf, done_ms - 1)
    assert 0 < early < 8 + 50 * 19  # still arriving a millisecond before
    d.feed(buf, early, done_ms - 1)
    n = c.readinto(buf, done_ms)
    assert early + n == 8 + 50 * 19
    d.feed(buf, n, done_ms)
    assert d.frames_ok == 50 and d.echoes == 1 and pack.ring_count == 50


def test_bytes_arrive_at_line_rate():
    c = BatteryChain(2, baud=19200)
    m = LinkMaster()
    m.poll(0)
    c.write(m.buf, m.n, 0)
    buf = bytearray(64)
    # 10 bits per byte at 19200: 0.52 ms per byte, first byte after 3 byte times
    assert c.readinto(buf, 1) == 0
    assert c.readinto(buf, 2) == 1
    assert c.readinto(buf, 10) == 16  # (10 ms - 3 byte times) // 0.52 ms
    assert c.readinto(buf, 1000) == 46 - 17


def test_steady_scanning_is_ok_and_values_arrive():
    r = Rig(4)
    r.chain.set_cells(3, 3000, 3100, 3200, 3650)
    r.chain.set_temp(2, -85)
    r.chain.set_flags(4, F_ALARM)
    r.run(500)
    p = r.pack
    assert p.data_ok and p.full_scan and p.seen == 4
    assert p.min_cell_mv == 3000 and p.min_cell_at == 8
    assert p.max_cell_mv == 3650 and p.max_cell_at == 11
    assert p.min_temp_ddegc == -85 and p.battery_alarm
    assert r.dec.crc_errors == 0 and r.dec.garbage_bytes == 0


def test_noise_and_bit_flips_are_counted_and_survived():
    r = Rig(10)
    r.run(300)
    r.chain.noise(200)
    r.chain.flip_bits(5)
    r.run(300)
    d = r.dec
    assert d.garbage_bytes >= 150 and d.crc_errors + d.bad_length > 0
    r.run(200)
    assert r.pack.data_ok


def test_dropped_frames_and_out_of_range_values():
    r = Rig(3)
    r.run(200)
    r.chain.drop_frames(2)
    r.chain.set_cells(2, 3300, 5001, 3300, 3300)
    r.run(200)
    assert r.dec.rejected >= 1 and r.pack.cell_mv[5] != 5001
    r.run(1200)
    assert r.pack.lost == LOST_STALE and list(r.pack.timeouts[:3]) == [0, 1, 0]


def test_one_battery_silent_then_back():
    r = Rig(5)
    r.run(300)
    r.chain.silence(4, True)
    r.run(1100)
    assert r.pack.lost == LOST_STALE and r.pack.seen == 4
    r.chain.silence(4, False)
    r.run(200)
    assert r.pack.data_ok


def test_unplugged_cable_is_data_lost():
    r = Rig(3)
    r.run(300)
    r.chain.unplug(True)
    r.run(1100)
    assert r.pack.lost == LOST_STALE | LOST_NO_ECHO and r.pack.seen == 0
    r.chain.unplug(False)
    r.run(200)
    assert r.pack.data_ok


def test_fewer_batteries_on_the_ring_than_configured():
    r = Rig(3, configured=4)
    r.run(300)
    assert r.pack.lost == LOST_STALE | LOST_MISSING and r.pack.ring_count == 3


def test_tail_of_a_scan_read_after_the_next_request_is_kept():
    # a late tick finds more than the 256-byte buffer waiting: the rest of
    # scan S is decoded only after request S+1 went out
    r = Rig(50)
    r.run(320)  # scan S requested at 310 (50 batteries: a 102 ms period since report v2)
    ok = r.dec.frames_ok
    seq = r.master.seq
    r.tick(410)  # no tick for 100 ms: all of scan S waiting, 256 bytes read
    assert r.master.seq == seq + 1 and r.dec.frames_ok < ok + 50  # S+1 sent
    r.t = 420
    r.run(310)
    assert r.dec.stale_seq == 0 and r.dec.frames_ok == ok + 4 * 50, (r.dec.frames_ok - ok, r.dec.stale_seq, r.master.seq - seq)
    assert r.pack.data_ok


def test_a_battery_replaying_an_old_report_goes_stale():
    r = Rig(3)
    r.run(300)
    r.chain.replay(2, True)
    r.run(200)  # the report of the next scan is replayed from then on
    r.chain.set_cells(2, 3300, 3650, 3300, 3300)  # its cells move on; its reports do not
    ok = r.dec.frames_ok
    r.run(1100)
    d, p = r.dec, r.pack
    assert d.stale_seq >= 10 and d.frames_ok == ok + 2 * 11
    assert p.lost == LOST_STALE and p.seen == 2 and list(p.timeouts[:3]) == [0, 1, 0]
    assert p.cell_mv[5] == 3300
    r.chain.replay(2, False)
    r.run(200)
    assert p.data_ok and p.cell_mv[5] == 3650


def test_a_replay_matching_the_sequence_after_a_wrap_is_a_duplicate():
    # every 256 scans the replayed sequence number is current again for one
    # scan; in the next one it comes again, as a duplicate
    r = Rig(2)
    r.run(300)
    r.chain.replay(1, True)
    r.run(2000)
    assert r.pack.duplicates == 1  # the first replay answered S-1: a duplicate
    r.ok_ticks = 0
    r.run(256 * 100)
    d, p = r.dec, r.pack
    assert d.stale_seq >= 250 and p.duplicates == 2
    assert r.ok_ticks == 10  # data ok for the one scan that matches, no longer
    assert p.lost & (LOST_DUPLICATE | LOST_STALE)


class _GuardedRig(Rig):
    """Rig + the real Protection on its pack: counts ticks with a gate on."""

    def __init__(self, count):
        from bms.measure import Measurements
        from bms.protection import Protection
        from bms.fet_thermal import FetThermal
        from bms.settings import Settings
        from protect_rig import FakeRemote
        super().__init__(count)
        s = Settings()
        assert s.update({"battery_count": count}) == []
        self.prot = Protection(s, FetThermal(s))
        self.meas = Measurements()
        self.meas.stale = 0
        self.meas.fet_ddegc = 250
        self.remote = FakeRemote()
        self.gate_ticks = 0

    def tick(self, t, timeout_ms=1000):
        super().tick(t, timeout_ms)
        p = self.prot
        p.step(t, self.pack, self.meas, self.remote)
        if p.chg_fet or p.dsg_fet:
            self.gate_ticks += 1


def test_a_replaying_battery_never_reopens_the_paths():
    # the scan that matches the replayed sequence number (once in 256) makes
    # the data good for one scan; protection must not pulse the gates for it
    r = _GuardedRig(2)
    r.run(2000)
    assert r.prot.chg_fet and r.prot.dsg_fet
    r.chain.replay(1, True)
    r.run(2000)
    assert not r.prot.chg_fet and not r.prot.dsg_fet
    r.ok_ticks = r.gate_ticks = 0
    r.run(2 * 256 * 100)
    assert r.ok_ticks >= 10  # the matching scans came
    assert r.gate_ticks == 0


def test_a_battery_count_mismatch_says_so():
    # issue 16 item 5: 4 configured, 3 on the ring. The reason stayed `boot`
    # and the LED showed "boot" for ever; now the mismatch has its own
    # reason, status bit, LED code and history event
    from bms import controller as C
    from bms import reasons as R
    from bms.history import History

    class Alt:
        fault = 0

    r = _GuardedRig(3)
    r.pack.configure(4)
    r.master.configure(4, 100)
    h = History()
    for _ in range(100):  # 1 s
        r.tick(r.t)
        h.step(r.t, r.prot, r.pack, r.meas)
        r.t += 10
    p = r.prot
    assert r.pack.count_mismatch and not r.pack.full_scan
    assert p.block_chg == R.BOOT | R.COUNT_MISMATCH and p.block_dsg == R.BOOT | R.COUNT_MISMATCH
    assert R.names(p.block_chg) == ["boot", "count_mismatch"]
    assert C.LED_NAMES[C.code_for(p, r.pack, Alt())] == "battery_count"
    assert r.gate_ticks == 0
    codes = [h.log_code[(h.head - 1 - i) % len(h.log_code)] for i in range(h.count)]
    assert codes.count(15) == 1 and R.REASON_NAMES[15] == "count_mismatch"
    # and after a boot: a battery leaves the ring
    r = _GuardedRig(3)
    r.run(2000)
    assert not r.pack.count_mismatch and C.LED_NAMES[C.code_for(r.prot, r.pack, Alt())] == "ok"
    r.pack.configure(2)
    r.master.configure(2, 100)
    r.run(300)
    assert r.pack.count_mismatch and r.prot.block_dsg & R.COUNT_MISMATCH
    assert C.LED_NAMES[C.code_for(r.prot, r.pack, Alt())] == "battery_count"
    r.pack.configure(3)
    r.master.configure(3, 100)
    r.run(2000)
    assert not r.pack.count_mismatch and r.prot.atc and r.prot.atd


def test_the_status_carries_the_count_mismatch_bit():
    from bms.client import decode_status
    from bms.protocol import encode_status, PACK_BITS
    import bleapp_double
    assert PACK_BITS[4] == "count_mismatch"
    ctl = bleapp_double.make_controller()
    assert decode_status(encode_status(ctl))["count_mismatch"] is False
    ctl.pack.count_mismatch = True
    st = decode_status(encode_status(ctl))
    assert st["count_mismatch"] is True and st["pack_flags"] & 16
