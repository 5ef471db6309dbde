# One control tick: battery frames in -> pack -> remote -> protection ->
# alternator limiter -> LED, history -> gates and outputs. The app calls tick() every
# CONTROL_PERIOD_MS from one task; the simulator calls it from its virtual
# clock. Nothing here allocates once constructed.
import micropython
from micropython import const

from bms.measure import Measurements
from bms.pack import Pack
from bms.link import Decoder
from bms.linkframe import LinkMaster
from bms.remote import Remote
from bms.fet_thermal import FetThermal
from bms.protection import Protection
from bms.alternator import AlternatorPort
from bms.history import History
from bms.soc import Soc

CONTROL_PERIOD_MS = const(10)
_RXBUF = const(256)
# bits of the output word (Controller._out)
_CHG = const(1)
_DSG_PATH = const(6)  # dsg_fet, dsg_limit: written together, in order
_LOAD = const(8)
_CHARGE = const(16)
_PREALARM = const(32)
_LED = const(64)
_ALL = const(127)
_GATES = const(_CHG | _DSG_PATH)
_SIGNALS = const(_LOAD | _CHARGE | _PREALARM | _LED)
# every output is written again this often, changed or not: a pin that a
# glitch moved behind the controller is put back within half a second
_REWRITE_TICKS = const(50)
_TICKS_MASK = const(0x3FFFFFFF)  # ticks wraps like ticks_ms: a small int on 32-bit

# -- the status LED: one LED, blink codes in the style of Victron's Lynx BMS:
# steady on when all is well, N short flashes every 4 s for a fault class, a
# slow heartbeat while waiting for the first battery scan. The codes are
# private (no globals entries); LED_NAMES names them.
_LED_OK = const(0)
_LED_BOOT = const(1)  # no complete battery scan yet
_LED_WARNING = const(2)  # pre-alarm or derating: 1 flash
_LED_LINK = const(3)  # battery data lost / BMS cable: 2 flashes
_LED_CELL = const(4)  # cell voltage or temperature blocks charge or discharge: 3 flashes
_LED_BMS_TEMP = const(5)  # BMS MOSFET over-temperature or overcurrent: 4 flashes
_LED_OFF = const(6)  # low-power off or remote full off: a blip every 3 s
_LED_COUNT = const(7)  # more or fewer batteries on the cable than battery_count: 5 flashes

LED_NAMES = ("ok", "boot", "warning", "link", "cell", "bms_temp", "off", "battery_count")
_FLASHES = (0, 0, 1, 2, 3, 4, 0, 5)
_CYCLE_MS = const(4000)
_FLASH_MS = const(200)
# bms/reasons.py's bits that code_for() reads, as const() copies: an
# imported module's name is a look-up on every tick
# (tests/test_ledcode_protection.py holds each to reasons.py's)
_LOW_POWER_OFF = const(1 << 12)
_COUNT_MISMATCH = const(1 << 15)
_DATA_LOST = const(1 << 1)
_PORT_FAULTS = const(1 << 8 | 1 << 9 | 1 << 14 | 1 << 10)  # BMS_OVERTEMP, OVERCURRENT, SHORT_CIRCUIT, OC_LOCKOUT
_REMOTE_OFF = const(1 << 11)


def code_for(protection, pack, alternator):
    """The most important thing the LED should say right now."""
    blocked = protection.block_chg | protection.block_dsg
    if blocked:  # (nothing blocked, the usual tick, skips these tests)
        if blocked & _LOW_POWER_OFF:
            return _LED_OFF
        if blocked & _COUNT_MISMATCH:  # before boot: it is why a boot never ends
            return _LED_COUNT
    if not pack.full_scan:
        return _LED_BOOT
    if blocked & _DATA_LOST:
        return _LED_LINK
    port = protection.block_alt | protection.block_sys  # MOSFET heat, overcurrent live here
    if port & _PORT_FAULTS or alternator.fault:
        return _LED_BMS_TEMP
    if blocked:
        return _LED_CELL if blocked & ~_REMOTE_OFF else _LED_OFF  # off: switched off by the remote terminal
    return _LED_WARNING if protection.warn else _LED_OK


def lit(code, now_ms):
    """Whether the LED is on at now_ms for this code."""
    if code == _LED_OK:
        return True
    t = now_ms % _CYCLE_MS
    if code == _LED_BOOT:
        return t < _CYCLE_MS // 2  # slow heartbeat
    if code == _LED_OFF:
        return (now_ms % 3000) < 50
    n = _FLASHES[code]
    slot = t // (2 * _FLASH_MS)
    return slot < n and (t % (2 * _FLASH_MS)) < _FLASH_MS


def safe_outputs(hw):
    """Everything off / floating: the state at boot, on a fault and on exit."""
    hw.alt_gate.set_duty(0)
    hw.chg_gate.set(False)
    hw.dsg_gate.set(False)
    hw.dsg_limit.set(False)
    hw.load_out.set(False)
    hw.charge_out.set(False)
    hw.prealarm_out.set(False)


