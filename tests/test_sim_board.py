# micropython
# The sim board's drivers: same interface as the real ones, integer-only and
# allocation-free on the control path, driving the plant.
from bms.measure import Measurements
from boards.sim.clock import VirtualClock
from boards.sim.hw import SimBoard
from boards.sim.plant import Plant, DUTY_MAX_CPCT
from mpytest import raises, no_alloc


class RecordingChain:
    """Stands in for boards/sim/chain.py: records what the board hands it."""

    def __init__(self):
        self.cells = {}
        self.temps = {}
        self.written = []
        self.read_at = []

    def set_cells(self, addr, a, b, c, d):
        self.cells[addr] = (a, b, c, d)

    def set_temp(self, addr, t):
        self.temps[addr] = t

    def write(self, buf, n, now_ms):
        self.written.append((bytes(buf[:n]), now_ms))

    def readinto(self, buf, now_ms):
        self.read_at.append(now_ms)
        buf[0] = 0x55
        return 1


def board(n=2, **params):
    clock = VirtualClock(1000)
    p = Plant(n, params or None)
    return SimBoard(p, RecordingChain(), clock, "/tmp/bms-sim-test-store"), clock


def test_everything_starts_safe():
    b, _ = board()
    p = b.plant
    assert p.alt_duty_cpct == 0 and not p.chg_on and not p.dsg_on
    assert not p.load_out and not p.charge_out and not p.prealarm_out
    assert b.name == "sim"


def test_switches_and_pwm_drive_the_plant():
    b, _ = board()
    b.chg_gate.set(True)
    b.dsg_gate.set(1)
    b.load_out.set(True)
    b.alt_gate.set_duty(2500)
    p = b.plant
    assert p.chg_on and p.dsg_on is True and p.load_out and p.alt_duty_cpct == 2500
    with raises(ValueError):
        b.alt_gate.set_duty(DUTY_MAX_CPCT + 1)
    with raises(ValueError):
        b.alt_gate.set_duty(-1)
    assert p.alt_duty_cpct == 2500


def test_sense_reads_quantised_values_near_the_truth():
    b, _ = board(soc_pct=50)
    b.plant.load_a = 50.0
    b.dsg_gate.set(True)
    for _ in range(20):
        b.step(10)
    m = Measurements()
    for _ in range(50):
        b.sense.read(m)
        assert not m.stale
        assert abs(m.bat_mv - b.plant.bat_mv) <= 3 * 5, (m.bat_mv, b.plant.bat_mv)
        assert abs(m.sys_ma - b.plant.sys_ma) <= 3 * 196
        assert abs(m.fet_ddegc - b.plant.fet_ddegc) <= 1
    counts = (m.bat_mv * 1000 + 4882) // 4883  # on the ADC's 4.883 mV grid
    assert counts * 4883 // 1000 == m.bat_mv


def test_stale_channels_freeze_and_are_reported():
    from bms.measure import CH_REMOTE_L, CH_REMOTE_H
    b, _ = board()
    b.plant.set_remote("bridged")
    m = Measurements()
    b.sense.read(m)
    l_mv = m.remote_l_mv
    b.plant.set_remote("open")
    b.sense.stale = CH_REMOTE_L | CH_REMOTE_H  # a dead external ADC
    no_alloc(b.sense.read, m)
    assert m.stale == CH_REMOTE_L | CH_REMOTE_H and m.remote_l_mv == l_mv
    assert abs(m.bat_mv - b.plant.bat_mv) <= 3 * 5  # the other channels still read
    b.sense.stale = 0
    for _ in range(4):  # the Pico W's round robin reaches Remote L within 4 reads
        b.sense.read(m)
    assert not m.stale and m.remote_l_mv > l_mv


def test_sense_and_gates_do_not_allocate():
    b, _ = board()
    m = Measurements()
    b.sense.read(m)
    no_alloc(b.sense.read, m)
    no_alloc(b.alt_gate.set_duty, 5000)
    no_alloc(b.chg_gate.set, True)
    no_alloc(b.led.set, True)
    no_alloc(b.wdt.feed)


