# micropython
# The UART LinkPort over the fake `machine`: 8N1 set up, reads never block
# and return 0 when idle, writes send exactly n bytes.
import fake_machine

fake_machine.install()
from drivers.uart_link import UartLink  # noqa: E402


def test_configures_uart_8n1_non_blocking():
    link = UartLink(2, tx=26, rx=27, baud=57600)
    u = link._uart
    assert u.id == 2 and u.baudrate == 57600
    assert u.kw["bits"] == 8 and u.kw["parity"] is None and u.kw["stop"] == 1
    assert u.kw["timeout"] == 0 and u.kw["rxbuf"] >= 1024


def test_readinto_returns_zero_when_idle_and_caps_at_buffer():
    link = UartLink(0, tx=0, rx=1)
    buf = bytearray(4)
    assert link.readinto(buf) == 0
    link._uart.rx = bytearray(b"\xaa\x55\x21\x0d\x01\x02")
    assert link.readinto(buf) == 4 and buf == bytearray(b"\xaa\x55\x21\x0d")
    assert link.readinto(buf) == 2 and buf[:2] == b"\x01\x02"
    assert link.readinto(buf) == 0


def test_write_sends_exactly_n_bytes():
    link = UartLink(0, tx=0, rx=1)
    link.write(bytearray(b"abcdefgh"), 8)
    link.write(bytearray(b"xyz"), 2)
    assert link._uart.tx == bytearray(b"abcdefghxy")


def test_the_simulated_board_has_the_same_rings():
    # the sim board's UART must not hold more than the board's (docs/boards.md)
    from drivers import uart_link
    from boards.sim import hw

    assert (hw.RX_RING, hw.TX_RING) == (uart_link.RX_RING, uart_link.TX_RING)
