# micropython
from bms import linkframe as F
from bms.link import Decoder
from bms.linkframe import LinkMaster
from bms.pack import Pack, KIND_UNKNOWN, LOST_STALE, LOST_NO_ECHO
from mpytest import no_alloc
from linkgen import Rng, values, frame, scan, fuzz_stream, CheckingPack


def cells_frame(addr, seq, cells, temp, flags):
    b = bytearray(F.CELLS_BYTES)
    F.encode_cells(b, 0, addr, seq, cells, temp, flags)
    return b


def test_crc_check_value():
    # CRC-16/CCITT-FALSE of "123456789" is 0x29B1 by definition
    assert F.crc16(b"123456789", 0, 9) == 0x29B1


def test_frame_sizes_and_scan_budget():
    assert F.HEADER + F.LEN_CELLS + F.CRC_LEN == F.CELLS_BYTES == 19
    assert F.HEADER + F.LEN_REQUEST + F.CRC_LEN == F.REQUEST_BYTES == 8
    # 50 reports + echo at 10 bits per byte, 115200 baud, plus one byte of
    # forwarding delay per battery: under the 100 ms scan budget
    bits = (F.REQUEST_BYTES + 50 * F.CELLS_BYTES + 50) * 10
    assert bits * 1000 // 115200 < 100


def test_round_trip_every_field_at_its_limits():
    cases = (
        (1, 0, (0, 0, 0, 0), F.TEMP_DDEGC_MIN, 0),
        (F.MAX_BATTERIES, 255, (F.CELL_MV_MAX,) * 4, F.TEMP_DDEGC_MAX, F.F_BALANCING | F.F_ALARM),
        (25, 128, (0, 5000, 1, 4999), 0, F.F_ALARM),
        (2, 1, (3300, 3301, 3302, 3303), -1, F.F_BALANCING),
    )
    for addr, seq, cells, temp, flags in cases:
        pack = Pack(50)
        d = Decoder(pack)
        d.expect(seq)
        b = cells_frame(addr, seq, cells, temp, flags)
        d.feed(b, len(b), 5)
        assert d.frames_ok == 1, (addr, cells, temp)
        c = (addr - 1) * 4
        assert tuple(pack.cell_mv[c:c + 4]) == cells
        assert pack.temp_ddegc[addr - 1] == temp
        # a v1 alarm is stored with its kind unknown (issue 16 item 2)
        assert pack.flags[addr - 1] == flags | (F.PF_KIND_UNKNOWN if flags & F.F_ALARM else 0)
        assert pack.seq[addr - 1] == seq
        assert pack.last_ms[addr - 1] == 5


def test_request_round_trip_counts_the_ring():
    pack = Pack(3)
    d = Decoder(pack)
    b = bytearray(8)
    F.encode_request(b, 0, 3, 77)
    d.feed(b, 8, 1)
    assert d.echoes == 1 and pack.ring_count == 3 and pack.echo_ms == 1


def test_impossible_values_rejected_and_counted():
    bad = (
        (1, (5001, 3300, 3300, 3300), 200, 0),
        (1, (3300, 3300, 3300, 0xFFFF), 200, 0),
        (1, (3300, 3300, 3300, 3300), -401, 0),
        (1, (3300, 3300, 3300, 3300), 1251, 0),
        (1, (3300, 3300, 3300, 3300), -32768, 0),
        (1, (3300, 3300, 3300, 3300), 200, F.F_RESERVED),
        (1, (3300, 3300, 3300, 3300), 200, 0x04),
        (1, (3300, 3300, 3300, 3300), 200, 0x80),
        (0, (3300, 3300, 3300, 3300), 200, 0),
        (51, (3300, 3300, 3300, 3300), 200, 0),
        (255, (3300, 3300, 3300, 3300), 200, 0),
    )
    pack = Pack(50)
    d = Decoder(pack)
    d.expect(9)
    for addr, cells, temp, flags in bad:
        b = cells_frame(addr, 9, cells, temp, flags)
        d.feed(b, len(b), 1)
    assert d.rejected == len(bad) and d.frames_ok == 0
    assert pack.last_ms[0] == 0 and pack.cell_mv[0] == 0 and pack.temp_ddegc[0] == 0


