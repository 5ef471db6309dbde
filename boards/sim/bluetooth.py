# Simulated radio with MicroPython's `bluetooth` module API (the peripheral and
# GATT-server subset aioble and the firmware use), plus SimCentral: the
# test-side phone that scans, connects, reads, writes and subscribes.
#
# Like the real stacks: IRQ payload buffers (addresses, UUIDs) are memoryviews
# valid only during the callback (scrubbed afterwards); values are 20 bytes
# unless a local write or gatts_set_buffer makes room; remote writes are
# truncated to the buffer; registering services while advertising fails; the
# stack stops advertising when a central connects. The ATT MTU is 23 until an
# exchange (by the central, or by the device: gattc_exchange_mtu) agrees on the
# smaller of the two sides' MTUs; a notification carries MTU - 3 bytes of its
# value, a read MTU - 1 (the central reads a longer value with Read Blob
# requests, which the stacks serve from the value set by gatts_write), a write
# must fit MTU - 3.
import asyncio

FLAG_BROADCAST = 0x0001
FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010
FLAG_INDICATE = 0x0020
FLAG_AUTHENTICATED_SIGNED_WRITE = 0x0040
FLAG_AUX_WRITE = 0x0100
FLAG_READ_ENCRYPTED = 0x0200
FLAG_READ_AUTHENTICATED = 0x0400
FLAG_READ_AUTHORIZED = 0x0800
FLAG_WRITE_ENCRYPTED = 0x1000
FLAG_WRITE_AUTHENTICATED = 0x2000
FLAG_WRITE_AUTHORIZED = 0x4000

_IRQ_CENTRAL_CONNECT = 1
_IRQ_CENTRAL_DISCONNECT = 2
_IRQ_GATTS_WRITE = 3
_IRQ_GATTS_READ_REQUEST = 4
_IRQ_GATTS_INDICATE_DONE = 20
_IRQ_MTU_EXCHANGED = 21

_DEFAULT_BUF = 20
_ATT_MTU_MIN = 23  # every connection starts with it
_ATT_ROUND_TRIP_MS = 15  # an ATT request and its answer: two connection events
_HEX = "0123456789abcdef"


class UUID:
    """16-bit or 128-bit UUID, stored little-endian like the real module."""

    def __init__(self, value):
        if isinstance(value, int):
            if not 0 <= value <= 0xFFFF:
                raise ValueError("invalid UUID")
            self._b = bytes((value & 0xFF, value >> 8))
        elif isinstance(value, str):
            h = value.replace("-", "")
            if len(h) != 32:
                raise ValueError("invalid UUID")
            self._b = bytes(reversed(bytes(int(h[i:i + 2], 16) for i in range(0, 32, 2))))
        else:
            b = bytes(value)
            if len(b) not in (2, 4, 16):
                raise ValueError("invalid UUID")
            self._b = b

    def __iter__(self):  # bytes(uuid): user classes cannot offer the buffer protocol
        return iter(self._b)

    def __len__(self):
        return len(self._b)

    def __eq__(self, other):
        return isinstance(other, UUID) and self._b == other._b

    def __hash__(self):
        return hash(self._b)

    def __str__(self):
        b = bytes(reversed(self._b))
        if len(b) == 2:
            return "0x%02x%02x" % (b[0], b[1])
        h = "".join(_HEX[x >> 4] + _HEX[x & 15] for x in b)
        return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])

    def __repr__(self):
        return "UUID(%s)" % str(self)


class _Attr:
    """One attribute of the GATT database, kept as extmod/modbluetooth.c
    keeps it on the board's MicroPython heap: a buffer (20 bytes, or what
    gatts_set_buffer asks) that a longer local write replaces by a larger
    one (never a smaller: the old one is left to the collector), and the
    length of the value in it."""

    def __init__(self, uuid, flags):
        self.uuid = uuid
        self.flags = flags
        self.buf = bytearray(_DEFAULT_BUF)
        self.n = 0
        self.append = False
        self.local_writes = 0  # how often the server wrote it
        self.cccd = None  # handle of its CCCD (notify/indicate)

    @property
    def value(self):
        return bytes(memoryview(self.buf)[:self.n])

    def store(self, data):
        """A local write (gatts_write)."""
        n = len(data)
        if n > len(self.buf):
            self.buf = bytearray(n)
        self.buf[:n] = data
        self.n = n

    def received(self, data):
        """A central's write: into the buffer, cut to its size; appended
        after the value if the buffer appends."""
        at = self.n if self.append else 0
        n = min(len(data), len(self.buf) - at)
        self.buf[at:at + n] = data[:n]
        self.n = at + n