class Controller:
    def __init__(self, settings, hw, history=None):
        self.settings = settings
        self.hw = hw
        self.meas = Measurements()
        self.pack = Pack()
        self.decoder = Decoder(self.pack)
        self.master = LinkMaster(settings.scan_period_ms, settings.link_baud)  # baud: restart setting
        self.remote = Remote()
        self.fet = FetThermal(settings)
        self.protection = Protection(settings, self.fet)
        self.alternator = AlternatorPort(settings, self.fet)
        self.history = history if history is not None else History()
        self.soc = Soc()  # counted here every tick, whether Bluetooth runs or not
        self.rxbuf = bytearray(_RXBUF)
        self.now_ms = 0
        self.ticks = 0
        self.led_code = _LED_BOOT
        self._settings_version = -1
        self._out = -1  # the output word last written; -1: none (write all)
        self._duty = -1
        self._rewrite = _REWRITE_TICKS  # ticks until every output is written again
        self.safe_outputs()

    def safe_outputs(self):
        """Outputs safe; the System+ MOSFETs close again from open (the
        discharge one through its limited start), and the alternator port
        restarts with a soft start: after an exception in tick() its
        integrator would carry on winding up."""
        self._out = self._duty = -1  # the next tick writes every output again
        safe_outputs(self.hw)
        self.protection.outputs_opened()  # the MOSFETs' tables know they are open
        self.alternator.reset()

    def _apply_settings(self):
        s = self.settings
        self.pack.configure(s.battery_count)
        self.master.configure(s.battery_count, s.scan_period_ms)
        self._settings_version = s.version

    # native, as every method on the tick's path whose frame is over 11
    # words (docs/architecture.md, "Native code on the tick's path")
    @micropython.native
    def tick(self, now_ms):
        # the objects used more than once are taken into locals: each
        # attribute of self is a look-up (docs/architecture.md, "The
        # control tick")
        s = self.settings
        if s.version != self._settings_version:
            self._apply_settings()
        hw = self.hw
        self.now_ms = now_ms
        self.ticks = (self.ticks + 1) & _TICKS_MASK
        link = hw.link
        rxbuf = self.rxbuf
        decoder = self.decoder
        n = link.readinto(rxbuf)
        if n or decoder.partial:  # a silent line tells a held partial frame it is false
            decoder.feed(rxbuf, n, now_ms)
        master = self.master
        if master.poll(now_ms):
            link.write(master.buf, master.n)
            decoder.expect(master.seq)
        meas = self.meas
        hw.sense.read(meas)
        meas.sys_oc = hw.sys_oc.tripped()
        pack = self.pack
        pack.evaluate(now_ms, s.link_timeout_ms)
        remote = self.remote
        remote.step(now_ms, meas)
        p = self.protection
        p.step(now_ms, pack, meas, remote)
        alternator = self.alternator
        duty_cpct = alternator.step(now_ms, meas, p)
        code = self.led_code = code_for(p, pack, alternator)
        self.history.step(now_ms, p, pack, meas)
        self.soc.count(now_ms, pack, meas, s)
        # outputs last: an exception above leaves them as safe_outputs() set
        # them, never a gate pulse computed in a tick that did not finish.
        # Each output is written only when it changed: one packed word
        # against the last one written (safe_outputs() forgets it).
        chg = p.chg_fet
        dsg_limit = p.dsg_limit
        word = (chg | p.dsg_fet << 1 | dsg_limit << 2 | p.load_out << 3
                | p.charge_out << 4 | p.prealarm_out << 5
                | (not code or lit(code, now_ms)) << 6)  # code ok (0): steady on
        r = self._rewrite - 1
        if r <= 0:
            r = _REWRITE_TICKS
            self._out = self._duty = -1
        self._rewrite = r
        old = self._out
        ch = _ALL if old < 0 else word ^ old
        if duty_cpct != self._duty:
            hw.alt_gate.set_duty(duty_cpct)
            self._duty = duty_cpct
        if ch & _GATES:  # (a steady tick tests nothing more)
            if ch & _CHG:
                hw.chg_gate.set(chg)
            if ch & _DSG_PATH:
                if dsg_limit:  # the limit before the gate, so it never closes unlimited
                    hw.dsg_limit.set(True)
                hw.dsg_gate.set(p.dsg_fet)
                hw.dsg_limit.set(dsg_limit)  # released once the gate is fully on, or off
        oc = p.oc
        if oc.rearm:  # the policy lets System+ close again: the latch too
            hw.sys_oc.rearm()
            oc.rearmed()
        if ch & _SIGNALS:
            if ch & _LOAD:
                hw.load_out.set(p.load_out)
            if ch & _CHARGE:
                hw.charge_out.set(p.charge_out)
            if ch & _PREALARM:
                hw.prealarm_out.set(p.prealarm_out)
            if ch & _LED:
                hw.led.set(word & _LED != 0)
        self._out = word
        hw.wdt.feed()