def test_every_single_bit_error_is_caught():
    good = frame(7, 3)
    after = frame(8, 3)
    for bit in range(len(good) * 8):
        pack = Pack(50)
        d = Decoder(pack)
        d.expect(3)
        b = bytearray(good)
        b[bit >> 3] ^= 1 << (bit & 7)
        d.feed(b, len(b), 1)
        d.feed(after, len(after), 1)
        # the damaged frame is never stored, the one behind it always is
        assert pack.last_ms[6] == 0 and pack.cell_mv[24] == 0, bit
        assert d.frames_ok == 1 and pack.seq[7] == 3, bit
        assert d.crc_errors + d.bad_length + d.garbage_bytes > 0, bit


def test_any_chunking_gives_the_same_result():
    stream = scan(50, 42)
    ref = None
    for chunk in (1, 2, 3, 7, 19, 64, 256, 500, len(stream)):
        pack = Pack(50)
        d = Decoder(pack)
        d.expect(42)
        i = 0
        while i < len(stream):
            k = min(chunk, len(stream) - i)
            d.feed(stream[i:i + k], k, 1)
            i += k
        assert d.frames_ok == 50 and d.echoes == 1 and d.garbage_bytes == 0, chunk
        got = bytes(pack.cell_mv) + bytes(pack.temp_ddegc) + bytes(pack.flags)
        if ref is None:
            ref = got
        assert got == ref, chunk
    cells, temp, flags = values(50, 42)
    assert tuple(pack.cell_mv[196:200]) == cells and pack.temp_ddegc[49] == temp


def test_unknown_type_skipped_by_length_and_counted():
    b = bytearray(40)
    # a future type 0x31 with a 20-byte payload, then a normal report
    for k in range(20):
        b[4 + k] = 0xAA if k % 2 else 0x55  # sync-like bytes inside the payload
    n = F._seal(b, 0, 0x31, 20)
    stream = bytes(b[:n]) + frame(1, 1)
    for more in (frame(2, 1) + frame(3, 1), b""):
        pack = Pack(3)
        d = Decoder(pack)
        d.expect(1)
        d.feed(stream, len(stream), 1)
        # "AA 55 AA 27" near its end could start a 39-byte frame hiding inside
        # it: the frame is taken whole once more bytes or a quiet line say not
        assert d.unknown_type == 0 and d.frames_ok == 0
        d.feed(more, len(more), 1 + (0 if more else 51))
        assert d.unknown_type == 1 and d.frames_ok == (3 if more else 1)
        assert d.garbage_bytes == 0 and d.false_frames == 0


def test_bad_length_counted_and_resynced():
    b = frame(1, 1)
    b[3] = 12  # a v1 report is always 13 bytes
    stream = bytes(b) + frame(2, 1)
    pack = Pack(2)
    d = Decoder(pack)
    d.expect(1)
    d.feed(stream, len(stream), 1)
    assert d.bad_length == 1 and d.frames_ok == 1 and pack.seq[1] == 1
    b[3] = 200  # longer than any version allows
    d.feed(b, len(b), 2)
    assert d.bad_length == 2


def test_resync_within_one_frame_after_garbage():
    rng = Rng(7)
    for trial in range(200):
        junk = bytearray(rng.below(60) + 1)
        for k in range(len(junk)):
            junk[k] = rng.below(256)
        if trial % 3 == 0:
            junk[-2:] = b"\xaa\x55"  # a false start right before the frame
        stream = junk + frame(3, trial & 0xFF)
        pack = Pack(3)
        d = Decoder(pack)
        d.expect(trial & 0xFF)
        d.feed(stream, len(stream), 1)
        assert d.frames_ok == 1 and pack.seq[2] == trial & 0xFF, trial


