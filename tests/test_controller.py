# micropython
# The whole control tick: frames in -> pack -> protection -> limiter -> outputs,
# against allocation-free hardware doubles.
from bms.settings import Settings
from bms.controller import Controller, CONTROL_PERIOD_MS
from bms import alternator as A
from bms import ticks
from fakehw import Hw
from mpytest import no_alloc


def make(count):
    s = Settings()
    assert s.update({"battery_count": count}) == []
    hw = Hw(count)
    return Controller(s, hw), hw


def run(ctl, t0, ticks):
    t = t0
    for _ in range(ticks):
        ctl.tick(t)
        t += CONTROL_PERIOD_MS
    return t


def gates(hw):
    return hw.chg_gate.on, hw.dsg_gate.on, hw.load_out.on, hw.charge_out.on


def test_everything_safe_until_the_first_full_scan():
    ctl, hw = make(4)
    hw.link.plugged = False
    t = run(ctl, 0, 300)
    assert gates(hw) == (False, False, False, False)
    assert hw.alt_gate.duty_cpct == 0
    hw.link.plugged = True
    run(ctl, t, 100)
    assert gates(hw) == (True, True, True, True)


def test_tick_allocates_nothing_with_50_batteries():
    ctl, hw = make(50)
    t = run(ctl, 0, 300)
    assert ctl.pack.full_scan and ctl.pack.data_ok
    assert gates(hw) == (True, True, True, True)
    no_alloc(run, ctl, t, 200)
    assert ctl.pack.data_ok and gates(hw) == (True, True, True, True)


def test_over_voltage_frame_opens_charge_within_a_scan():
    ctl, hw = make(50)
    t = run(ctl, 0, 300)
    hw.link.cells[37][2] = 3750
    hw.sense.sys_ma = 0  # no load: no discharge current for the ideal diode to pass (sysport.py)
    t0 = t
    while hw.chg_gate.on:
        t = run(ctl, t, 1)
        assert t - t0 < 300, "charge FET still on 300 ms after a 3.75 V cell was sent"
    assert hw.dsg_gate.on and not hw.charge_out.on and hw.load_out.on


def test_cable_unplugged_opens_both_paths_within_the_timeout():
    ctl, hw = make(4)
    t = run(ctl, 0, 300)
    hw.link.plugged = False
    t0 = t
    while hw.chg_gate.on or hw.dsg_gate.on:
        t = run(ctl, t, 1)
        assert t - t0 <= ctl.settings.link_timeout_ms + 200, "paths still closed after data loss"
    assert gates(hw) == (False, False, False, False)


def _limiting():
    # the alternator path as a resistive load: 150 A at 100 % duty
    s = Settings()
    assert s.update({"battery_count": 4, "alt_on_delay_ms": 0}) == []
    hw = Hw(4)
    ctl = Controller(s, hw)
    hw.sense.start_mv = 14200
    hw.sense.bat_mv = 13300
    t = 0
    for _ in range(600):
        ctl.tick(t)
        hw.sense.alt_ma = hw.alt_gate.duty_cpct * 15
        t += CONTROL_PERIOD_MS
    assert ctl.alternator.state == A.LIMITING and hw.alt_gate.duty_cpct > 0
    return ctl, hw, t


def test_failed_tick_leaves_the_gate_open_and_restarts_with_a_soft_start():
    # what app.py does: tick(), and on an exception safe_outputs()
    ctl, hw, t = _limiting()
    hist = ctl.history.step
    writes = []
    gate = hw.alt_gate.set_duty

    def spy(d):
        writes.append(d)
        gate(d)

    def broken(now_ms, p, pack, meas):
        raise ValueError("history bug")

    hw.alt_gate.set_duty = spy
    ctl.history.step = broken
    for _ in range(300):
        try:
            ctl.tick(t)
        except ValueError:
            ctl.safe_outputs()
        hw.sense.alt_ma = hw.alt_gate.duty_cpct * 15  # the gate stayed open
        t += CONTROL_PERIOD_MS
    assert writes and max(writes) == 0, max(writes)  # no pulse from a tick that failed
    assert ctl.alternator.limiter.duty_cpct == 0 and ctl.alternator.limiter.cmd_ma == 0
    ctl.history.step = hist  # fixed: the port starts again from a soft start
    peak = 0
    for _ in range(100):
        ctl.tick(t)
        hw.sense.alt_ma = hw.alt_gate.duty_cpct * 15
        peak = max(peak, hw.sense.alt_ma)
        t += CONTROL_PERIOD_MS
    assert ctl.alternator.state == A.RAMPING and peak < 30000, peak  # 25 A/s


