# The radio singleton and the chain of IRQ handlers every part registers.
import bluetooth

ble = bluetooth.BLE()
_handlers = []  # (irq, shutdown)


class GattError(Exception):
    def __init__(self, status):
        super().__init__(status)
        self._status = status


def register_irq_handler(irq, shutdown):
    _handlers.append((irq, shutdown))


def _dispatch(event, data):
    for irq, _shutdown in _handlers:
        r = irq(event, data)
        if r is not None:
            return r


def ensure_active():
    if not ble.active():
        ble.active(True)
        ble.irq(_dispatch)


def config(*args, **kwargs):
    ensure_active()
    return ble.config(*args, **kwargs)


def stop():
    ble.active(False)
    for _irq, shutdown in _handlers:
        if shutdown:
            shutdown()


ble.irq(_dispatch)
