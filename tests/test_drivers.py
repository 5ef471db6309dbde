# micropython
# Drivers over a fake `machine`: safe levels at construction, scaling without
# bigints, the ADS1115 round robin.
import fake_machine

fake_machine.install()
from fake_machine import ADC, I2C, Pin  # noqa: E402
from drivers.switch import Switch  # noqa: E402
from drivers.oc_latch import OcLatch  # noqa: E402
from drivers.pwm_gate import PwmGate, DUTY_MAX_CPCT  # noqa: E402
from drivers import analog  # noqa: E402
from drivers import ads1115  # noqa: E402
from drivers.ads1115 import Ads1115, AdsInput  # noqa: E402
from mpytest import no_alloc  # noqa: E402


def test_switch_starts_off_and_drives_pin():
    s = Switch(16)
    assert Pin.pins[16].value() == 0 and not s.on
    s.set(True)
    assert Pin.pins[16].value() == 1
    s.set(False)
    assert Pin.pins[16].value() == 0
    inv = Switch(17, invert=True)
    assert Pin.pins[17].value() == 1
    inv.set(True)
    assert Pin.pins[17].value() == 0


def test_oc_latch_reads_q_and_pulses_the_re_arm_pin():
    fake_machine.log.clear()
    latch = OcLatch(13, 4)
    q = Pin.pins[13]
    assert q.mode == Pin.IN and q.pull == Pin.PULL_UP  # a broken wire reads tripped
    assert Pin.pins[4].value() == 0 and fake_machine.log == [("pin", 4, 0)]
    q._v = 0
    assert not latch.tripped()
    q._v = 1
    assert latch.tripped()
    latch.rearm()
    assert fake_machine.log[-2:] == [("pin", 4, 1), ("pin", 4, 0)]
    no_alloc(latch.tripped)  # (rearm: the fake's log allocates, Pin.value does not)


def _pins_of(make):
    """Every GPIO a board's make() claims, in order (Pin objects, UART pins)."""
    used = []
    pin_init = Pin.__init__
    uart_init = fake_machine.UART.__init__

    def pin(self, id, *a, **k):
        used.append(id)
        pin_init(self, id, *a, **k)

    def uart(self, id, baudrate=115200, tx=None, rx=None, **kw):
        used.extend((tx, rx))
        uart_init(self, id, baudrate, tx, rx, **kw)

    Pin.__init__ = pin
    fake_machine.UART.__init__ = uart
    try:
        make(root="/tmp/")
    finally:
        Pin.__init__ = pin_init
        fake_machine.UART.__init__ = uart_init
    return used


def test_no_board_uses_a_pin_twice():
    # the over-current latch (issue 15) took free pins: none collides
    import boards.esp32
    import boards.pico_w
    for board in (boards.esp32, boards.pico_w):
        used = _pins_of(board.make)
        dup = [p for p in used if used.count(p) > 1]
        assert dup == [], (board.NAME, dup)
    assert 13 in _pins_of(boards.esp32.make) and 11 in _pins_of(boards.pico_w.make)


def test_pwm_gate_starts_at_zero_and_clamps():
    g = PwmGate(18, 2000)
    assert fake_machine.log[-1] == ("pwm", 18, 0)
    g.set_duty(DUTY_MAX_CPCT)
    assert g._pwm.u16 == 65535
    g.set_duty(5000)
    assert g._pwm.u16 == 32767
    g.set_duty(-5)
    assert g.duty_cpct == 0 and g._pwm.u16 == 0
    g.set_duty(20000)
    assert g.duty_cpct == DUTY_MAX_CPCT


def test_voltage_channel_scaling():
    ADC.levels[36] = 65535
    ch = analog.voltage(ADC(Pin(36)), 20000)
    assert ch.read() == 20000
    ADC.levels[36] = 65535 * 13 // 20
    assert abs(ch.read() - 13000) <= 5


