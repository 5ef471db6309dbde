# micropython
# The System+ MOSFET pair (bms/sysport.py): the ideal diode, both ways, with
# its hysteresis on current and time; the port's own faults open both.
# Issue 15 defect 2: in load-disconnect the charge current went through the
# discharge MOSFET's body diode (150 W at 200 A), and the mirror case.
from bms import reasons as R
from bms import sysport as SP
from bms.measure import Measurements, CH_SYS_I
from mpytest import no_alloc

TICK = 10


class Rig:
    def __init__(self):
        self.port = SP.SysPort()
        self.m = Measurements()
        self.m.stale = 0
        self.now = 0
        self.changes = 0

    def run(self, ms, atc, atd, ma, sysb=0):
        """Step for ms at one current; True if a gate moved in any tick."""
        self.m.sys_ma = ma
        end = self.now + ms
        while self.now < end:
            before = (self.port.chg_fet, self.port.dsg_fet)
            self.port.step(self.now, atc, atd, sysb, self.m)
            if (self.port.chg_fet, self.port.dsg_fet) != before:
                self.changes += 1
            self.now += TICK
        return self.port


def test_both_allowed_both_closed_at_once():
    p = Rig().run(TICK, True, True, 0)
    assert p.chg_fet and p.dsg_fet  # the discharge MOSFET in its limited start


def test_discharge_mosfet_closes_for_charge_current_and_opens_when_it_turns():
    r = Rig()
    p = r.run(1000, True, False, 50000)  # load-disconnect, 50 A charging through the body diode
    assert p.chg_fet and not p.dsg_fet  # a second must pass first (1000 ms of ticks: 990 ms)
    p = r.run(TICK, True, False, 50000)
    assert p.dsg_fet and p.dsg.state == SP.DIODE
    p = r.run(5000, True, False, SP.DIODE_OFF_MA)  # at the off level it stays
    assert p.dsg_fet
    p = r.run(TICK, True, False, SP.DIODE_OFF_MA - 1)  # below: open in the same tick
    assert not p.dsg_fet and p.chg_fet
    p = r.run(TICK, True, False, 50000)
    assert not p.dsg_fet  # and a new second before it closes again
    r.run(200, True, False, 50000)
    p = r.run(TICK, True, False, -40000)  # a load step turns the current: open at once
    assert not p.dsg_fet


def test_charge_mosfet_closes_for_discharge_current():
    r = Rig()
    p = r.run(1000, False, True, -30000)  # charge-disconnect (a cell at the OV stop), loads running
    assert not p.chg_fet and p.dsg_fet
    p = r.run(TICK, False, True, -30000)
    assert p.chg_fet and p.chg.state == SP.DIODE
    p = r.run(TICK, False, True, 1000)  # a charger takes over: charge current, open at once
    assert not p.chg_fet and p.dsg_fet


def test_a_path_blocked_while_the_other_way_flows_stays_closed():
    r = Rig()
    r.run(100, True, True, -30000)
    p = r.run(TICK, False, True, -30000)  # the OV stop arrives while loads draw 30 A
    assert p.chg_fet and p.chg.state == SP.DIODE
    p = r.run(TICK, False, True, -SP.DIODE_ON_MA + 1)  # hysteresis: closed down to the off level
    assert p.chg_fet
    p = r.run(TICK, False, True, -SP.DIODE_OFF_MA + 1)
    assert not p.chg_fet
    r = Rig()
    r.run(100, True, True, -1000)
    p = r.run(TICK, False, True, -1000)  # little current: open as before
    assert not p.chg_fet
    p = r.run(TICK, True, True, -1000)
    assert p.chg_fet and p.chg.state == SP.ON


def test_current_below_the_on_level_never_closes_a_blocked_mosfet():
    r = Rig()
    p = r.run(60000, True, False, SP.DIODE_ON_MA - 1)
    assert not p.dsg_fet


