# micropython
# Per-source validity on the ESP32 pin map (boards/esp32.py over the fake
# machine): the remote terminals are read on an ADS1115, everything else on
# native pins. When the ADS1115's bus dies only the remote channels go stale:
# the remote keeps its mode and the alternator port keeps charging (one
# `valid` bit for all eight channels used to open the port and block it).
import fake_machine

fake_machine.install()
from fake_machine import ADC, I2C  # noqa: E402
import boards.esp32 as board  # noqa: E402
from boards.sim.chain import BatteryChain  # noqa: E402
from bms.controller import Controller, CONTROL_PERIOD_MS  # noqa: E402
from bms.measure import CH_REMOTE_L, CH_REMOTE_H  # noqa: E402
from bms.settings import Settings  # noqa: E402
from bms import alternator as A  # noqa: E402
from bms import remote as RM  # noqa: E402

FULL_A = 150  # the port current at 100 % duty (a plain resistive path)


class Link:
    """The battery cable: an emulated chain instead of the fake UART."""

    def __init__(self, chain):
        self.chain = chain
        self.now_ms = 0

    def readinto(self, buf):
        return self.chain.readinto(buf, self.now_ms)

    def write(self, buf, n):
        self.chain.write(buf, n, self.now_ms)


def volts(mv, full_mv):
    return (mv * 4095 // full_mv) << 4  # read_u16 of a 12-bit pin behind the divider


def amps(ma, full_a):
    return (2048 + ma * 2048 // (full_a * 1000)) << 4  # centred current sensor


class DeadBus:
    def writeto_mem(self, addr, reg, buf):
        raise OSError(5)

    def readfrom_mem_into(self, addr, reg, buf):
        raise OSError(5)


def test_a_dead_remote_adc_leaves_the_alternator_charging():
    ADC.levels.update({36: volts(13300, 20000), 39: volts(14200, 20000), 34: volts(13300, 20000),
                       32: amps(0, 500), 33: 22706})  # bank, starter, System+, 40 degC
    I2C.regs[(0x48, 0)] = b"\x22\x0d"  # both terminals ~10.9 V: the L-H wire loop
    hw = board.make(root="/tmp/bms-test-adc/")
    chain = BatteryChain(1)
    hw.link = Link(chain)
    ctl = Controller(Settings(), hw)
    now = 0

    def run(ms):
        nonlocal now
        for _ in range(ms // CONTROL_PERIOD_MS):
            ADC.levels[35] = amps(hw.alt_gate.duty_cpct * FULL_A // 10, 250)
            hw.link.now_ms = now
            ctl.tick(now)
            # not even at boot, while the ADS1115 has no first conversion yet
            assert ctl.alternator.state != A.FAULT, now
            now += CONTROL_PERIOD_MS

    run(8000)
    port = ctl.alternator
    assert ctl.remote.mode == RM.BRIDGED and ctl.meas.stale == 0
    assert port.state == A.LIMITING and port.limiter.duty_cpct > 0, A.STATE_NAMES[port.state]
    good, bad = I2C.writeto_mem, I2C.readfrom_mem_into
    I2C.writeto_mem, I2C.readfrom_mem_into = DeadBus.writeto_mem, DeadBus.readfrom_mem_into
    try:
        run(10000)
    finally:
        I2C.writeto_mem, I2C.readfrom_mem_into = good, bad
    assert ctl.meas.stale == CH_REMOTE_L | CH_REMOTE_H
    assert ctl.remote.on and ctl.protection.alt_allowed and ctl.protection.chg_fet
    assert port.state == A.LIMITING and port.fault == 0 and hw.alt_gate.duty_cpct > 0
    assert abs(ctl.meas.alt_ma - port.target.ma) < port.target.ma // 20