def test_current_channel_is_signed_and_centred():
    ch = analog.current(ADC(Pin(35)), 250)
    ADC.levels[35] = 2047 << 4
    assert abs(ch.read()) <= 200
    ADC.levels[35] = 4095 << 4
    assert abs(ch.read() - 250000) <= 200
    ADC.levels[35] = 0
    assert abs(ch.read() + 250000) <= 200


def test_ntc_table_points_and_interpolation():
    ch = analog.Ntc(ADC(Pin(33)))
    ADC.levels[33] = 50511
    assert ch.read() == 0
    ADC.levels[33] = 17306
    assert ch.read() == 500
    ADC.levels[33] = (50511 + 43816) // 2
    assert 40 <= ch.read() <= 60
    ADC.levels[33] = 63944  # the table ends: -40 and 130 degC
    assert ch.read() == -400
    ADC.levels[33] = 2015
    assert ch.read() == 1300


def test_ntc_open_or_shorted_reads_outside_every_plausible_range():
    # an open thermistor pulls the pin to 3.3 V; clamped to the table end it
    # read -40.0 degC, which the alternator port accepted: no derating, no trip
    from bms import fet_thermal as FT
    ch = analog.Ntc(ADC(Pin(33)))
    for raw, want in ((63945, analog.NTC_OPEN_DDEGC), (65535, analog.NTC_OPEN_DDEGC),
                      (2014, analog.NTC_SHORT_DDEGC), (0, analog.NTC_SHORT_DDEGC)):
        ADC.levels[33] = raw
        v = ch.read()
        assert v == want, (raw, v)
        assert not FT.MIN_DDEGC <= v <= FT.MAX_DDEGC, (raw, v)


def test_sense_read_allocates_nothing():
    from bms.measure import Measurements
    s = analog.Sense(*(analog.voltage(ADC(Pin(p)), 20000) for p in (36, 39, 34)),
                     analog.current(ADC(Pin(35)), 250), analog.current(ADC(Pin(32)), 500),
                     analog.Ntc(ADC(Pin(33))), analog.voltage(ADC(Pin(4)), 33000),
                     analog.voltage(ADC(Pin(5)), 33000))
    m = Measurements()
    no_alloc(s.read, m)
    assert not m.stale