def test_stalled_partial_frame_is_abandoned_and_rescanned():
    # a false header claiming 48 bytes hides a complete report behind it
    stream = bytearray(b"\xaa\x55\x41\x30") + frame(4, 9)
    pack = Pack(4)
    d = Decoder(pack)
    d.expect(9)
    assert not d.partial
    d.feed(stream, len(stream), 100)
    assert d.frames_ok == 0 and d.partial  # the controller goes on feeding a silent line
    d.feed(stream, 0, 130)
    assert d.frames_ok == 0 and d.partial
    d.feed(stream, 0, 151)
    assert d.stalled == 1 and d.frames_ok == 1 and pack.seq[3] == 9
    assert not d.partial


def test_fuzz_fixed_seed_no_corrupt_value_no_lost_frame():
    rng = Rng(20261123)
    stream, intact, stale = fuzz_stream(rng, 3000, 0)  # wrap: replies of 0 and 255
    pack = CheckingPack()
    d = Decoder(pack)
    d.expect(0)
    i = 0
    now = 0
    while i < len(stream):
        k = min(rng.below(256) + 1, len(stream) - i)
        d.feed(stream[i:i + k], k, now)
        pack.verify(now)
        i += k
        now += 1
    d.feed(stream, 0, now + 1000)  # flush a trailing partial frame
    # every intact frame stored (so resync never cost one), nothing else;
    # every replay of another scan refused
    assert pack.corrupt == 0
    assert d.frames_ok == intact, (d.frames_ok, intact)
    assert d.stale_seq == stale > 0, (d.stale_seq, stale)
    assert d.crc_errors > 0 and d.garbage_bytes > 0 and d.resyncs > 0


def step(d, buf, n, now):
    d.feed(buf, n, now)
    d.pack.evaluate(now, 1000)


def test_decoding_a_chunk_and_updating_the_pack_allocates_nothing():
    pack = Pack(50)
    d = Decoder(pack)
    a = scan(50, 1)
    b = scan(50, 2)
    noisy = bytearray(b)
    noisy[100] ^= 0x10  # a CRC error and a resync on the way
    d.expect(1)
    step(d, a, len(a), 10)  # warm up
    no_alloc(d.expect, 2)
    no_alloc(step, d, b, len(b), 110)
    assert pack.data_ok and pack.seen == 50 and d.frames_ok == 100
    no_alloc(step, d, noisy, len(noisy), 210)
    assert d.crc_errors == 1 and d.frames_ok == 149
    # every slow path: garbage, bad length, unknown type, rejected value,
    # an extra address, a replay of an old scan, then a partial frame given
    # up on a quiet line
    odd = bytearray(b"\x00\xaa\x55\x21\x0c\x13")
    odd += cells_frame(3, 5, (3300, 3300, 3300, 5001), 0, 0)
    odd += cells_frame(51, 5, (3300, 3300, 3300, 3300), 0, 0)
    odd += cells_frame(45, 5, (3300, 3300, 3300, 3300), 0, 0)  # above the configured 40
    odd += frame(7, 3)  # two scans old
    unknown = bytearray(12)
    F._seal(unknown, 0, 0x32, 6)
    odd += unknown
    odd += b"\xaa\x55\x21\x0d\x01"
    pack.configure(40)
    d.expect(5)
    before = (d.bad_length, d.rejected, d.unknown_type)
    no_alloc(step, d, odd, len(odd), 300)
    no_alloc(step, d, odd, 0, 400)
    assert (d.bad_length, d.rejected, d.unknown_type) == (before[0] + 1, before[1] + 2, before[2] + 1)
    assert d.stalled == 1 and pack.extras == 1 and d.stale_seq == 1
    no_alloc(step, d, a, 0, 5000)  # everything times out
    assert pack.lost and pack.seen == 0
    m = LinkMaster(100)
    no_alloc(m.poll, 0)
    no_alloc(m.poll, 100)


