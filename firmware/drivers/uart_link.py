# The battery cable on a hardware UART (8N1). Polled: the control tick calls
# readinto() once per 10 ms and takes whatever has arrived, so no asyncio
# stream, no IRQ and no extra task. The receive ring buffer is sized for
# several ticks of bytes so a late tick (GC, Bluetooth) loses nothing.
from machine import UART, Pin

RX_RING = 2048  # bytes: ~175 ms of traffic at 115200, ~1 s at 19200
TX_RING = 256


class UartLink:
    """LinkPort: readinto(buf) -> int (0 when nothing), write(buf, n)."""

    def __init__(self, uart_id, tx, rx, baud=115200):
        # Pin objects (not numbers) are accepted by both the ESP32 and rp2 ports;
        # timeout=0 makes every read return at once with what is there.
        self._uart = UART(uart_id, baudrate=baud, bits=8, parity=None, stop=1,
                          tx=Pin(tx), rx=Pin(rx), rxbuf=RX_RING, txbuf=TX_RING,
                          timeout=0, timeout_char=0)
        self.baud = baud

    def readinto(self, buf):
        waiting = self._uart.any()
        if not waiting:
            return 0
        room = len(buf)
        n = self._uart.readinto(buf, waiting if waiting < room else room)
        return n or 0  # the ports return None when the read found nothing

    def write(self, buf, n):
        if n == len(buf):
            self._uart.write(buf)
        else:  # rare: a slice allocates, the scan request always fills its buffer
            self._uart.write(memoryview(buf)[:n])
