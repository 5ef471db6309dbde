# Devices (an address) and connections (a connected central).
import asyncio

from .core import ble, register_irq_handler

_IRQ_MTU_EXCHANGED = 21


class DeviceDisconnectedError(Exception):
    pass


class Device:
    def __init__(self, addr_type, addr):
        self.addr_type = addr_type
        self.addr = bytes(addr)  # the IRQ's memoryview dies after the callback

    def __eq__(self, other):
        return self.addr_type == other.addr_type and self.addr == other.addr

    def __hash__(self):
        return hash((self.addr_type, self.addr))

    def addr_hex(self):
        return ":".join("%02x" % b for b in self.addr)

    def __str__(self):
        return "Device(%d, %s)" % (self.addr_type, self.addr_hex())


class DeviceConnection:
    _connected = {}  # conn handle -> DeviceConnection

    def __init__(self, device):
        self.device = device
        self._conn_handle = None
        self.encrypted = False
        self.authenticated = False
        self.bonded = False
        self.key_size = 0
        self.mtu = None
        self._gone = asyncio.ThreadSafeFlag()
        self._mtu_flag = asyncio.ThreadSafeFlag()

    def _opened(self, conn_handle):
        self._conn_handle = conn_handle
        DeviceConnection._connected[conn_handle] = self

    def _closed(self):
        DeviceConnection._connected.pop(self._conn_handle, None)
        self._conn_handle = None
        self._gone.set()

    def is_connected(self):
        return self._conn_handle is not None

    async def disconnected(self, timeout_ms=None, disconnect=False):
        if disconnect and self.is_connected():
            ble.gap_disconnect(self._conn_handle)
        if not self.is_connected():
            return
        if timeout_ms is None:
            await self._gone.wait()
        else:
            await asyncio.wait_for_ms(self._gone.wait(), timeout_ms)

    async def disconnect(self, timeout_ms=2000):
        await self.disconnected(timeout_ms, disconnect=True)

    async def exchange_mtu(self, mtu=None, timeout_ms=1000):
        if mtu:
            ble.config(mtu=mtu)
        ble.gattc_exchange_mtu(self._conn_handle)
        await asyncio.wait_for_ms(self._mtu_flag.wait(), timeout_ms)
        return self.mtu

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        await self.disconnect()


def _irq(event, data):
    if event == _IRQ_MTU_EXCHANGED:
        conn = DeviceConnection._connected.get(data[0])
        if conn:
            conn.mtu = data[1]
            conn._mtu_flag.set()


register_irq_handler(_irq, None)