def test_cable_unplugged_for_13_days_keeps_both_paths_open():
    # 6.2 days on, the last report's stamp would read as young again
    ctl, hw = make(4)
    t = run(ctl, 0, 300)
    hw.link.plugged = False
    t = run(ctl, t, 200)
    for _ in range(13 * 24 * 60):  # a tick a minute: the clock wraps at 2**30 ms
        t = ticks.add(t, 60000)
        ctl.tick(t)
        assert gates(hw) == (False, False, False, False), t
    hw.link.plugged = True
    run(ctl, t, 200)  # a scan, then DATA_RECOVER_MS of good data
    assert gates(hw) == (True, True, True, True)


def test_state_of_charge_is_counted_every_tick_without_bluetooth():
    # issue 16: the SoC was counted inside the Instant Readout of the
    # Bluetooth task, so it stopped whenever Bluetooth did; the control tick
    # counts it now (nothing here builds a readout)
    ctl, hw = make(1)
    hw.sense.sys_ma = -5000  # a 5 A load, no charge
    t = run(ctl, 0, 100)
    soc = ctl.soc
    assert soc.known and soc.cap_mah == ctl.settings.battery_capacity_ah * 1000
    used = soc.consumed_mah
    run(ctl, t, 6000)  # 60 s at 5 A: 83.3 mAh
    assert abs(soc.consumed_mah - used - 83) <= 1, soc.consumed_mah - used
    assert soc.ttg_min(-5000) > 0


