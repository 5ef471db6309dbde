# The simulated board: the hardware interface of docs/architecture.md on top
# of the plant. Every method the control tick calls works on integers only and
# allocates nothing, like the real drivers.
import os

from micropython import const

from boards.sim.plant import CELL_STEP_MS
from bms import ticks
from bms.alt_limiter import DUTY_MAX_CPCT
from bms.measure import (CH_BAT, CH_START, CH_SYS, CH_ALT_I, CH_SYS_I, CH_FET, CH_REMOTE_L,
                         CH_REMOTE_H)
from drivers import watchdog
from drivers.storage import Store

# ADC steps in uV (or uA) per count: 12-bit converters behind dividers/shunts.
_V_LSB_UV = const(4883)  # 20 V full scale
_ALT_LSB_UA = const(36621)  # 150 A full scale
_SYS_LSB_UA = const(195313)  # +-400 A full scale
_MASK30 = const(0x3FFFFFFF)
_LCG_MH = const(908)  # 1103515245 mod 2**30, in 15-bit halves
_LCG_ML = const(20077)


def _add30(a, b):
    """(a + b) mod 2**30 for a, b below 2**30, without leaving 31-bit small ints."""
    s = a - (_MASK30 - b)
    return s - 1 if s > 0 else a + b


def _lcg(x):
    """(x * 1103515245 + 12345) mod 2**30, the same sequence as before, with
    every product below 2**30: on a 32-bit port the plain product is a bigint
    (an allocation in every channel read)."""
    lo = x & 0x7FFF
    mid = (((lo * _LCG_MH) & 0x7FFF) + (((x >> 15) * _LCG_ML) & 0x7FFF)) & 0x7FFF
    return _add30(_add30(lo * _LCG_ML, mid << 15), 12345)


class Switch:
    """A MOSFET gate or a digital output: sets one boolean of the plant."""

    def __init__(self, plant, attr):
        self._plant = plant
        self._attr = attr
        self.on = False
        setattr(plant, attr, False)

    def set(self, on):
        self.on = bool(on)
        setattr(self._plant, self._attr, self.on)


class PwmGate:
    def __init__(self, plant):
        self._plant = plant
        self.duty_cpct = 0
        plant.alt_duty_cpct = 0

    def set_duty(self, d):
        if not 0 <= d <= DUTY_MAX_CPCT:
            raise ValueError("duty out of range")
        self.duty_cpct = d
        self._plant.alt_duty_cpct = d


# The external ADCs of each board (docs/boards.md): each tuple is one ADS1115
# read round-robin, one conversion per control tick, its channels in
# conversion order. A channel on one is as old as a real one: its value is
# the plant's at the tick its conversion ran (the poll reads the conversion
# the previous poll started) and is held until its next turn, so the Pico W's
# bank voltage is 10..40 ms old. Every other channel is a native ADC pin,
# read fresh at every tick.
ADC_PROFILES = {
    "pico_w": ((CH_BAT, CH_SYS, CH_FET, CH_REMOTE_L), (CH_REMOTE_H,)),
    "esp32": ((CH_REMOTE_L, CH_REMOTE_H),),
    "fresh": (),  # every channel fresh every tick (tests of other things)
}
DEFAULT_PROFILE = "pico_w"  # the slowest board: the simulator is never kinder


class OcLatch:
    """The System+ over-current latch (drivers/oc_latch.py): the plant sets it
    within the sample in which the current crosses the comparator's
    threshold and holds the System+ path open until the firmware re-arms it."""

    def __init__(self, plant):
        self._plant = plant

    def tripped(self):
        return self._plant.sys_oc_latched

    def rearm(self):
        self._plant.sys_oc_latched = False