def test_the_link_moves_with_the_plant_and_the_tick_only_copies():
    b, clock = board()
    buf = bytearray(8)
    clock.advance(250)
    assert b.link.readinto(buf) == 0  # nothing has been pulled off the line yet
    no_alloc(b.link.write, b"\x01\x02\x03", 2)
    assert b.chain.written == []  # the line moves in the plant's step
    b.t_ms = clock.ticks_ms()
    b.step(10)
    assert b.chain.written[-1] == (b"\x01\x02", 1250)  # sent at the time it was written
    assert b.chain.read_at[-1] == 1260  # what has arrived by the end of the step
    assert no_alloc(b.link.readinto, buf) == 1 and buf[0] == 0x55
    assert b.link.readinto(buf) == 0


class FloodChain(RecordingChain):
    def readinto(self, buf, now_ms):
        for i in range(700):
            buf[i] = i & 0xFF
        return 700


def _drain(link):
    buf = bytearray(256)
    got = []
    while True:
        n = link.readinto(buf)
        if not n:
            return got
        got.extend(buf[:n])


def test_a_full_receive_ring_loses_bytes_as_the_uart_does():
    from boards.sim.hw import RX_RING
    clock = VirtualClock(0)
    b = SimBoard(Plant(1), FloodChain(), clock, "/tmp/bms-sim-test-store")
    b.step(10)
    b.step(10)
    assert b.link.rx_lost == 0
    b.step(10)  # 2100 bytes into a 2048-byte ring: the last 52 are lost
    assert b.link.rx_lost == 3 * 700 - RX_RING
    chunk = [i & 0xFF for i in range(700)]
    got = _drain(b.link)
    assert got == chunk + chunk + chunk[:RX_RING - 1400]
    b.step(10)  # into the ring from its end round to its start
    assert _drain(b.link) == chunk and b.link.rx_lost == 52


def test_battery_data_reaches_the_chain_every_cell_step():
    b, _ = board(3)
    assert sorted(b.chain.cells) == [1, 2, 3]
    b.plant.soc[5] -= 0.5  # battery 2, cell 2 drops
    for _ in range(10):
        b.step(10)
    assert b.chain.cells[2][1] < b.chain.cells[2][0] - 100
    assert b.chain.temps[1] == b.plant.temp_ddegc(0)


def test_watchdog_starves_without_feeding():
    b, clock = board()
    b.wdt.feed()
    clock.advance(4000)
    assert not b.wdt.starved(clock.ticks_ms())
    clock.advance(2000)
    assert b.wdt.starved(clock.ticks_ms())
    b.wdt.feed()
    assert not b.wdt.starved(clock.ticks_ms())


def test_store_is_the_boards_atomic_store_in_a_folder():
    b, _ = board()
    assert b.store.write("settings", b"one") and b.store.write("settings", b"two")
    assert b.store.read("settings") == b"two"
    assert b.store.read("missing") is None
    b.store.fs.write(b.store.root + "settings", b"torn")  # a damaged copy
    assert b.store.read("settings") == b"one"  # the .bak, reported
    assert "settings.bak" in b.store.problems[-1]


def test_led_counts_changes():
    b, _ = board()
    b.led.set(True)
    b.led.set(True)
    b.led.set(False)
    assert b.led.changes == 2 and not b.led.on


def test_the_plant_and_the_firmware_agree_on_full_duty():
    from boards.sim import plant
    from bms.alt_limiter import DUTY_MAX_CPCT
    assert plant.DUTY_MAX_CPCT == DUTY_MAX_CPCT == 10000


def test_a_600_a_short_opens_system_plus_within_one_plant_sample_without_the_firmware():
    # Issue 15 defect 3: the comparator latch is the board's, not the
    # firmware's: with the control task stalled (no tick at all) the path
    # opens in the sample the short appears in, and stays open until the
    # latch is re-armed.
    b, _ = board()
    p = b.plant
    b.chg_gate.set(True)
    b.dsg_gate.set(True)
    p.load_a = 50.0
    b.step(10)
    assert p.sys_a == -50.0 and not b.sys_oc.tripped()
    p.load_a = 600.0  # a short on System+
    b.step(10)
    assert p.sys_a == 0.0 and b.sys_oc.tripped() and p.sys_oc_trips == 1
    for _ in range(100):  # the gates are still driven on: the latch holds
        b.step(10)
        assert p.sys_a == 0.0
    b.sys_oc.rearm()  # re-armed onto the short: set again in the next sample
    b.step(10)
    assert p.sys_a == 0.0 and b.sys_oc.tripped() and p.sys_oc_trips == 2
    p.load_a = 50.0
    b.sys_oc.rearm()
    b.step(10)
    assert p.sys_a == -50.0 and not b.sys_oc.tripped()


