# micropython
# The simulated radio's GATT database holds values as the board's C module
# does (extmod/modbluetooth.c, NimBLE): in buffers on the MicroPython heap
# that grow and never shrink, so the heap figures of tools/heap32.py see them.
import gc
from boards.sim import bluetooth as B

_SVC = B.UUID(0x1234)
_CHR = B.UUID(0x5678)


def _fresh():
    ble = B.BLE()
    ble.reset()
    ble.active(True)
    ((h,),) = ble.gatts_register_services(((_SVC, ((_CHR, B.FLAG_READ | B.FLAG_WRITE),)),))
    return ble, h


def _connected(ble):
    ble.gap_advertise(100000, b"")
    return B.SimCentral(ble=ble).connect()


def test_a_value_starts_in_a_20_byte_buffer_and_a_central_write_is_cut_to_it():
    ble, h = _fresh()
    assert len(ble._attr(h).buf) == 20
    phone = _connected(ble)
    phone.write(h, bytes(range(20)))
    assert ble.gatts_read(h) == bytes(range(20))
    phone.write(h, bytes(range(5)))
    assert ble.gatts_read(h) == bytes(range(5))
    phone.exchange_mtu(100)
    phone.write(h, bytes(range(30)))  # longer than the buffer: the stack keeps 20
    assert ble.gatts_read(h) == bytes(range(20))


def test_set_buffer_sizes_the_buffer_and_appends():
    ble, h = _fresh()
    ble.gatts_set_buffer(h, 65)
    assert len(ble._attr(h).buf) == 65 and ble.gatts_read(h) == b""
    phone = _connected(ble)
    phone.exchange_mtu(100)
    phone.write(h, b"x" * 70)
    assert ble.gatts_read(h) == b"x" * 65
    ble.gatts_set_buffer(h, 8, True)
    phone.write(h, b"abc")
    phone.write(h, b"defgh")
    phone.write(h, b"ij")  # the buffer is full at 8
    assert ble.gatts_read(h) == b"abcdefgh"
    assert ble.gatts_read(h) == b""  # an appending read empties it


def test_a_local_write_grows_the_buffer_and_a_shorter_one_keeps_it():
    ble, h = _fresh()
    ble.gatts_write(h, b"y" * 300)
    assert len(ble._attr(h).buf) == 300
    ble.gatts_write(h, b"")
    assert len(ble._attr(h).buf) == 300 and ble.gatts_read(h) == b""
    ble.gatts_write(h, b"z" * 10)
    assert ble.gatts_read(h) == b"z" * 10 and len(ble._attr(h).buf) == 300


def test_the_buffer_is_on_the_heap_and_a_read_returns_a_new_object():
    ble, h = _fresh()
    gc.collect()
    before = gc.mem_alloc()
    ble.gatts_write(h, b"q" * 1000)
    gc.collect()
    assert gc.mem_alloc() - before >= 1000  # held by the database, as the board's
    a = ble.gatts_read(h)
    b = ble.gatts_read(h)
    assert a == b and a is not b


def test_read_into_reads_what_read_reads_without_a_copy_of_the_value():
    ble, h = _fresh()
    value = bytes(range(200)) * 3
    ble.gatts_write(h, value)
    phone = _connected(ble)
    phone.exchange_mtu(247)  # three parts
    buf = bytearray(1024)
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        n = phone.read_into(h, buf)
        used = gc.mem_alloc() - before
    finally:
        gc.enable()
    assert n == len(value) and bytes(buf[:n]) == phone.read(h) == value
    assert used < len(value), used  # the parts' bookkeeping (a few small objects each), no copy
