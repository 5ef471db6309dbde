# micropython
from bms import pack as P
from bms.pack import Pack
from bms.ticks import PERIOD
from mpytest import raises, no_alloc


def report(pack, addr, seq, now, cells=(3300, 3300, 3300, 3300), temp=250, flags=0):
    pack.accept(addr, seq, cells[0], cells[1], cells[2], cells[3], temp, flags, now)


def full_scan(pack, count, seq, now, ring=None):
    pack.echo(count if ring is None else ring, now)
    for a in range(1, count + 1):
        report(pack, a, seq, now)


def test_starts_lost_and_not_ok():
    p = Pack(4)
    p.evaluate(0, 1000)
    assert not p.data_ok and not p.full_scan
    assert p.lost == P.LOST_STALE | P.LOST_NO_ECHO
    assert p.seen == 0 and p.min_cell_at == -1 and p.max_cell_at == -1


def test_configure_checks_range():
    with raises(ValueError):
        Pack(0)
    p = Pack(1)
    with raises(ValueError):
        p.configure(51)
    assert p.configured == 1
    p.configure(50)
    assert p.configured == 50


def test_full_scan_gives_ok_and_extremes():
    p = Pack(3)
    p.echo(3, 10)
    report(p, 1, 1, 10, (3300, 3310, 3320, 3330), 200, 0)
    report(p, 2, 1, 10, (3290, 3400, 3305, 3305), -55, P_BAL)
    report(p, 3, 1, 10, (3301, 3302, 3303, 3304), 310, 0)
    p.evaluate(20, 1000)
    assert p.data_ok and p.lost == 0 and p.full_scan and p.seen == 3
    assert p.min_cell_mv == 3290 and p.min_cell_at == 4
    assert p.max_cell_mv == 3400 and p.max_cell_at == 5
    assert p.min_temp_ddegc == -55 and p.max_temp_ddegc == 310
    assert p.pack_mv == (13260 + 13300 + 13210) // 3
    assert not p.battery_alarm


P_BAL = 0x01
P_ALARM = 0x02


def test_battery_alarm_flag():
    p = Pack(2)
    full_scan(p, 2, 1, 0)
    report(p, 2, 1, 0, flags=P_ALARM | P_BAL)
    p.evaluate(0, 1000)
    assert p.battery_alarm


def test_staleness_per_battery_and_timeout_counts():
    p = Pack(2)
    full_scan(p, 2, 1, 0)
    p.evaluate(1000, 1000)  # exactly the timeout: still fresh
    assert p.data_ok
    p.echo(2, 1000)
    report(p, 1, 2, 1000)
    p.evaluate(1001, 1000)
    assert p.lost == P.LOST_STALE and p.seen == 1 and not p.data_ok
    assert list(p.timeouts[:2]) == [0, 1]
    assert p.full_scan  # both have reported since boot
    # extremes only from fresh batteries
    report(p, 1, 3, 1001, (3000, 3000, 3000, 3000))
    p.evaluate(1002, 1000)
    assert p.min_cell_mv == 3000 and p.max_cell_mv == 3000
    assert p.min_cell_at == 0 and p.max_cell_at == 0  # ties: the lowest index
    p.evaluate(1500, 1000)
    assert list(p.timeouts[:2]) == [0, 1]  # counted once per transition
    report(p, 2, 4, 1600)
    p.evaluate(1600, 1000)
    assert p.seen == 2 and p.lost == 0


def test_timeout_is_configurable():
    p = Pack(1)
    full_scan(p, 1, 1, 0)
    p.evaluate(400, 500)
    assert p.data_ok
    p.evaluate(400, 300)
    assert p.lost == P.LOST_STALE | P.LOST_NO_ECHO
    # stale is latched: a longer timeout does not revive old data, a report does
    p.evaluate(400, 500)
    assert p.lost == P.LOST_STALE | P.LOST_NO_ECHO
    full_scan(p, 1, 2, 410)
    p.evaluate(410, 500)
    assert p.data_ok