def test_link_master_cadence_and_sequence():
    m = LinkMaster(100)
    assert m.poll(1000) and m.n == 8
    found = F.find_frames(m.buf[:m.n])
    assert found == [(0, F.T_REQUEST, bytes((0, 1)))]
    assert not m.poll(1050) and not m.poll(1099)
    assert m.poll(1100) and m.buf[5] == 2
    assert m.poll(1205) and not m.poll(1299)  # fixed cadence despite a late tick
    assert m.poll(1300)
    assert m.poll(2000) and not m.poll(2099)  # after a long gap: no burst of catch-ups
    assert m.poll(2100)
    for _ in range(300):
        m.poll(m._next_ms)
    assert 0 <= m.seq <= 255
    # the same cadence across the wrap of the ms ticks (2**30)
    w = LinkMaster(100)
    t = 0x3FFFFFFF - 150
    assert w.poll(t) and not w.poll(t + 99)
    assert w.poll(t + 100) and not w.poll((t + 199) & 0x3FFFFFFF)
    assert w.poll((t + 200) & 0x3FFFFFFF) and w._next_ms == (t + 300) & 0x3FFFFFFF


def test_counters_wrap_at_2_pow_30():
    pack = Pack(50)
    d = Decoder(pack)
    d._st[5] = 0x3FFFFFFF  # frames_ok slot
    d._st[6] = 0x3FFFFFFF  # garbage slot
    d.crc_errors = 0x3FFFFFFF
    d.expect(1)
    bad = frame(2, 1)
    bad[10] ^= 1
    stream = b"\x00" + frame(1, 1) + bad
    d.feed(stream, len(stream), 1)
    assert d.frames_ok == 0 and d.crc_errors == 0
    assert 0 <= d.garbage_bytes < 0x3FFFFFFF
    m = LinkMaster()
    m.sent = 0x3FFFFFFF
    m._started = True
    assert m.poll(0) and m.sent == 0
    assert not m.poll(1)  # a wrapped count does not restart the cadence


def test_master_never_scans_faster_than_the_ring_can_answer():
    m = LinkMaster(100, 115200)
    m.configure(50, 100)
    # planned with report v2 (20 bytes, issue 16 item 2): 92 ms scan + 10 ms
    # margin (with v1's 19 bytes it was 88 ms and 100 fitted)
    assert m.period_ms == 102
    m.configure(50, 250)
    assert m.period_ms == 250
    slow = LinkMaster(100, 19200)
    slow.configure(50, 100)
    assert slow.period_ms == 562
    slow.configure(4, 100)
    assert slow.period_ms == 100


def test_only_reports_of_the_latest_request_or_the_one_before_are_stored():
    pack = Pack(2)
    d = Decoder(pack)
    before = frame(1, 0) + frame(2, 255)
    d.feed(before, len(before), 1)  # nothing asked yet: nothing answers
    assert d.stale_seq == 2 and d.frames_ok == 0 and pack.state[0] == pack.state[1] == 0, (d.stale_seq, d.frames_ok, pack.state[0], pack.state[1])
    for expect, good, bad in ((10, (10, 9), (8, 11, 138)),
                              (0, (0, 255), (254, 1)),  # wrap 255 -> 0
                              (1, (1, 0), (255, 2))):
        d.expect(expect)
        for seq in good:
            ok = d.frames_ok
            f = frame(1, seq) + frame(9, seq)  # fast path, then an extra address
            d.feed(f, len(f), 2)
            assert d.frames_ok == ok + 1 and pack.seq[0] == seq, (expect, seq)
        for seq in bad:
            stale = d.stale_seq
            f = frame(2, seq) + frame(9, seq)
            d.feed(f, len(f), 2)
            assert d.stale_seq == stale + 2 and pack.seq[1] != seq, (expect, seq)
    assert pack.extras == 6 and pack.state[1] == 0 and pack.last_ms[1] == 0


def test_a_replayed_old_report_is_refused_and_the_battery_goes_stale():
    # battery 2 keeps sending its report of scan 1: frozen cells must not look live
    pack = Pack(2)
    d = Decoder(pack)
    old = frame(2, 1)
    for k in range(15):
        seq = k + 1
        now = k * 100
        d.expect(seq)
        f = frame(1, seq) + old
        step(d, f, len(f), now + 20)
        assert pack.seq[1] == 1 and pack.last_ms[1] == 20 + (100 if k else 0)
    assert d.stale_seq == 13 and d.frames_ok == 15 + 2
    assert pack.lost == LOST_STALE | LOST_NO_ECHO and pack.seen == 1
    assert pack.timeouts[1] == 1 and pack.timeouts[0] == 0