class Sense:
    """Port readings as an ADC would give them: quantised, with a little noise,
    the slow channels as old as the board's round robin makes them (profile,
    ADC_PROFILES). `stale` (bms/measure.py CH_* bits) marks channels as a dead
    external ADC leaves them: their values freeze and their bits are reported.
    `phase` starts the round robins that many conversions in (tests use it to
    try every alignment of a step with the slow channels)."""

    def __init__(self, plant, noise_lsb=1, profile=DEFAULT_PROFILE, phase=0):
        self._plant = plant
        self.noise_lsb = noise_lsb
        self.stale = 0
        self._rng = 12345
        self.profile = profile
        groups = ADC_PROFILES[profile]
        slow = 0
        for g in groups:
            for ch in g:
                slow |= ch
        self._slow = slow
        self._groups = groups
        self._turn = [phase % len(g) for g in groups]  # channel index in conversion
        self._conv = [0] * len(groups)  # its value, taken at the last read (raw plant units)
        self._first = True

    def _noise(self):
        # LCG: a few integer operations, no allocation (_lcg: small ints on 32-bit too)
        self._rng = _lcg(self._rng)
        n = self.noise_lsb
        return (self._rng >> 12) % (2 * n + 1) - n if n else 0

    def _q(self, value, lsb_u):
        counts = (value * 1000) // lsb_u + self._noise()
        return counts * lsb_u // 1000

    def _raw(self, ch):
        p = self._plant
        if ch == CH_BAT:
            return p.bat_mv
        if ch == CH_SYS:
            return p.sys_mv
        if ch == CH_FET:
            return p.fet_ddegc
        if ch == CH_REMOTE_L:
            return p.remote_l_mv
        if ch == CH_REMOTE_H:
            return p.remote_h_mv
        if ch == CH_START:
            return p.start_mv
        if ch == CH_ALT_I:
            return p.alt_ma
        return p.sys_ma

    def _put(self, meas, ch, v):
        if ch == CH_BAT:
            meas.bat_mv = self._q(v, _V_LSB_UV)
        elif ch == CH_START:
            meas.start_mv = self._q(v, _V_LSB_UV)
        elif ch == CH_SYS:
            meas.sys_mv = self._q(v, _V_LSB_UV)
        elif ch == CH_ALT_I:
            meas.alt_ma = self._q(v, _ALT_LSB_UA)
        elif ch == CH_SYS_I:
            meas.sys_ma = self._q(v, _SYS_LSB_UA)
        elif ch == CH_FET:
            meas.fet_ddegc = v + self._noise()
        elif ch == CH_REMOTE_L:
            meas.remote_l_mv = self._q(v, _V_LSB_UV)
        else:
            meas.remote_h_mv = self._q(v, _V_LSB_UV)

    def read(self, meas):
        st = self.stale
        meas.stale = st
        slow = self._slow
        ch = 1
        while ch <= CH_REMOTE_H:
            # native channels: fresh every tick; a first read fills the slow
            # ones too (a real board's start-up conversions)
            if not st & ch and (self._first or not slow & ch):
                self._put(meas, ch, self._raw(ch))
            ch <<= 1
        groups = self._groups
        for k in range(len(groups)):
            g = groups[k]
            t = self._turn[k]
            ch = g[t]
            # this poll reads the conversion the last one started, then
            # starts the next channel's (taken from the plant now)
            if not st & ch and not self._first:
                self._put(meas, ch, self._conv[k])
            t = t + 1 if t + 1 < len(g) else 0
            self._turn[k] = t
            self._conv[k] = self._raw(g[t])
        self._first = False


# the UART driver's rings (drivers/uart_link.py; a test holds them equal)
RX_RING = const(2048)
TX_RING = const(256)