def test_ads1115_round_robin():
    i2c = I2C(0)
    I2C.regs.pop((0x48, 1), None)
    ads = Ads1115(i2c, addr=0x48, channels=2)
    assert (0x48, 1) not in I2C.regs  # the bus is first touched by poll()
    assert not ads.poll()  # stale until the first conversion is read
    assert I2C.regs[(0x48, 1)] == b"\xc3\xe3"  # channel 0 started
    I2C.regs[(0x48, 0)] = b"\x40\x00"  # 0x4000 = 2.048 V
    assert ads.poll()
    assert I2C.regs[(0x48, 1)] == b"\xd3\xe3"  # channel 1 started next
    v = AdsInput(ads, 0).read_u16()
    assert abs(v - 65535 * 2048 // 3300) < 40
    I2C.regs[(0x48, 0)] = b"\xff\xff"  # negative reading clamps to 0
    ads.poll()
    assert AdsInput(ads, 1).read_u16() == 0
    assert I2C.regs[(0x48, 1)] == b"\xc3\xe3"


class _Bus(I2C):
    """An I2C bus that can die: every transfer raises OSError while dead."""

    dead = False

    def writeto_mem(self, addr, reg, buf):
        if self.dead:
            raise OSError(5)
        I2C.writeto_mem(self, addr, reg, buf)

    def readfrom_mem_into(self, addr, reg, buf):
        if self.dead:
            raise OSError(5)
        I2C.readfrom_mem_into(self, addr, reg, buf)


def test_dead_i2c_bus_makes_the_readings_invalid():
    # a dead bus kept the last ADS1115 values for ever with valid = True:
    # bank voltage, MOSFET temperature and remote terminals froze unnoticed
    from bms.measure import Measurements
    bus = _Bus(0)
    ads = Ads1115(bus, addr=0x48, channels=2)
    fast = analog.voltage(ADC(Pin(36)), 20000)
    s = analog.Sense(analog.voltage(AdsInput(ads, 0), 20000), fast, fast,
                     analog.current(ADC(Pin(35)), 250), analog.current(ADC(Pin(32)), 500),
                     analog.Ntc(AdsInput(ads, 1)), fast, fast, poll=ads.poll)
    I2C.regs[(0x48, 0)] = b"\x40\x00"
    m = Measurements()
    for _ in range(3):  # start channel 0, read it, read channel 1: channel 0 is next
        s.read(m)
    assert not m.stale and abs(m.bat_mv - 12412) < 20  # 2.048 V of 3.3 V on a 20 V divider
    bus.dead = True
    for _ in range(ads1115.STALE_POLLS - 1):  # a glitch: the last values still count
        s.read(m)
        assert not m.stale
    s.read(m)
    assert m.stale
    no_alloc(s.read, m)
    assert m.stale and ads.errors == ads1115.STALE_POLLS + 1
    bus.dead = False
    s.read(m)  # converts the channel again: the register may hold another's result
    assert m.stale and I2C.regs[(0x48, 1)] == b"\xc3\xe3"
    s.read(m)
    assert not m.stale


def test_ads1115_error_count_stays_a_small_int():
    bus = _Bus(0)
    ads = Ads1115(bus)
    bus.dead = True
    ads.errors = (1 << 30) - 2
    for _ in range(3):
        ads.poll()
    assert ads.errors == (1 << 30) - 1


def test_ads1115_dead_at_boot_only_makes_the_readings_invalid():
    bus = _Bus(0)
    bus.dead = True
    ads = Ads1115(bus, addr=0x48, channels=2)  # no bus transfer here: no exception
    for _ in range(5):
        assert not ads.poll()
    bus.dead = False
    assert not ads.poll()  # starts a conversion
    assert ads.poll()  # and reads it


def test_only_the_channels_of_a_stale_adc_are_stale():
    # the Pico W's pin map: four slow channels on one ADS1115, Remote H on a second
    from bms.measure import Measurements, CH_BAT, CH_SYS, CH_FET, CH_REMOTE_L, CH_REMOTE_H
    bus_a, bus_b = _Bus(0), _Bus(0)
    a = Ads1115(bus_a, addr=0x48, channels=4)
    b = Ads1115(bus_b, addr=0x49, channels=1)
    fast = analog.voltage(ADC(Pin(28)), 20000)

    def poll():
        a.poll()
        b.poll()

    s = analog.Sense(analog.voltage(AdsInput(a, 0), 20000), fast, analog.voltage(AdsInput(a, 1), 20000),
                     analog.current(ADC(Pin(26)), 250), analog.current(ADC(Pin(27)), 500),
                     analog.Ntc(AdsInput(a, 2)), analog.voltage(AdsInput(a, 3), 33000),
                     analog.voltage(AdsInput(b, 0), 33000), poll=poll)
    m = Measurements()
    for _ in range(2):
        s.read(m)
    assert not m.stale
    bus_b.dead = True
    for _ in range(ads1115.STALE_POLLS):
        s.read(m)
    assert m.stale == CH_REMOTE_H
    bus_a.dead = True
    for _ in range(ads1115.STALE_POLLS):
        no_alloc(s.read, m)
    assert m.stale == CH_BAT | CH_SYS | CH_FET | CH_REMOTE_L | CH_REMOTE_H


def test_the_pin_log_keeps_the_last_entries_in_order_without_allocating():
    log = fake_machine.Log()
    keep = fake_machine._LOG_KEEP
    for k in range(keep + 3):
        no_alloc(log.add, "pin", k, k & 1)
    assert len(log) == keep
    assert log[0] == ("pin", 3, 1) and log[-1] == ("pin", keep + 2, (keep + 2) & 1)
    assert [e[1] for e in log.entries()] == list(range(3, keep + 3))
    log.clear()
    log.add("pwm", 7, 5)
    assert log == [("pwm", 7, 5)]