def test_the_over_current_latch_is_read_logged_and_re_armed_by_the_policy():
    # Issue 15 defect 3: hw.sys_oc is read every tick; a set latch is an
    # overcurrent trip (short_circuit) of the retry/lockout series, logged in
    # the history, and the board's latch is re-armed only at the retry.
    from bms import reasons as R
    from bms.overcurrent import OC_RETRY_MS
    ctl, hw = make(2)
    t = run(ctl, 0, 200)
    assert hw.dsg_gate.on and hw.sys_oc.rearms == 1  # once at boot
    hw.sys_oc.set = True  # the comparator opened System+ in hardware
    t = run(ctl, t, 1)
    p = ctl.protection
    assert p.block_sys == R.SHORT_CIRCUIT and p.oc.trips == 1
    assert not hw.dsg_gate.on and not hw.chg_gate.on and hw.load_out.on
    assert ctl.history.oc_trips == 1
    ev = ctl.history.events()[-1]
    assert ev[1] == 14 and ev[2] & R.SHORT_CIRCUIT  # code: the reason's bit number
    t = run(ctl, t, OC_RETRY_MS // CONTROL_PERIOD_MS - 1)
    assert hw.sys_oc.set and hw.sys_oc.rearms == 1 and not hw.dsg_gate.on
    t = run(ctl, t, 1)
    assert not hw.sys_oc.set and hw.sys_oc.rearms == 2 and hw.dsg_gate.on
    for n in (2, 3):  # the short is still there: it trips at once, twice more
        hw.sys_oc.set = True
        t = run(ctl, t, 1)
        assert p.oc.trips == n
        t = run(ctl, t, OC_RETRY_MS // CONTROL_PERIOD_MS)
    assert p.block_sys == R.OC_LOCKOUT and p.oc.trips == 3 and ctl.history.oc_trips == 3
    t = run(ctl, t, 6000)
    assert hw.sys_oc.set and hw.sys_oc.rearms == 3 and not hw.dsg_gate.on


def test_a_false_header_at_the_end_of_a_burst_holds_no_report_past_the_quiet_line():
    # the last battery's report comes behind a header that claims 48 bytes:
    # on the silent line after the burst the decoder gives the header up
    # after 50 ms (link.py _STALL_MS) and finds the report, not a scan later
    from fakehw import Ring
    from bms import linkframe as F

    class FalseHeader(Ring):
        def __init__(self, count):
            Ring.__init__(self, count)
            self.out = bytearray(len(self.out) + 4)

        def write(self, buf, n):
            Ring.write(self, buf, n)
            if self.n:
                last = self.n - F.CELLS_BYTES
                report = bytes(self.out[last:self.n])
                self.out[last:last + 4] = b"\xaa\x55\x41\x30"
                self.out[last + 4:last + 4 + len(report)] = report
                self.n += 4
                self.sent_ms = now[0]

    s = Settings()
    assert s.update({"battery_count": 4, "scan_period_ms": 500}) == []
    hw = Hw(4)
    hw.link = FalseHeader(4)
    ctl = Controller(s, hw)
    now = [0]
    hw.link.sent_ms = None
    for _ in range(300):
        ctl.tick(now[0])
        now[0] += CONTROL_PERIOD_MS
    sent = hw.link.sent_ms
    assert ctl.decoder.stalled >= 1 and ctl.pack.data_ok
    # the last request went out at `sent`; its burst came in that tick
    assert 0 <= ticks.diff(ctl.pack.last_ms[3], sent) <= 50 + 2 * CONTROL_PERIOD_MS, (
        ctl.pack.last_ms[3], sent)


_OUTS = ("chg_fet", "chg_gate"), ("dsg_fet", "dsg_gate"), ("dsg_limit", "dsg_limit"), (
    "load_out", "load_out"), ("charge_out", "charge_out"), ("prealarm_out", "prealarm_out")


def _outputs_agree(ctl, hw, duty):
    p = ctl.protection
    for verdict, pin in _OUTS:
        assert getattr(hw, pin).on == getattr(p, verdict), (pin, getattr(p, verdict))
    assert hw.alt_gate.duty_cpct == duty


def test_every_output_says_what_the_tick_decided_though_only_changes_are_written():
    # outputs are written when they change (and all of them every 50 ticks):
    # after every tick, through charge limiting, an over-voltage cell, a
    # lost cable and its return, each pin holds the tick's verdict
    ctl, hw, t = _limiting()
    step = ctl.alternator.step
    said = [0]

    def spy(now_ms, meas, p):
        said[0] = step(now_ms, meas, p)
        return said[0]

    ctl.alternator.step = spy
    events = {100: ("cell", 3750), 400: ("cell", 3300), 700: ("plug", False), 1500: ("plug", True)}
    duties = set()
    for i in range(2000):
        if i in events:
            what, v = events[i]
            if what == "cell":
                hw.link.cells[2][1] = v
            else:
                hw.link.plugged = v
        ctl.tick(t)
        hw.sense.alt_ma = hw.alt_gate.duty_cpct * 15
        t += CONTROL_PERIOD_MS
        _outputs_agree(ctl, hw, said[0])
        duties.add(said[0])
    assert len(duties) > 3  # the duty moved, and every move reached the gate


def test_a_steady_tick_writes_the_outputs_only_every_half_second():
    ctl, hw = make(50)
    t = run(ctl, 0, 300)
    before = hw.chg_gate.writes, hw.prealarm_out.writes, hw.alt_gate.writes
    run(ctl, t, 500)
    after = hw.chg_gate.writes, hw.prealarm_out.writes, hw.alt_gate.writes
    assert [a - b for a, b in zip(after, before)] == [10, 10, 10]


def test_a_pin_moved_behind_the_controller_is_put_back_within_half_a_second():
    ctl, hw = make(4)
    t = run(ctl, 0, 300)
    assert gates(hw) == (True, True, True, True)
    hw.chg_gate.on = hw.load_out.on = False  # a glitch the controller did not see
    t = run(ctl, t, 50)
    assert gates(hw) == (True, True, True, True)


def test_safe_outputs_makes_the_next_tick_write_every_output():
    ctl, hw = make(4)
    t = run(ctl, 0, 300)
    ctl.safe_outputs()
    assert gates(hw) == (False, False, False, False)
    run(ctl, t, 1)
    assert gates(hw) == (True, True, True, True)


def test_the_tick_count_wraps_as_a_small_int_of_the_boards():
    ctl, hw = make(4)
    ctl.ticks = 0x3FFFFFFF
    run(ctl, 0, 2)
    assert ctl.ticks == 1


def test_after_safe_outputs_the_discharge_gate_closes_again_through_its_limited_start():
    # safe_outputs() opens every gate: the MOSFETs' tables must know, or the
    # next tick closes the discharge MOSFET fully on, onto an inverter's
    # capacitors, without the driver's 80 A limit first
    ctl, hw = make(4)
    order = []
    for name in ("dsg_limit", "dsg_gate"):
        pin = getattr(hw, name)

        def spy(on, name=name, set=pin.set):
            if on:
                order.append(name)
            set(on)

        pin.set = spy
    t = run(ctl, 0, 300)
    assert order[:2] == ["dsg_limit", "dsg_gate"] and hw.dsg_gate.on and not hw.dsg_limit.on
    for _ in range(2):  # an exception in a tick, then Ctrl-C: the same each time
        del order[:]
        ctl.safe_outputs()
        t = run(ctl, t, 1)
        assert order[:2] == ["dsg_limit", "dsg_gate"] and hw.dsg_limit.on, order
        t = run(ctl, t, 10)
        assert hw.dsg_gate.on and not hw.dsg_limit.on and gates(hw) == (True, True, True, True)