class LinkPort:
    """The board's UART on the battery cable (drivers/uart_link.py). The
    batteries (the chain) live in the plant and move in SimBoard.step(), as
    the line does while the MCU runs: the tick only copies bytes out of the
    receive ring and into the send ring, both allocated here once, so it
    allocates nothing (the chain's frame work allocates freely). A byte that
    arrives into a full receive ring is lost, as on the board."""

    def __init__(self, chain, clock):
        self._chain = chain
        self._clock = clock
        self._rx = bytearray(RX_RING)
        self._head = 0  # next byte in
        self._count = 0  # bytes waiting in _rx
        self._tx = bytearray(TX_RING)
        self._tx_n = 0
        self._tx_ms = 0  # when the first byte waiting in _tx was written
        self._pull = bytearray(RX_RING)
        self.rx_lost = 0  # bytes that found the receive ring full
        self.tx_lost = 0  # bytes that found the send ring full

    def readinto(self, buf):
        n = self._count
        if n > len(buf):
            n = len(buf)
        rx = self._rx
        j = self._head - self._count
        if j < 0:
            j += RX_RING
        for i in range(n):
            buf[i] = rx[j]
            j += 1
            if j == RX_RING:
                j = 0
        self._count -= n
        return n

    def write(self, buf, n):
        k = self._tx_n
        if not k:
            self._tx_ms = self._clock.ticks_ms()
        room = TX_RING - k
        if n > room:
            self.tx_lost += n - room
            n = room
        tx = self._tx
        for i in range(n):
            tx[k + i] = buf[i]
        self._tx_n = k + n

    def send(self):
        """The bytes written since the last step go onto the line."""
        if self._tx_n:
            self._chain.write(self._tx, self._tx_n, self._tx_ms)
            self._tx_n = 0

    def receive(self, now_ms):
        """Everything that has fully arrived by now_ms goes into the ring."""
        got = self._chain.readinto(self._pull, now_ms)
        room = RX_RING - self._count
        if got > room:
            self.rx_lost += got - room
            got = room
        rx = self._rx
        h = self._head
        pull = self._pull
        for i in range(got):
            rx[h] = pull[i]
            h += 1
            if h == RX_RING:
                h = 0
        self._head = h
        self._count += got


class Led:
    """The status LED: on or off (the blink pattern comes from bms/controller.py, lit())."""

    def __init__(self):
        self.on = False
        self.changes = 0

    def set(self, on):
        if on != self.on:
            self.on = on
            self.changes += 1


class Watchdog(watchdog.Watchdog):
    """The board's watchdog (drivers/watchdog.py) that also counts a reset the
    real one would have done after timeout_ms unfed. On the virtual board
    main.py arms it: then every feed also reaches the board's machine.WDT,
    which resets the virtual board when the feeds stop."""

    def __init__(self, clock, timeout_ms=watchdog.TIMEOUT_MS):
        super().__init__(timeout_ms)
        self._clock = clock
        self.last_feed_ms = clock.ticks_ms()

    def feed(self):
        self.last_feed_ms = self._clock.ticks_ms()
        super().feed()

    def starved(self, now_ms):
        from bms.ticks import diff
        return diff(now_ms, self.last_feed_ms) > self.timeout_ms


def folder_store(folder):
    """The board's own atomic Store (drivers/storage.py) in a host folder,
    the simulated flash."""
    try:
        os.mkdir(folder)
    except OSError:
        pass  # already there
    return Store(folder + "/")


class SimBoard:
    name = "sim"

    def __init__(self, plant, chain, clock, store_dir, sense_noise_lsb=1, adc_profile=DEFAULT_PROFILE):
        self.plant = plant
        self.chain = chain
        self.clock = clock
        self.chg_gate = Switch(plant, "chg_on")
        self.dsg_gate = Switch(plant, "dsg_on")
        self.dsg_limit = Switch(plant, "dsg_limit")
        self.alt_gate = PwmGate(plant)
        self.load_out = Switch(plant, "load_out")
        self.charge_out = Switch(plant, "charge_out")
        self.prealarm_out = Switch(plant, "prealarm_out")
        self.sense = Sense(plant, sense_noise_lsb, adc_profile)
        self.link = LinkPort(chain, clock)
        self.led = Led()
        self.wdt = Watchdog(clock)
        self.store = folder_store(store_dir)
        self.sys_oc = OcLatch(plant)
        self._since_push_ms = 0
        self.t_ms = clock.ticks_ms()  # the plant's time: the end of the last step
        self.push_batteries()

    def push_batteries(self):
        """Hand the plant's cell voltages and temperatures to the chain."""
        p = self.plant
        mv = p.cell_mv
        chain = self.chain
        for b in range(p.batteries):
            i = b * 4
            chain.set_cells(b + 1, mv[i], mv[i + 1], mv[i + 2], mv[i + 3])
            chain.set_temp(b + 1, p.temp_ddegc(b))

    def step(self, dt_ms):
        """Advance the physical world by dt_ms (the clock is moved by the caller)."""
        self.link.send()
        self.plant.step(dt_ms)
        self.t_ms = ticks.add(self.t_ms, dt_ms)
        self.link.receive(self.t_ms)
        self._since_push_ms += dt_ms
        if self._since_push_ms >= CELL_STEP_MS:
            self._since_push_ms = 0
            self.push_batteries()