def test_the_comparator_threshold_and_direction():
    b, _ = board()
    p = b.plant
    b.chg_gate.set(True)
    b.dsg_gate.set(True)
    p.load_a = 449.0  # below the threshold: the software limits' business
    b.step(10)
    assert p.sys_a == -449.0 and not b.sys_oc.tripped()
    p.load_a = 451.0
    b.step(10)
    assert b.sys_oc.tripped() and p.sys_a == 0.0
    b.sys_oc.rearm()
    b.dsg_gate.set(False)  # no path: no current, nothing to trip
    b.step(10)
    assert not b.sys_oc.tripped()


def test_the_latch_driver_reads_the_plant_without_allocating():
    b, _ = board()
    no_alloc(b.sys_oc.tripped)
    no_alloc(b.sys_oc.rearm)


def _inverter_board(cap_mf=30):
    b, _ = board(1, sys_cap_mf=cap_mf)
    b.plant.load_a = 1.5  # an inverter's idle draw; its capacitors start empty
    b.chg_gate.set(True)
    return b, b.plant


def test_closing_unlimited_onto_empty_capacitors_trips_the_latch():
    # Issue 16 item 4: 13 V across 2.5 mOhm is kA of inrush: the comparator
    # opens the path in that sample; no sample carries it
    b, p = _inverter_board()
    b.dsg_gate.set(True)
    b.step(10)
    assert b.sys_oc.tripped() and p.sys_a == 0.0 and p.v_cap < 1.0


def test_the_limited_start_charges_the_capacitors_at_80_a_at_most():
    from boards.sim.plant import DSG_LIMIT_A
    b, p = _inverter_board()
    b.dsg_limit.set(True)
    b.dsg_gate.set(True)
    b.step(10)  # 30 mF to 13 V at 78.5 A: about 5 ms, inside the sample
    assert not b.sys_oc.tripped() and -DSG_LIMIT_A <= p.sys_a < -30.0
    assert p.v_cap > p.v_bank - 0.01
    b.step(10)
    b.dsg_limit.set(False)
    for _ in range(10):
        b.step(10)
    assert not b.sys_oc.tripped() and -2.0 < p.sys_a < -1.0  # idle draw only
    p.load_a = 350.0  # fully on: 350 A, no latch
    b.step(10)
    assert -360.0 < p.sys_a < -340.0 and not b.sys_oc.tripped()  # (the capacitors give a little)


def test_big_capacitors_charge_over_several_samples_at_the_limit():
    b, p = _inverter_board(100)
    b.dsg_limit.set(True)
    b.dsg_gate.set(True)
    b.step(10)
    assert p.sys_a == -80.0 and 0.0 < p.v_cap < 8.0  # 78.5 A into 100 mF for 10 ms: 7.9 V
    b.step(10)  # the rest in the next sample (the bank recovers from the 80 A by 0.1 V)
    assert p.v_cap > p.v_bank - 0.2 and not b.sys_oc.tripped()


def test_the_drivers_soa_timer_sets_the_latch_after_50_ms_at_the_limit():
    from boards.sim.plant import DSG_LIMIT_MS
    b, p = _inverter_board()
    p.load_a = 120.0  # more than the limit: the capacitors never charge
    b.dsg_limit.set(True)
    b.dsg_gate.set(True)
    for _ in range(DSG_LIMIT_MS // 10 - 1):
        b.step(10)
        assert p.sys_a == -80.0 and not b.sys_oc.tripped()
    b.step(10)
    assert b.sys_oc.tripped()


def test_a_limited_start_without_capacitors_gives_loads_80_a():
    b, _ = board(1)
    p = b.plant
    p.load_a = 160.0
    b.chg_gate.set(True)
    b.dsg_limit.set(True)
    b.dsg_gate.set(True)
    b.step(10)
    assert p.sys_a == -80.0 and abs(p.v_sys - p.v_bank / 2) < 0.2  # the loads taken as resistive
    b.dsg_limit.set(False)
    b.step(10)
    assert p.sys_a == -160.0
