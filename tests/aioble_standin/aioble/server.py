# GATT server: services, characteristics (with write capture), descriptors.
import asyncio
from collections import deque

from .core import ble, ensure_active, register_irq_handler, GattError
from .device import DeviceConnection

_IRQ_GATTS_WRITE = 3
_IRQ_GATTS_READ_REQUEST = 4
_IRQ_GATTS_INDICATE_DONE = 20

_FLAG_READ = 0x0002
_FLAG_WRITE_NO_RESPONSE = 0x0004
_FLAG_WRITE = 0x0008
_FLAG_NOTIFY = 0x0010
_FLAG_INDICATE = 0x0020
_CAPTURE_LIMIT = 10  # unconsumed captured writes kept; older ones are dropped

_by_handle = {}
# Captured writes of all characteristics share one queue so their order holds.
_captured = deque((), _CAPTURE_LIMIT)


class Service:
    def __init__(self, uuid):
        self.uuid = uuid
        self.characteristics = []

    def _tuple(self):
        return (self.uuid, tuple(c._tuple() for c in self.characteristics))


class BaseCharacteristic:
    _value_handle = None

    def _registered(self, handle):
        self._value_handle = handle
        _by_handle[handle] = self
        if self._initial is not None:
            ble.gatts_write(handle, self._initial)
            self._initial = None

    def read(self):
        if self._value_handle is None:
            return self._initial or b""
        return ble.gatts_read(self._value_handle)

    def write(self, data, send_update=False):
        if self._value_handle is None:
            self._initial = data
        else:
            ble.gatts_write(self._value_handle, data, send_update)

    async def written(self, timeout_ms=None):
        if not hasattr(self, "_flag"):
            return None
        while True:
            if self._capture:
                if _captured and _captured[0][0] is self:
                    _ch, conn, data = _captured.popleft()
                    if _captured:
                        _captured[0][0]._flag.set()
                    return conn, data
            elif self._pending is not None:
                conn, self._pending = self._pending, None
                return conn
            if timeout_ms is None:
                await self._flag.wait()
            else:
                await asyncio.wait_for_ms(self._flag.wait(), timeout_ms)

    def on_read(self, connection):
        return 0

    def _remote_write(self, conn_handle):
        conn = DeviceConnection._connected.get(conn_handle)
        if self._capture:
            # copy now: the stack reuses the buffer for the next write
            _captured.append((self, conn, ble.gatts_read(self._value_handle)))
            _captured[0][0]._flag.set()
        else:
            self._pending = conn
            self._flag.set()


class Characteristic(BaseCharacteristic):
    def __init__(self, service, uuid, read=False, write=False, write_no_response=False,
                 notify=False, indicate=False, initial=None, capture=False):
        service.characteristics.append(self)
        self.descriptors = []
        self.uuid = uuid
        self.flags = ((_FLAG_READ if read else 0) | (_FLAG_WRITE if write else 0)
                      | (_FLAG_WRITE_NO_RESPONSE if write_no_response else 0)
                      | (_FLAG_NOTIFY if notify else 0) | (_FLAG_INDICATE if indicate else 0))
        self._initial = initial
        self._capture = capture
        if write or write_no_response:
            self._flag = asyncio.ThreadSafeFlag()
            self._pending = None
        if indicate:
            self._indicated = asyncio.ThreadSafeFlag()
            self._indicate_status = None

    def _tuple(self):
        return (self.uuid, self.flags, tuple(d._tuple() for d in self.descriptors))

    def notify(self, connection, data=None):
        ble.gatts_notify(connection._conn_handle, self._value_handle, data)

    async def indicate(self, connection, data=None, timeout_ms=1000):
        self._indicate_status = None
        ble.gatts_indicate(connection._conn_handle, self._value_handle, data)
        while self._indicate_status is None:
            await asyncio.wait_for_ms(self._indicated.wait(), timeout_ms)
        if self._indicate_status != 0:
            raise GattError(self._indicate_status)


class BufferedCharacteristic(Characteristic):
    def __init__(self, *args, max_len=20, append=False, **kwargs):
        super().__init__(*args, **kwargs)
        self._max_len = max_len
        self._append = append

    def _registered(self, handle):
        ble.gatts_set_buffer(handle, self._max_len, self._append)
        super()._registered(handle)


class Descriptor(BaseCharacteristic):
    def __init__(self, characteristic, uuid, read=False, write=False, initial=None):
        characteristic.descriptors.append(self)
        self.uuid = uuid
        self.flags = (_FLAG_READ if read else 0) | (_FLAG_WRITE if write else 0)
        self._initial = initial
        self._capture = False
        if write:
            self._flag = asyncio.ThreadSafeFlag()
            self._pending = None

    def _tuple(self):
        return (self.uuid, self.flags)


def register_services(*services):
    ensure_active()
    _by_handle.clear()
    handles = ble.gatts_register_services(tuple(s._tuple() for s in services))
    for svc, hs in zip(services, handles):
        i = 0
        for ch in svc.characteristics:
            ch._registered(hs[i])
            i += 1
            for d in ch.descriptors:
                d._registered(hs[i])
                i += 1


def _irq(event, data):
    if event == _IRQ_GATTS_WRITE:
        ch = _by_handle.get(data[1])
        if ch:
            ch._remote_write(data[0])
    elif event == _IRQ_GATTS_READ_REQUEST:
        ch = _by_handle.get(data[1])
        conn = DeviceConnection._connected.get(data[0])
        if ch and conn:
            return ch.on_read(conn)
    elif event == _IRQ_GATTS_INDICATE_DONE:
        ch = _by_handle.get(data[1])
        if ch and hasattr(ch, "_indicated"):
            ch._indicate_status = data[2]
            ch._indicated.set()


def _shutdown():
    _by_handle.clear()


register_irq_handler(_irq, _shutdown)