def test_no_diode_when_the_other_path_or_the_port_is_blocked():
    for atc, atd, sysb in ((False, False, 0), (True, False, R.OVERCURRENT),
                           (True, False, R.BMS_OVERTEMP), (True, True, R.SHORT_CIRCUIT)):
        r = Rig()
        p = r.run(5000, atc, atd, 100000, sysb)
        assert not p.dsg_fet and (not p.chg_fet or (atc and not sysb)), (atc, atd, sysb)
        p = r.run(5000, atd, atc, -100000, sysb)
        assert not p.chg_fet and (not p.dsg_fet or (atc and not sysb)), (atc, atd, sysb)
    r = Rig()
    r.run(2000, True, False, 100000)
    assert r.port.dsg_fet
    p = r.run(TICK, True, False, 100000, R.BMS_OVERTEMP)  # MOSFETs hot: both open at once
    assert not p.dsg_fet and not p.chg_fet
    p = r.run(TICK, False, False, 100000)  # charging blocked too: the diode opens
    assert not p.dsg_fet


def test_a_stale_current_reading_opens_a_diode():
    r = Rig()
    r.run(2000, True, False, 100000)
    assert r.port.dsg_fet
    r.m.stale = CH_SYS_I
    p = r.run(TICK, True, False, 100000)
    assert not p.dsg_fet


def test_no_chatter_on_a_noisy_current_at_the_thresholds():
    # a current wandering around both thresholds: the second of hold time
    # bounds the closings to one per second at most
    r = Rig()
    x = 7
    for _ in range(6000):  # 60 s
        x = (x * 1103515245 + 12345) & 0x3FFFFFFF
        ma = (x >> 10) % 3000 - 500  # -0.5 .. 2.5 A
        r.run(TICK, True, False, ma)
    assert r.changes <= 2 * 60
    r2 = Rig()
    for k in range(6000):  # 2.5 A with a dip to nothing every 1.5 s
        r2.run(TICK, True, False, 0 if k % 150 == 0 else 2500)
    closings = (r2.changes + 1) // 2
    assert 30 <= closings <= 40  # each dip opens it; it closes a second later, never sooner


def test_every_close_of_the_discharge_mosfet_from_open_starts_limited():
    # Issue 16 item 4: START_MS in the driver's 80 A limit, then fully on
    r = Rig()
    p = r.run(TICK, True, True, 0)
    assert p.dsg_fet and p.dsg_limit and p.chg_fet
    p = r.run(SP.START_MS - TICK, True, True, -80000)  # START_MS of ticks in the limit
    assert p.dsg_limit
    p = r.run(TICK, True, True, -80000)
    assert p.dsg_fet and not p.dsg_limit and p.dsg.state == SP.ON
    p = r.run(10000, True, True, -300000)  # fully on: the 400 A port again
    assert not p.dsg_limit
    p = r.run(TICK, True, True, 0, R.OVERCURRENT)  # opened ...
    assert not p.dsg_fet and not p.dsg_limit
    p = r.run(TICK, True, True, 0)  # ... and closed again: a new limited start
    assert p.dsg_fet and p.dsg_limit
    p = r.run(TICK, True, False, 0)  # denied during the start: open at once
    assert not p.dsg_fet and not p.dsg_limit


def test_the_ideal_diode_needs_no_start():
    # closed by the charge current, the port sits at or above the bank
    r = Rig()
    r.run(2000, True, False, 50000)
    assert r.port.dsg.state == SP.DIODE and not r.port.dsg_limit
    p = r.run(TICK, True, True, 50000)
    assert p.dsg.state == SP.ON and not p.dsg_limit


def test_the_charge_mosfet_never_starts_limited():
    p = Rig().run(TICK, True, False, 0)
    assert p.chg_fet and p.chg.state == SP.ON and not p.dsg_limit


def test_step_allocates_nothing():
    r = Rig()
    r.m.sys_ma = 50000
    port, m = r.port, r.m

    def step(t):
        port.step(t, True, False, 0, m)

    for t in range(0, 3000, TICK):
        no_alloc(step, t)
    assert port.dsg_fet