def _forge(kind, length, tail, want):
    """A false frame start AA 55 kind length + payload whose CRC passes by
    chance: the payload ends in `tail` (bytes that are really the next
    report's), the two bytes before it are searched so that `want(crc)`
    holds. Returns (header + payload, crc)."""
    head = bytes((kind, length)) + bytes(length - len(tail) - 2)
    for f in range(65536):
        msg = head + bytes((f & 0xFF, f >> 8)) + tail
        crc = F.crc16(msg, 0, len(msg))
        if want(crc):
            return b"\xaa\x55" + msg, crc
    raise AssertionError("no payload gives that CRC")


def test_a_false_header_whose_crc_matches_by_chance_never_swallows_the_next_report():
    # garbage that looks like a whole frame with a good CRC (1 in 65536 false
    # headers) while the real report starts inside it: in its payload, at its
    # CRC, or at its last byte
    real = frame(1, 7)
    cases = []
    for kind, length in ((0x3C, 8), (F.T_CELLS, F.LEN_CELLS)):  # unknown type; a rejected report
        for m in (4, 2, 0):  # the report's first m bytes are the false payload's tail
            tail = bytes(real[:m])
            want = real[m] | real[m + 1] << 8
            false, _crc = _forge(kind, length, tail, lambda c, w=want: c == w)
            cases.append(false[:-m] if m else false)
    false, _crc = _forge(F.T_REQUEST, F.LEN_REQUEST, b"", lambda c: c == 0x55AA)  # an echo
    cases.append(false)
    false, crc = _forge(0x3C, 8, b"", lambda c: c >> 8 == 0xAA)  # CRC's last byte is the report's AA
    cases.append(false + bytes((crc & 0xFF,)))
    for garbage in cases:
        stream = b"\x00\x13" + garbage + real
        for chunk in (len(stream), 1, 5):
            pack = Pack(1)
            d = Decoder(pack)
            d.expect(7)
            for i in range(0, len(stream), chunk):
                part = stream[i:i + chunk]
                d.feed(part, len(part), 1)
            assert d.frames_ok == 1 and pack.seq[0] == 7, (bytes(garbage), chunk)
            assert tuple(pack.cell_mv[0:4]) == values(1, 7)[0]
            assert d.unknown_type == d.rejected == d.echoes == 0  # nothing of the false frame used
            assert d.false_frames == 1


def test_report_v2_carries_the_alarm_kinds():
    # issue 16 item 2: a v1 report's alarm flag does not say which alarm it
    # is; v2 (type 0x22) adds a byte of kinds. Both decode, on the fast path
    # (a scan of them) and the Python one (after an echo), and a v2 report
    # whose kinds and alarm flag disagree, or that sets reserved kind bits,
    # is rejected.
    assert F.HEADER + F.LEN_CELLS2 + F.CRC_LEN == F.CELLS2_BYTES == 20
    cases = ((0, 0, 0), (F.F_ALARM, F.A_LOW_TEMP, F.A_LOW_TEMP << F.PF_KIND_SHIFT),
             (F.F_ALARM | F.F_BALANCING, F.A_LOW_CELL | F.A_HIGH_TEMP,
              (F.A_LOW_CELL | F.A_HIGH_TEMP) << F.PF_KIND_SHIFT))
    for flags, alarms, kinds in cases:
        for echo_first in (False, True):
            pack = Pack(3)
            d = Decoder(pack)
            d.expect(4)
            b = bytearray(8) if echo_first else bytearray()
            if echo_first:
                F.encode_request(b, 0, 3, 4)
            for addr in (1, 2, 3):
                f = bytearray(F.CELLS2_BYTES)
                n = F.encode_cells2(f, 0, addr, 4, (3300, 3301, 3302, 3303), -55, flags if addr == 2 else 0,
                                    alarms if addr == 2 else 0)
                assert n == F.CELLS2_BYTES and F.find_frames(f)[0][1] == F.T_CELLS2
                b += f
            d.feed(b, len(b), 10)
            assert d.frames_ok == 3 and d.rejected == 0, (flags, alarms, echo_first)
            assert pack.flags[1] == flags | kinds and pack.flags[0] == 0
            pack.evaluate(10, 1000)
            assert pack.alarm_kinds == alarms and pack.battery_alarm == bool(alarms)
    for flags, alarms in ((F.F_ALARM, 0), (0, F.A_HIGH_CELL), (F.F_ALARM, 0x10), (F.F_ALARM, 0x81)):
        for echo_first in (False, True):
            pack = Pack(1)
            d = Decoder(pack)
            d.expect(4)
            b = bytearray(8) if echo_first else bytearray()
            if echo_first:
                F.encode_request(b, 0, 1, 4)
            f = bytearray(F.CELLS2_BYTES)
            F.encode_cells2(f, 0, 1, 4, (3300, 3300, 3300, 3300), 200, flags, alarms)
            b += f
            d.feed(b, len(b), 10)
            assert d.frames_ok == 0 and d.rejected == 1, (flags, alarms, echo_first)
    # v1 with its alarm flag: stored as an alarm of unknown kind
    pack = Pack(1)
    d = Decoder(pack)
    d.expect(4)
    b = cells_frame(1, 4, (3300, 3300, 3300, 3300), 200, F.F_ALARM)
    d.feed(b, len(b), 10)
    pack.evaluate(10, 1000)
    assert pack.battery_alarm and pack.alarm_kinds == KIND_UNKNOWN


