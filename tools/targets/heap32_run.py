# The measured process of tools/heap32.py, on the 32-bit unix build under
# -X heapsize=N: the firmware boots as main.py boots it on an ESP32 or a
# Pico W (the board's pin map, boards/esp32.py or boards/pico_w.py, over
# tests/mpy/fake_machine standing in for the C `machine` module, the radio
# on before the app, App(hw, restartable=True), app.main with Bluetooth: the
# real aioble on boards/sim/bluetooth.py), and runs HOURS of virtual time with:
# - 50 batteries on the battery cable, played by the host process (the ring
#   and its plant are not in this heap): the UART's bytes cross two FIFOs,
#   one round trip per scan request, and arrive here at the line rate;
# - persistence as on the board: drivers/storage.py on littlefs formatted
#   and mounted as the board's port does it, the partition a file of the
#   host (FlashPartition);
# - a phone session every SESSION_EVERY_MS: connect, MTU exchange, login,
#   status notification, a settings page read and a settings write (the
#   first sets 50 batteries, the next ones change the device name);
# - the board's inputs as with the engine running, the alternator's current
#   following the port's PWM reference (_at_work).
# The control tick runs with the heap locked: an allocation in it is a fault.
# What this harness itself holds (its modules, the phone's, the stand-ins'
# instances for the C module `machine` less the board's C objects) is
# measured with gc and printed as harness_bytes: the host subtracts it. The
# last line is one JSON object of figures.
import array
import gc
import sys

_UART_RX = 1024  # bytes: one scan's answer for 50 batteries fits
_ALL_ARRIVED_US = 2000000  # longer than any answer is on the line, at 9600 baud too


class PipeUart:
    """machine.UART on the host's battery ring: write() sends the bytes and
    takes the ring's whole answer, which then arrives at the line rate."""

    def __init__(self, id, baudrate=115200, tx=None, rx=None, **kw):
        import os

        import time  # vtime, once the harness is installed

        self._time = time
        self.baudrate = baudrate
        if _BOARD["name"] == "pico_w":
            # the rp2 port's rings are on the heap (machine_uart.c ringbuf_alloc:
            # rxbuf + 1 and txbuf + 1 bytes), counted as the firmware's
            gc.collect()
            m0 = gc.mem_alloc()
            self._rings = (bytearray(kw["rxbuf"] + 1), bytearray(kw["txbuf"] + 1))
            gc.collect()
            self.c_bytes = gc.mem_alloc() - m0
        self._to = open(os.getenv("HEAP32_RING_IN"), "wb")
        self._from = open(os.getenv("HEAP32_RING_OUT"), "rb")
        self._rx = bytearray(_UART_RX)
        self._head = bytearray(6)
        self._n = 0  # bytes of the answer
        self._pos = 0  # bytes already read
        self._t0_us = 0  # when the answer's first byte started

    def _arrived(self):
        # in small ints, as the tick runs with the heap locked (a long int
        # here would be the harness's allocation, not the firmware's)
        if self._pos >= self._n:  # all read (or no answer yet: _t0_us means nothing)
            return 0
        us = self._time.ticks_diff(self._time.ticks_us(), self._t0_us)
        if us >= _ALL_ARRIVED_US:
            return self._n - self._pos
        got = us // 10 * (self.baudrate // 100) // 10000  # 8N1: 10 bits a byte
        return (got if got < self._n else self._n) - self._pos

    def any(self):
        k = self._arrived()
        return k if k > 0 else 0

    def readinto(self, buf, n=None):
        k = self.any()
        if n is not None and n < k:
            k = n
        if k > len(buf):
            k = len(buf)
        if k == 0:
            return None
        rx = self._rx
        p = self._pos
        for i in range(k):
            buf[i] = rx[p + i]
        self._pos = p + k
        return k

    def write(self, buf):
        n = len(buf)
        h = self._head
        t = self._time.ticks_ms()
        h[0] = t & 255  # one by one: an assignment of four values builds a tuple
        h[1] = (t >> 8) & 255
        h[2] = (t >> 16) & 255
        h[3] = (t >> 24) & 255
        h[4] = n & 255
        h[5] = n >> 8
        self._to.write(h)
        self._to.write(buf)
        # the host writes the length and the answer in one write, so both
        # are in the pipe: two reads, no slices (the tick's heap is locked)
        self._from.readinto(h, 2)
        m = h[0] | h[1] << 8
        if m > _UART_RX or (m and self._from.readinto(self._rx, m) != m):
            raise OSError("ring answer of %d bytes" % m)
        self._n, self._pos = m, 0
        self._t0_us = self._time.ticks_us()
        return n