class _Conn:
    def __init__(self, handle, addr):
        self.handle = handle
        self.addr = addr
        self.mtu = _ATT_MTU_MIN
        self.subscribed = set()  # value handles


class _BLE:
    def __init__(self):
        self.reset()

    def reset(self):
        """Back to power-on (tests call it between cases)."""
        self._active = False
        self._handler = None
        self._attrs = {}
        self._next_handle = 1
        self._config = {"mtu": 256, "gap_name": "MPY", "mac": (0, b"\x02\x00\x00\x5a\x1e\x01"),
                        "addr_mode": 0, "rxbuf": 256}
        self._conns = {}
        self._next_conn = 1
        self.advertising = None  # (interval_us, adv_data, resp_data, connectable)
        self.centrals = {}  # conn handle -> SimCentral

    # -- core
    def active(self, value=None):
        if value is not None:
            self._active = bool(value)
            if not value:
                self.advertising = None
        return self._active

    def config(self, *args, **kw):
        if args:
            if args[0] not in self._config:
                raise ValueError("unknown config param")
            return self._config[args[0]]
        for k in kw:
            self._config[k] = kw[k]

    def irq(self, handler):
        self._handler = handler

    def _need_active(self):
        if not self._active:
            raise OSError(1)  # EPERM, as when the stack is off

    def _irq(self, event, data, scrub=()):
        """Deliver one event; the buffers in `scrub` die after the callback."""
        try:
            if self._handler is None:
                return None
            return self._handler(event, data)
        finally:
            for buf in scrub:
                for i in range(len(buf)):
                    buf[i] = 0xEE

    # -- GAP
    def gap_advertise(self, interval_us, adv_data=None, *, resp_data=None, connectable=True):
        self._need_active()
        if interval_us is None:
            self.advertising = None
            return
        prev = self.advertising
        if adv_data is None:
            adv_data = prev[1] if prev else b""
        if resp_data is None:
            resp_data = prev[2] if prev else b""
        adv_data, resp_data = bytes(adv_data), bytes(resp_data)
        if len(adv_data) > 31 or len(resp_data) > 31:
            raise OSError(22)  # legacy advertising payload limit
        self.advertising = ((interval_us // 625) * 625, adv_data, resp_data, bool(connectable))

    def gap_disconnect(self, conn_handle):
        self._need_active()
        c = self._conns.get(conn_handle)
        if c is None:
            return False
        self._drop(c)
        return True

    def _drop(self, c):
        del self._conns[c.handle]
        central = self.centrals.pop(c.handle, None)
        if central:
            central.conn = None
        addr = bytearray(c.addr)
        self._irq(_IRQ_CENTRAL_DISCONNECT, (c.handle, 0, memoryview(addr)), (addr,))

    # -- GATT server
    def gatts_register_services(self, services):
        self._need_active()
        if self.advertising:
            raise OSError(16)  # EBUSY: stacks refuse while advertising
        self._attrs = {}
        self._next_handle = 1
        out = []
        for svc_uuid, chars in services:
            self._next_handle += 1  # service declaration
            handles = []
            for ch in chars:
                uuid, flags = ch[0], ch[1]
                self._next_handle += 1  # characteristic declaration
                vh = self._new(uuid, flags)
                handles.append(vh)
                if flags & (FLAG_NOTIFY | FLAG_INDICATE):
                    self._attrs[vh].cccd = self._new(UUID(0x2902), FLAG_READ | FLAG_WRITE)
                for d in (ch[2] if len(ch) > 2 else ()):
                    handles.append(self._new(d[0], d[1]))
            out.append(tuple(handles))
        return tuple(out)

    def _new(self, uuid, flags):
        h = self._next_handle
        self._next_handle += 1
        self._attrs[h] = _Attr(uuid, flags)
        return h

    def _attr(self, h):
        a = self._attrs.get(h)
        if a is None:
            raise ValueError("invalid handle")
        return a

    def gatts_read(self, h):
        a = self._attr(h)
        v = a.value  # a new bytes object, as the board's gatts_read returns
        if a.append:
            a.n = 0
        return v

    def gatts_write(self, h, data, send_update=False):
        a = self._attr(h)
        a.store(data)
        a.local_writes += 1
        if send_update:
            for c in list(self._conns.values()):
                if h in c.subscribed:
                    self._deliver(c, h, a.value)

    def gatts_notify(self, conn_handle, h, data=None):
        c = self._conns.get(conn_handle)
        if c is None:
            raise OSError(128)  # ENOTCONN
        self._deliver(c, h, self._attr(h).value if data is None else bytes(data))

    def gatts_indicate(self, conn_handle, h, data=None):
        self.gatts_notify(conn_handle, h, data)
        self._irq(_IRQ_GATTS_INDICATE_DONE, (conn_handle, h, 0))

    def gattc_exchange_mtu(self, conn_handle):
        """The device asks for its configured MTU; the central answers with
        its own, and _IRQ_MTU_EXCHANGED follows one round trip later."""
        self._need_active()
        c = self._conns.get(conn_handle)
        if c is None:
            raise OSError(128)  # ENOTCONN
        central = self.centrals.get(conn_handle)
        peer = central.max_mtu if central else _ATT_MTU_MIN
        asyncio.create_task(self._mtu_answer(c, min(self._config["mtu"], peer)))

    async def _mtu_answer(self, c, mtu):
        await asyncio.sleep_ms(_ATT_ROUND_TRIP_MS)
        if self._conns.get(c.handle) is c:
            c.mtu = max(_ATT_MTU_MIN, mtu)
            self._irq(_IRQ_MTU_EXCHANGED, (c.handle, c.mtu))

    def gatts_set_buffer(self, h, size, append=False):
        a = self._attr(h)
        a.buf = bytearray(size)
        a.n = 0
        a.append = append

    def _deliver(self, c, h, value):
        central = self.centrals.get(c.handle)
        if central:
            central.notified.append((h, value[:c.mtu - 3]))


_ble = _BLE()


def BLE():
    """The radio: one per device, like the real module."""
    return _ble


class GattError(Exception):
    pass


class SimCentral:
    """A phone talking to the simulated radio. Characteristics are named by
    UUID (a string or UUID) or by value handle. `max_mtu` is the largest ATT
    MTU its stack takes (517 for a current phone, 23 for an old one)."""

    def __init__(self, addr=b"\xc0\xff\xee\x00\x00\x01", ble=None, max_mtu=517):
        self.ble = ble or _ble
        self.addr = bytes(addr)
        self.max_mtu = max_mtu
        self.conn = None
        self.notified = []  # (value handle, bytes) in arrival order

    # -- scanning
    def scan(self):
        """What an active scan sees now: None, or a dict of the AD fields."""
        adv = self.ble.advertising
        if not adv:
            return None
        found = decode_adv(adv[1] + adv[2])
        found["connectable"] = adv[3]
        found["adv_data"] = adv[1]
        found["resp_data"] = adv[2]
        return found

    # -- connection
    def connect(self):
        b = self.ble
        if not b.advertising or not b.advertising[3]:
            raise OSError("not advertising connectable")
        b.advertising = None  # the stack stops advertising on connect
        c = _Conn(b._next_conn, self.addr)
        b._next_conn += 1
        b._conns[c.handle] = c
        b.centrals[c.handle] = self
        self.conn = c
        self.notified = []
        addr = bytearray(self.addr)
        b._irq(_IRQ_CENTRAL_CONNECT, (c.handle, 0, memoryview(addr)), (addr,))
        return self

    async def connect_when_advertising(self, timeout_ms=1000):
        """Connect once the device advertises connectable, as a phone's scan
        waits for it (after a disconnect the service restarts advertising a
        moment later); OSError if it does not within timeout_ms."""
        for _ in range(timeout_ms // 2):
            adv = self.ble.advertising
            if adv and adv[3]:
                break
            await asyncio.sleep_ms(2)
        return self.connect()

    def disconnect(self):
        if self.conn is not None:
            self.ble._drop(self.conn)

    def connected(self):
        return self.conn is not None

    def exchange_mtu(self, mtu):
        """The central asks for `mtu` (at most its max_mtu)."""
        c = self._need()
        c.mtu = max(_ATT_MTU_MIN, min(mtu, self.max_mtu, self.ble._config["mtu"]))
        self.ble._irq(_IRQ_MTU_EXCHANGED, (c.handle, c.mtu))
        return c.mtu

    def _need(self):
        if self.conn is None:
            raise OSError("not connected")
        return self.conn

    def handle(self, uuid):
        if isinstance(uuid, int):
            return uuid
        if not isinstance(uuid, UUID):
            uuid = UUID(uuid)
        for h in self.ble._attrs:
            if self.ble._attrs[h].uuid == uuid:
                return h
        raise KeyError(uuid)

    # -- GATT client
    def read_blob(self, uuid, offset=0):
        """One ATT Read (offset 0) or Read Blob request: at most MTU - 1
        bytes of the value from `offset`."""
        a, end = self._blob(uuid, offset)
        return bytes(a.buf[offset:end])

    def _blob(self, uuid, offset):
        """The attribute and the end of the part a Read Blob at `offset` gets."""
        c = self._need()
        h = self.handle(uuid)
        a = self.ble._attr(h)
        if not a.flags & FLAG_READ:
            raise GattError(0x02)  # read not permitted
        status = self.ble._irq(_IRQ_GATTS_READ_REQUEST, (c.handle, h))
        if status:
            raise GattError(status)
        if offset > a.n:
            raise GattError(0x07)  # invalid offset
        return a, min(a.n, offset + c.mtu - 1)

    def read(self, uuid):
        """The whole value, as a phone's stack reads it (Read, then Read Blob
        until a part is short), with no time between the requests."""
        out = b""
        while True:
            part = self.read_blob(uuid, len(out))
            out += part
            if len(part) < self.conn.mtu - 1:
                return out

    def read_into(self, uuid, buf):
        """read() into `buf` (it must hold the value): the value's length.
        No copy of the value is made, so a heap measurement's phone
        (tools/targets/heap32_run.py) leaves nothing among the firmware's
        objects."""
        n = 0
        while True:
            a, end = self._blob(uuid, n)
            k = end - n
            buf[n:end] = memoryview(a.buf)[n:end]
            n = end
            if k < self.conn.mtu - 1:
                return n

    async def read_long(self, uuid):
        """The same over the air: a round trip per request, so the device
        may change the value in between (the parts then do not match)."""
        out = b""
        while True:
            part = self.read_blob(uuid, len(out))
            out += part
            if len(part) < self.conn.mtu - 1:
                return out
            await asyncio.sleep_ms(_ATT_ROUND_TRIP_MS)

    def write(self, uuid, data, response=True):
        """A Write Request (or Command): at most MTU - 3 bytes, truncated to
        the attribute's buffer like the real stacks."""
        c = self._need()
        h = self.handle(uuid)
        a = self.ble._attr(h)
        if not a.flags & (FLAG_WRITE if response else FLAG_WRITE_NO_RESPONSE):
            raise GattError(0x03)  # write not permitted
        data = bytes(data)
        if len(data) > c.mtu - 3:
            raise GattError(0x0D)  # invalid attribute value length for this MTU
        a.received(data)
        self.ble._irq(_IRQ_GATTS_WRITE, (c.handle, h))

    async def request(self, uuid, data, timeout_ms=2000):
        """Write, wait for the server to answer in the value, read it back."""
        return self.read(await self._answered(uuid, data, timeout_ms))

    async def request_into(self, uuid, data, buf, timeout_ms=2000):
        """request() with the answer read into `buf` (read_into): its length."""
        return self.read_into(await self._answered(uuid, data, timeout_ms), buf)

    async def _answered(self, uuid, data, timeout_ms):
        """Write, and wait for the server to answer in the value: its handle."""
        h = self.handle(uuid)
        before = self.ble._attr(h).local_writes
        self.write(h, data)
        for _ in range(timeout_ms):
            if self.ble._attr(h).local_writes != before:
                return h
            await asyncio.sleep_ms(1)
        raise OSError("no answer on handle %d" % h)

    def subscribe(self, uuid, on=True):
        c = self._need()
        h = self.handle(uuid)
        if self.ble._attr(h).cccd is None:
            raise GattError(0x03)
        if on:
            c.subscribed.add(h)
        else:
            c.subscribed.discard(h)

    def notifications(self, uuid):
        h = self.handle(uuid)
        return [v for (hh, v) in self.notified if hh == h]


def decode_adv(payload):
    """AD structures -> {'flags', 'name', 'services', 'manufacturer'}."""
    out = {"services": [], "manufacturer": []}
    i = 0
    while i + 1 < len(payload):
        n = payload[i]
        if n == 0 or i + 1 + n > len(payload):
            break
        t, v = payload[i + 1], bytes(payload[i + 2:i + 1 + n])
        if t == 0x01:
            out["flags"] = v[0]
        elif t in (0x08, 0x09):
            out["name"] = v.decode()
        elif t in (0x02, 0x03, 0x06, 0x07):
            w = 2 if t < 0x06 else 16
            for k in range(0, len(v), w):
                out["services"].append(UUID(v[k:k + w]))
        elif t == 0xFF:
            out["manufacturer"].append((v[0] | v[1] << 8, v[2:]))
        i += 1 + n
    return out
