# A small aioble-compatible stand-in for host tests, written from aioble's
# documented API (peripheral, GATT server and connection parts). Tests use the
# real aioble instead when AIOBLE_PATH points at it; boards always use the real one.
from .core import GattError, config, stop, register_irq_handler
from .device import Device, DeviceConnection, DeviceDisconnectedError
from .peripheral import advertise
from .server import Service, Characteristic, BufferedCharacteristic, Descriptor, register_services

ADDR_PUBLIC = 0
ADDR_RANDOM = 1