def test_never_seen_battery_is_missing_data():
    p = Pack(3)
    full_scan(p, 2, 1, 0, ring=3)
    p.evaluate(10, 1000)
    assert p.lost == P.LOST_STALE and not p.full_scan and p.seen == 2


def test_ring_count_missing_and_extra():
    p = Pack(3)
    full_scan(p, 3, 1, 0, ring=2)
    p.evaluate(10, 1000)
    assert p.lost == P.LOST_MISSING
    full_scan(p, 3, 2, 20, ring=4)
    p.evaluate(30, 1000)
    assert p.lost == P.LOST_EXTRA


def test_report_above_configured_count_is_extra_and_not_stored():
    p = Pack(2)
    full_scan(p, 2, 1, 0)
    report(p, 3, 1, 0, (1, 2, 3, 4))
    p.evaluate(10, 1000)
    assert p.lost == P.LOST_EXTRA and p.extras == 1
    assert p.cell_mv[8] == 0 and p.last_ms[2] == 0
    full_scan(p, 2, 2, 1100)
    p.evaluate(1100, 1000)  # the extra report is older than the timeout now
    assert p.lost == 0


def test_duplicate_address_in_one_scan():
    p = Pack(2)
    full_scan(p, 2, 1, 0)
    report(p, 2, 1, 5)
    p.evaluate(10, 1000)
    assert p.lost == P.LOST_DUPLICATE and p.duplicates == 1
    full_scan(p, 2, 2, 100)  # a new scan: same address, new sequence, fine
    p.evaluate(110, 1000)
    assert p.lost == P.LOST_DUPLICATE  # still inside the timeout window
    full_scan(p, 2, 3, 1100)
    p.evaluate(1100, 1000)
    assert p.lost == 0 and p.duplicates == 1


def test_unplugged_cable_no_echo():
    p = Pack(1)
    full_scan(p, 1, 1, 0)
    report(p, 1, 2, 1500)  # data without a closed loop (e.g. a tap on the line)
    p.evaluate(1500, 1000)
    assert p.lost == P.LOST_NO_ECHO


def test_across_tick_wrap():
    p = Pack(2)
    t0 = PERIOD - 50
    full_scan(p, 2, 1, t0)
    p.evaluate(20, 1000)  # 70 ms later, after the wrap
    assert p.data_ok
    p.evaluate(t0 + 1001 - PERIOD, 1000)
    assert p.lost & P.LOST_STALE


DAY_MS = 86400000


def test_dead_link_stays_lost_for_13_days():
    # a stamp 2**29 ms (6.2 days) old reads as young again: stale must stick
    p = Pack(2)
    full_scan(p, 2, 1, 0)
    p.evaluate(0, 1000)
    assert p.data_ok
    t = 0
    while t < 13 * DAY_MS:
        t += 60000  # the clock moves on; the link stays dead
        p.evaluate(t, 1000)
        assert p.lost == P.LOST_STALE | P.LOST_NO_ECHO and p.seen == 0, t
    assert list(p.timeouts[:2]) == [1, 1]
    full_scan(p, 2, 2, t)  # the cable is back
    p.evaluate(t, 1000)
    assert p.data_ok and p.seen == 2


def test_one_stray_extra_and_duplicate_are_forgotten_for_13_days():
    p = Pack(1)
    full_scan(p, 1, 1, 0)
    report(p, 1, 1, 0)  # a duplicate
    report(p, 7, 1, 0)  # a stray report from an unconfigured address
    p.evaluate(0, 1000)
    assert p.lost == P.LOST_EXTRA | P.LOST_DUPLICATE
    t = 0
    seq = 1
    while t < 13 * DAY_MS:
        t += 60000
        seq = (seq + 1) & 0xFF
        full_scan(p, 1, seq, t)
        p.evaluate(t, 1000)
        assert p.data_ok, (t, p.lost)
    assert p.extras == 1 and p.duplicates == 1