def test_alarm_kinds_of_several_batteries_add_up_and_only_fresh_ones_count():
    pack = Pack(3)
    pf = F.F_ALARM
    pack.accept(1, 1, 3300, 3300, 3300, 3300, 200, pf | F.A_LOW_CELL << F.PF_KIND_SHIFT, 0)
    pack.accept(2, 1, 3300, 3300, 3300, 3300, 200, pf | F.A_LOW_TEMP << F.PF_KIND_SHIFT, 0)
    pack.accept(3, 1, 3300, 3300, 3300, 3300, 200, 0, 500)
    pack.evaluate(600, 1000)
    assert pack.alarm_kinds == F.A_LOW_CELL | F.A_LOW_TEMP
    pack.evaluate(1200, 1000)  # 1 and 2 stale
    assert pack.alarm_kinds == 0 and not pack.battery_alarm


def test_two_byte_crc_steps_equal_two_single_steps():
    # the fast path's CRC (bms/linkscan.py): c ^= b0 << 8 | b1;
    # c = T1[c >> 8] ^ T0[c & 0xFF], with T1 the second half of CRC_TABLE
    t = F.CRC_TABLE
    assert len(t) == 512
    rng = Rng(77)
    for _ in range(3000):
        c = rng.below(0x10000)
        b0 = rng.below(256)
        b1 = rng.below(256)
        one = c
        for b in (b0, b1):
            one = ((one << 8) & 0xFFFF) ^ t[((one >> 8) ^ b) & 0xFF]
        x = c ^ (b0 << 8 | b1)
        assert t[256 + (x >> 8)] ^ t[x & 0xFF] == one, (c, b0, b1)


def test_the_pack_keeps_the_arrays_the_decoder_writes():
    # the fast path writes the pack's arrays at addresses taken once
    # (Decoder.__init__): whatever the pack goes through, they stay its own
    pack = Pack(50)
    d = Decoder(pack)
    names = ("cell_mv", "temp_ddegc", "flags", "seq", "state", "last_ms")
    held = [getattr(pack, k) for k in names]
    assert d._arrays[1:] == tuple(held)
    stream = scan(50, 3)
    d.expect(3)
    for now in (0, 100, 5000):
        d.feed(stream, len(stream), now)
        pack.evaluate(now, 1000)
    pack.configure(7)
    pack.evaluate(6000, 300)
    pack.configure(50)
    pack.accept(2, 3, 3300, 3300, 3300, 3300, 0, 0, 6001)
    pack.echo(50, 6002)
    pack.evaluate(9000, 1000)
    for k, a in zip(names, held):
        assert getattr(pack, k) is a, k
    assert d._arrays[0] is F.CRC_TABLE