class _NoLog:
    def add(self, what, id, v):
        pass


def _volts(mv, full_mv):
    return (mv * 4095 // full_mv) << 4  # read_u16 of a 12-bit pin behind the divider


def _amps(ma, full_a):
    return (2048 + ma * 2048 // (full_a * 1000)) << 4  # a centred current sensor


def _ads_raw(u16):
    return u16 * 3300 // 8192  # the conversion register that drivers/ads1115.py reads as u16


def _at_work(m):
    """The pin map's inputs (boards/esp32.py, boards/pico_w.py) as on a boat
    with the engine running: bank and System+ 13.3 V, the starter at 14.2 V
    (so the alternator port charges and its loop runs), 5 A on System+, the
    MOSFETs at about 25 degC (the NTC's table in use), both remote terminals
    at 10.9 V (the L-H wire loop: on). The alternator current follows the
    port's PWM reference (_stage)."""
    _stage(m, *_BOARDS[_BOARD["name"]]["alt"])
    bank, start, ntc = _volts(13300, 20000), _volts(14200, 20000), 32800
    remote = b"\x22\x0d"  # the ADS1115's conversion register at 10.9 V (33 V full scale)
    if _BOARD["name"] == "esp32":
        m.ADC.levels.update({36: bank, 39: start, 34: bank, 32: _amps(5000, 500), 33: ntc})
        m.I2C.regs[(0x48, 0)] = bytearray(remote)
        return
    m.ADC.levels.update({28: start, 27: _amps(5000, 500)})
    # two ADS1115s, each channel its own value: bank, System+, NTC, remote L; remote H
    _MuxI2C.conv[0x48] = b"".join(_ads_raw(u).to_bytes(2, "big") for u in (bank, bank, ntc)) + remote
    _MuxI2C.conv[0x49] = remote * 4
    m.I2C = _MuxI2C


def _stage(m, gate_pin, sense_pin):
    """The alternator power stage: its current is the PWM reference's share
    of 100 A (the stage's own loop holds it), read on the current sensor's
    ADC; none with the gate at 0 %, so the port sees no leak. In small ints
    and without allocating: the tick reads it heap-locked."""
    gates = {}
    init = m.PWM.__init__

    def made(self, pin, freq=0, duty_u16=0):
        init(self, pin, freq, duty_u16)
        gates[pin.id] = self
    m.PWM.__init__ = made
    read = m.ADC.read_u16

    def read_u16(self):
        if self.pin.id != sense_pin:
            return read(self)
        g = gates.get(gate_pin)
        ma = g.u16 * 1526 // 1000 if g is not None else 0  # 65535 -> 100 A
        return _amps(ma, 250)
    m.ADC.read_u16 = read_u16


class _MuxI2C:
    """The I2C bus of two ADS1115s that convert the channel their last
    configuration write chose (fake_machine's I2C has one value per
    register). Allocates nothing: the control tick polls it heap-locked."""

    conv = {}  # address -> four channels' conversion registers, big-endian
    chosen = bytearray(2)  # the channel of the address's last configuration

    def __init__(self, id, sda=None, scl=None, freq=0):
        self.id = id

    def writeto_mem(self, addr, reg, buf):
        if reg == 1:  # config: MUX = 1, 0, 0 + channel in bits 14..12
            self.chosen[addr & 1] = (buf[0] >> 4) & 3

    def readfrom_mem_into(self, addr, reg, buf):
        at = 2 * self.chosen[addr & 1]
        data = self.conv[addr]
        buf[0] = data[at]
        buf[1] = data[at + 1]


# What a board's C object takes of the heap where the stand-in is a Python
# instance (v1.28 ports), and how the board's port formats and mounts its
# littlefs partition:
_BOARDS = {
    # ESP32: Pin, ADC, I2C and WDT objects are static tables; a PWM is 32
    # bytes of heap, a UART 80 (its rings are the IDF driver's, off the heap);
    # VfsLfs2 with its default sizes (modules/inisetup.py): a 128-byte cache
    "esp32": {"c_bytes": {"PWM": 32, "PipeUart": 80}, "lfs": {}, "alt": (18, 35)},
    # RP2040: Pin, PWM, I2C, UART and WDT objects are static; an ADC is 16
    # bytes (machine_adc.c), the UART's rings are made by PipeUart;
    # progsize=256 (modules/_boot.py): caches of 4 * 256 bytes, a mount's
    # two and one for every open file
    "pico_w": {"c_bytes": {"ADC": 16}, "lfs": {"progsize": 256}, "alt": (4, 26)},
}
_BOARD = {"name": "esp32"}  # the board of this run: main()


def _as_harness(cls, harness):
    """Each instance of the stand-in cls counts as the harness's, less the
    heap the board's C object takes (counted as the firmware's)."""
    init = cls.__init__
    board = _BOARDS[_BOARD["name"]]["c_bytes"].get(cls.__name__, 0)

    def counted(self, *args, **kw):
        gc.collect()
        m0 = gc.mem_alloc()
        init(self, *args, **kw)
        gc.collect()
        harness[0] += gc.mem_alloc() - m0 - getattr(self, "c_bytes", board)
    cls.__init__ = counted


class FlashPartition:
    """The board's filesystem partition, as littlefs sees a block device:
    4 KB blocks like an ESP32's and an RP2040's flash, kept in a file of the
    host (its bytes are not in this heap; on a board the partition object is C)."""

    BLOCK = 4096

    def __init__(self, path):
        self._f = open(path, "r+b")
        self._blocks = self._f.seek(0, 2) // self.BLOCK

    def readblocks(self, n, buf, offset=0):
        self._f.seek(n * self.BLOCK + offset)
        self._f.readinto(buf)

    def writeblocks(self, n, buf, offset=0):
        self._f.seek(n * self.BLOCK + offset)
        self._f.write(buf)

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self._blocks
        if op == 5:  # block size
            return self.BLOCK
        return 0  # init, deinit, sync, erase: nothing to do


def _mount(partition):
    """littlefs on the partition as the board's port formats and mounts it
    at its first boot (_BOARDS); the store's root. The mount's buffers and
    every open file's cache are then in this heap, as on the board."""
    import vfs

    kw = _BOARDS[_BOARD["name"]]["lfs"]
    vfs.VfsLfs2.mkfs(partition, **kw)
    vfs.mount(vfs.VfsLfs2(partition, **kw), "/flash")
    return "/flash/"


def _install():
    import vtime

    sys.modules["time"] = vtime
    import fake_machine

    fake_machine.install()
    fake_machine.UART = PipeUart
    fake_machine.log = _NoLog()  # the tests' record of every pin change would grow for ever
    _at_work(fake_machine)
    import bluetooth  # boards/sim/bluetooth.py, compiled into the harness folder

    return vtime, bluetooth


def _patch(vtime, store):
    """asyncio waits in virtual time; the board keeps its files in `store`."""
    import asyncio
    from asyncio import core

    q = core._io_queue
    wait = q.wait_io_event

    def wait_virtual(dt):
        # Nothing runs until dt ms from now unless a stream is ready: the
        # only ones here are aioble's ThreadSafeFlags, set from the radio's
        # IRQs. They are checked in Python: the port's poll() waits a real
        # millisecond on every call once such an object is registered.
        m = q.map
        ready = other = None
        for k in m:
            sm = m[k]
            state = getattr(sm[2], "state", None)
            if state is None:
                other = sm
            elif state and sm[0] is not None:
                ready = sm
                break
        if ready is not None:
            core._task_queue.push(ready[0])
            q._dequeue(ready[2])
            return
        if other is not None:
            wait(0)
        if dt > 0:
            vtime.advance(dt)
    q.wait_io_event = wait_virtual
    board = getattr(__import__("boards." + _BOARD["name"]), _BOARD["name"])
    make = board.make
    board.make = lambda baud=115200, root="/": make(baud, store)
    return asyncio


_WINDOW = 3  # samples whose least is one end of the growth
_state = {"app": None, "sessions": 0, "ok": 0, "ballast": 0}


async def _session(phone, asyncio, P, A, i, h, rx):
    # P: heap32_phone, the requests and the answers' layout, worked out by
    # the host with the protocol's client side (tools/heap32.py phone_module).
    # The phone, its handles `h` and its answer buffer `rx` are the harness's,
    # made before the first session: a board holds none of it
    await phone.connect_when_advertising(5000)
    try:
        phone.exchange_mtu(247)
        await asyncio.sleep_ms(50)
        if not h[0]:  # the handles, looked up once (a UUID from text makes garbage)
            h[0], h[1], h[2] = (phone.handle(P.AUTH_UUID), phone.handle(P.STATUS_UUID),
                                phone.handle(P.SETTINGS_UUID))
        n = await phone.request_into(h[0], P.CHALLENGE, rx)
        if n <= P.NONCE_AT or rx[0] != P.OK:
            return False
        mac = A.proof("000000", P.PIN_LABEL, bytes(rx[P.NONCE_AT:n]))
        if not await phone.request_into(h[0], P.LOGIN + mac, rx) or rx[0] != P.OK:
            return False
        phone.subscribe(h[1])
        for _ in range(300):
            if phone.notifications(h[1]):
                break
            await asyncio.sleep_ms(10)
        else:
            return False
        # the answers checked without decoding them: a decoded status is a
        # dict of some 40 entries, made in this heap as no board holds it
        st = phone.notifications(h[1])[-1]
        if len(st) != P.STATUS_LEN or st[0] != P.STATUS_FORMAT:
            return False
        n = await phone.request_into(h[2], P.PAGE_0, rx)
        if n < 3 or rx[0] != P.OK or rx[1] != P.SET_READ:
            return False
        change = P.SET_FIRST if i == 0 else P.SET_NAME[i & 1]
        return await phone.request_into(h[2], change, rx) >= 1 and rx[0] == P.OK
    finally:
        phone.disconnect()
        phone.notified = None  # the session's notifications: the phone does not keep them


def _locked(tick):
    """The control tick with the heap locked, as the simulator runs it
    (boards/sim/runner.py): an allocation on the board's own path (the
    ESP32 pin map's drivers, 50 batteries, the phone's sessions and settings
    writes) is then a fault, and a run with a fault fails."""
    import micropython

    def locked(now_ms):
        micropython.heap_lock()
        try:
            tick(now_ms)
        finally:
            micropython.heap_unlock()
    return locked


def _live():
    gc.collect()
    return gc.mem_alloc()


async def _driver(*args):
    try:
        await _drive(*args)
    except Exception as e:  # the run failed: end it, do not let the board run on
        sys.print_exception(e)
        raise SystemExit(3)


async def _drive(vtime, bluetooth, asyncio, hours, every_ms, harness):
    import os

    gc.collect()
    b0 = gc.mem_alloc()
    import heap32_phone as P  # loaded by main(), before the firmware
    from bms import auth as A  # the firmware's

    phone = bluetooth.SimCentral()
    handles = array.array("i", (0, 0, 0))
    rx = bytearray(512)  # longer than any answer at MTU 247

    end_ms = int(hours * 3600000)
    # the growth: the live heap from a third of the way in to the end, a
    # sample after every session. A collection sees a block or two more or
    # less (what is in flight then), so each end is the least of _WINDOW
    # samples in a row; a leak raises that floor too. The samples' room is
    # made here, with the harness: a list that grew as the run went on
    # would itself be a leak of 16 bytes a session
    at = array.array("i", bytes(4 * (end_ms // every_ms + 3)))
    live = array.array("i", bytes(len(at) * 4))
    n = 0
    # tests/test_heap32.py: a leak of this many bytes a session, as if the firmware kept them
    leak = int(os.getenv("HEAP32_LEAK") or 0)
    leaked = []
    gc.collect()
    harness[0] += gc.mem_alloc() - b0  # nothing else runs in between: no await
    mark_ms = end_ms // 3
    i = 0
    t0 = vtime.now_ms

    def elapsed():
        return vtime.ticks_diff(vtime.now_ms, t0)
    while elapsed() < end_ms:
        await asyncio.sleep_ms(every_ms if i else 500)
        _state["sessions"] += 1
        try:
            if await _session(phone, asyncio, P, A, i, handles, rx):
                _state["ok"] += 1
        except Exception as e:  # noqa: BLE001  a failed session is counted, not fatal
            print("session %d failed: %r" % (i, e))
        i += 1
        if leak:
            leaked.append(bytearray(leak))
        if elapsed() >= mark_ms and n < len(at) - 1:
            at[n] = elapsed()
            live[n] = _live()
            n += 1
    if n < 2 * _WINDOW:  # a short run: its first sample and one now
        at[n] = elapsed()
        live[n] = _live()
        n += 1
        t1, l1, t2, l2 = at[0], live[0], at[n - 1], live[n - 1]
    else:
        t1, l1 = at[_WINDOW - 1], min(live[:_WINDOW])
        t2, l2 = at[n - 1], min(live[n - _WINDOW:n])
    a = _state["app"]
    if a and a.faults:
        print("last fault of the control tick: %s" % a.last_fault)
    print("HEAP32 {\"harness_bytes\": %d, \"live_bytes\": %d, \"growth_bytes_per_h\": %d, "
          "\"ballast_bytes\": %d, \"sessions\": %d, \"sessions_ok\": %d, \"faults\": %d, \"ticks\": %d, \"batteries\": %d, "
          "\"alt_state\": %d}"
          % (harness[0], live[n - 1], (l2 - l1) * 3600000 // (t2 - t1) if t2 > t1 else 0, _state["ballast"],
             _state["sessions"], _state["ok"],
             a.faults if a else -1, a.controller.ticks if a else -1,
             a.settings.battery_count if a else -1, a.controller.alternator.state if a else -1))
    raise SystemExit(0)


def _ballast(name):
    """$name bytes' worth of 240-byte buffers (the size of the firmware's own
    objects, not one block that needs a hole its size); their heap, as gc
    counts it, goes to _state["ballast"]."""
    import os

    n = int(os.getenv(name) or 0) // 256
    gc.collect()
    a = gc.mem_alloc()
    held = [bytearray(240) for _ in range(n)]
    gc.collect()
    _state["ballast"] += gc.mem_alloc() - a
    return held


def main(a0, flash, hours, every_ms, board="esp32"):
    import os

    _BOARD["name"] = board

    import heap32_phone  # noqa: F401  the phone's requests, before the firmware: the harness's

    partition = FlashPartition(flash)
    vtime, bluetooth = _install()
    # tests/test_heap32.py: known amounts held on either side of the line
    ballast = [_ballast("HEAP32_HARNESS_BALLAST"), None]
    import fake_machine as m

    harness = [0]
    for cls in (m.Pin, m.ADC, m.PWM, m.I2C, m.WDT, m.Timer, PipeUart):
        _as_harness(cls, harness)
    gc.collect()
    harness[0] = gc.mem_alloc() - a0  # the stand-ins for C modules, and this harness
    store = _mount(partition)
    asyncio = _patch(vtime, store)  # asyncio and the pin map are the firmware's: counted
    import app

    run_main = app.main

    async def main_seen(hw, clock=app.clock_ms, app=None, bluetooth=True):
        _state["app"] = app
        gc.collect()
        m0 = gc.mem_alloc()
        app.controller.tick = _locked(app.controller.tick)
        gc.collect()
        harness[0] += gc.mem_alloc() - m0
        ballast[1] = _ballast("HEAP32_BALLAST")  # as if the firmware held it
        return await run_main(hw, clock, app, bluetooth)
    app.main = main_seen
    asyncio.create_task(_driver(vtime, bluetooth, asyncio, hours, every_ms, harness))
    import main as board_main  # main.py from the board's folder, compiled here as a board does

    board_main.run()
