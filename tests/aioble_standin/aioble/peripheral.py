# advertise(): build the payload, advertise, return the connection.
import asyncio
import struct

from .core import ble, ensure_active, register_irq_handler
from .device import Device, DeviceConnection

_IRQ_CENTRAL_CONNECT = 1
_IRQ_CENTRAL_DISCONNECT = 2

_AD_FLAGS = 0x01
_AD_NAME = 0x09
_AD_UUID16 = 0x03
_AD_UUID128 = 0x07
_AD_APPEARANCE = 0x19
_AD_MANUFACTURER = 0xFF
_ADV_MAX = 31

_incoming = []  # connections made while advertising, not yet returned
_arrived = asyncio.ThreadSafeFlag()


def _irq(event, data):
    if event == _IRQ_CENTRAL_CONNECT:
        conn_handle, addr_type, addr = data
        conn = DeviceConnection(Device(addr_type, addr))
        conn._opened(conn_handle)
        _incoming.append(conn)
        _arrived.set()
    elif event == _IRQ_CENTRAL_DISCONNECT:
        conn = DeviceConnection._connected.get(data[0])
        if conn:
            conn._closed()


register_irq_handler(_irq, None)


def _add(adv, resp, ad_type, value):
    item = bytes((len(value) + 1, ad_type)) + value
    if len(adv) + len(item) <= _ADV_MAX:
        return adv + item, resp
    if len(resp) + len(item) <= _ADV_MAX:
        return adv, resp + item
    raise ValueError("advertising payload too large")


def _build(connectable, limited_disc, br_edr, name, services, appearance, manufacturer):
    adv, resp = b"", b""
    if connectable or limited_disc or not br_edr:
        flags = (0x01 if limited_disc else 0x02) | (0x00 if br_edr else 0x04)
        adv, resp = _add(adv, resp, _AD_FLAGS, bytes((flags,)))
    for uuid in services or ():
        raw = bytes(uuid)
        adv, resp = _add(adv, resp, _AD_UUID16 if len(raw) == 2 else _AD_UUID128, raw)
    if name:
        adv, resp = _add(adv, resp, _AD_NAME, name.encode())
    if appearance:
        adv, resp = _add(adv, resp, _AD_APPEARANCE, struct.pack("<H", appearance))
    if manufacturer:
        adv, resp = _add(adv, resp, _AD_MANUFACTURER,
                         struct.pack("<H", manufacturer[0]) + bytes(manufacturer[1]))
    return adv, resp


async def advertise(interval_us, adv_data=None, resp_data=None, connectable=True,
                    limited_disc=False, br_edr=False, name=None, services=None,
                    appearance=0, manufacturer=None, timeout_ms=None):
    ensure_active()
    if adv_data is None and resp_data is None:
        adv_data, resp_data = _build(connectable, limited_disc, br_edr, name, services,
                                     appearance, manufacturer)
    del _incoming[:]
    ble.gap_advertise(interval_us, adv_data=adv_data, resp_data=resp_data,
                      connectable=connectable)
    try:
        if timeout_ms is None:
            await _arrived.wait()
        else:
            await asyncio.wait_for_ms(_arrived.wait(), timeout_ms)
    except asyncio.TimeoutError:
        ble.gap_advertise(None)
        raise
    except asyncio.CancelledError:
        ble.gap_advertise(None)
        return None
    return _incoming.pop(0)