def test_battery_left_out_of_the_count_is_stale_when_back_days_later():
    p = Pack(2)
    full_scan(p, 2, 1, 0)
    p.evaluate(0, 1000)
    p.configure(1)
    t = 0
    while t < 7 * DAY_MS:
        t += 60000
        p.evaluate(t, 1000)
    p.configure(2)
    full_scan(p, 1, 2, t, ring=2)  # battery 2 does not answer
    p.evaluate(t, 1000)
    assert p.seen == 1 and p.lost == P.LOST_STALE


def test_lost_names():
    assert P.lost_names(0) == []
    assert P.lost_names(P.LOST_STALE | P.LOST_DUPLICATE) == ["stale", "duplicate"]


def test_evaluate_50_batteries_allocates_nothing():
    p = Pack(50)
    full_scan(p, 50, 1, 0)
    p.evaluate(0, 1000)
    no_alloc(p.evaluate, 10, 1000)
    assert p.data_ok and p.seen == 50
    no_alloc(report, p, 7, 2, 20)
    no_alloc(p.evaluate, 5000, 1000)
    assert p.seen == 0 and p.timeouts[0] == 1


class _Reference:
    """What evaluate() must say, worked out from scratch every time: the
    pack merges reports into standing figures and only looks at the time
    when a battery or a window can time out, so it is checked against this."""

    def __init__(self, count):
        self.count = count
        self.fresh = [False] * 50
        self.have = [False] * 50
        self.last = [0] * 50

    def configure(self, count):
        self.count = count
        for b in range(count, 50):
            self.fresh[b] = False

    def report(self, addr, now):
        if addr <= self.count:
            self.fresh[addr - 1] = True
            self.have[addr - 1] = True
            self.last[addr - 1] = now

    def figures(self, pack, now, timeout):
        from bms.ticks import diff
        lo = hi = lo_at = hi_at = -1
        tlo = thi = None
        total = seen = alarms = 0
        for b in range(self.count):
            if self.fresh[b] and diff(now, self.last[b]) > timeout:
                self.fresh[b] = False
            if not self.fresh[b]:
                continue
            seen += 1
            for j in range(4 * b, 4 * b + 4):
                v = pack.cell_mv[j]
                total += v
                if lo_at < 0 or v < lo:
                    lo, lo_at = v, j
                if hi_at < 0 or v > hi:
                    hi, hi_at = v, j
            t = pack.temp_ddegc[b]
            tlo = t if tlo is None or t < tlo else tlo
            thi = t if thi is None or t > thi else thi
            alarms |= pack.flags[b]
        full = all(self.have[b] for b in range(self.count))
        if not seen:
            return (0, full, 0, -1, 0, -1, 0, 0, 0, 0)
        return (seen, full, lo, lo_at, hi, hi_at, tlo, thi, total // seen, alarms >> P.PF_KIND_SHIFT)


def _figures(p):
    return (p.seen, p.full_scan, p.min_cell_mv, p.min_cell_at, p.max_cell_mv, p.max_cell_at,
            p.min_temp_ddegc, p.max_temp_ddegc, p.pack_mv, p.alarm_kinds)


def test_merged_figures_match_a_full_count_under_random_reports():
    # few distinct values, so extremes tie, move away from their holder and
    # come back; alarms set and clear; batteries time out and return
    from linkgen import Rng
    rng = Rng(1234)
    cells = (3290, 3300, 3300, 3310)
    temps = (-55, 250, 250, 310)
    flags = (0, 0, P_BAL, P_ALARM | (1 << P.PF_KIND_SHIFT), P_ALARM | (8 << P.PF_KIND_SHIFT))
    count = 6
    p = Pack(count)
    ref = _Reference(count)
    now = 0
    timeout = 1000
    for step in range(3000):
        k = rng.below(20)
        if k < 12:
            addr = rng.below(count + 1) + 1  # sometimes one above the count
            c = tuple(cells[rng.below(4)] for _ in range(4))
            report(p, addr, step & 0xFF, now, c, temps[rng.below(4)], flags[rng.below(5)])
            ref.report(addr, now)
        elif k < 18:
            now += rng.below(400)
        elif k == 18:
            timeout = 300 + rng.below(1200)
        elif rng.below(8):
            p.echo(count, now)
        else:  # batteries above a lower count go stale at once
            count = 4 + rng.below(3)
            p.configure(count)
            ref.configure(count)
        p.evaluate(now, timeout)
        assert _figures(p) == ref.figures(p, now, timeout), (step, _figures(p), ref.figures(p, now, timeout))
        assert p.data_ok == (p.lost == 0) and (p.lost & P.LOST_STALE != 0) == (p.seen < count)


_VERDICT = ("lost", "data_ok", "count_mismatch", "seen", "full_scan", "min_cell_mv", "min_cell_at",
            "max_cell_mv", "max_cell_at", "min_temp_ddegc", "max_temp_ddegc", "pack_mv",
            "battery_alarm", "alarm_kinds", "extras", "duplicates")


def _verdict(p):
    return tuple(getattr(p, k) for k in _VERDICT) + tuple(p.timeouts)


def test_gated_evaluate_says_what_an_ungated_one_says():
    # evaluate() skips the link's verdict when only figures other than the
    # counts moved, merges reports instead of recounting and copies only
    # the figures that changed. Its twin has every gate open: each step it
    # recounts from scratch and works the verdict out again. Echoes with the
    # wrong count, extra and duplicate reports open windows that time out;
    # the count and the timeout change; time jumps past the wrap.
    from linkgen import Rng
    rng = Rng(4321)
    cells = (3290, 3300, 3300, 3310, 3650)
    temps = (-55, 250, 250, 310)
    flags = (0, 0, P_BAL, P_ALARM | (1 << P.PF_KIND_SHIFT), P_ALARM | (8 << P.PF_KIND_SHIFT))
    count = 8
    gated, twin = Pack(count), Pack(count)
    ref = _Reference(count)
    now = PERIOD - 20000  # wraps within the run
    timeout = 1000
    seq = 0
    for step in range(6000):
        k = rng.below(24)
        if k < 14:
            addr = rng.below(count + 1) + 1  # sometimes one above the count
            c = tuple(cells[rng.below(5)] for _ in range(4))
            s = seq if rng.below(6) else (seq - 1) & 0xFF  # sometimes a duplicate
            t = temps[rng.below(4)]
            f = flags[rng.below(5)]
            for q in (gated, twin):
                report(q, addr, s, now, c, t, f)
            ref.report(addr, now)
        elif k < 20:
            now = (now + rng.below(150 if rng.below(4) else 1500)) % PERIOD
        elif k == 20:
            timeout = 300 + rng.below(1200)
        elif k == 21:
            seq = (seq + 1) & 0xFF
            ring = count + rng.below(3) - 1 if not rng.below(4) else count
            gated.echo(ring, now)
            twin.echo(ring, now)
        elif k == 22 and rng.below(4) == 0:
            count = 4 + rng.below(5)
            for q in (gated, twin):
                q.configure(count)
            ref.configure(count)
        gated.evaluate(now, timeout)
        twin.dirty = twin._events = twin._rescan = True  # every gate open
        twin._due_ms = now
        twin.evaluate(now, timeout)
        assert _verdict(gated) == _verdict(twin), (step, _verdict(gated), _verdict(twin))
        assert _figures(gated) == ref.figures(gated, now, timeout), step


def test_a_full_scan_follows_the_battery_count_both_ways():
    # the owner corrects the count to the cable's battery: the scan is full at
    # once (it stayed not full, every path open, until a battery timed out);
    # and a count raised above the cable makes it not full
    p = Pack(2)
    now = 0
    for k in range(5):
        full_scan(p, 1, k, now)
        p.evaluate(now, 1000)
        now += 100
    assert not p.full_scan and p.lost
    p.configure(1)
    for k in range(3):
        full_scan(p, 1, 10 + k, now)
        p.evaluate(now, 1000)
        now += 100
    assert p.full_scan and p.data_ok
    p.configure(2)
    full_scan(p, 1, 20, now)
    p.evaluate(now, 1000)
    assert not p.full_scan and not p.data_ok
