# The simulated battery bank on the battery cable: N batteries in a ring
# (BMS TX -> battery 1 -> ... -> battery N -> BMS RX) answering scan requests
# with real frames, delivered at the line rate (10 bits per byte), with fault
# injection. Runs on MicroPython (the sim board) and CPython
# (tools/battery_emulator.py), so no viper and no machine here.
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

from bms.linkframe import (T_REQUEST, REQUEST_BYTES, CELLS_BYTES, CELLS2_BYTES, BITS_PER_BYTE,
                           HOP_DELAY_BYTES, F_ALARM, encode_cells, encode_cells2, encode_request,
                           find_frames)

_RX_KEEP = const(64)  # unparsed request bytes kept (more than one frame)


class BatteryChain:
    def __init__(self, count, baud=115200):
        if not 1 <= count <= 255:
            raise ValueError("battery count outside 1..255")
        self.count = count
        self.baud = baud
        self.cells = [[3300, 3300, 3300, 3300] for _ in range(count)]
        self.temp_ddegc = [250] * count
        self.flags = [0] * count
        self.alarms = [None] * count  # alarm kinds of a battery that sends report v2; None: v1
        self.scans = 0  # scan requests answered
        self.frames_sent = 0  # battery reports put on the line
        self._silent = [False] * count
        self._replay = [None] * count  # per battery: the report it repeats
        self._unplugged = False
        self._drop = 0
        self._flips = 0
        self._rng = 0x9E3779B9
        self._rx = bytearray()  # bytes from the BMS not yet understood
        self._out = bytearray()  # bytes travelling to the BMS
        self._due_ns = 0  # when _out[0] has fully arrived at the BMS
        self._now_ns = 0
        self._scratch = bytearray(CELLS_BYTES)
        self._scratch2 = bytearray(CELLS2_BYTES)

    # -- battery values (stored as given: out-of-range values test rejection)
    def set_cells(self, addr, mv1, mv2, mv3, mv4):
        c = self.cells[addr - 1]
        c[0], c[1], c[2], c[3] = mv1, mv2, mv3, mv4

    def set_temp(self, addr, temp_ddegc):
        self.temp_ddegc[addr - 1] = temp_ddegc

    def set_flags(self, addr, flags):
        self.flags[addr - 1] = flags

    def set_alarms(self, addr, kinds):
        """From now on the battery sends report v2 with these alarm kinds
        (bms/linkframe.py A_*) and its alarm flag set exactly when one is."""
        self.alarms[addr - 1] = kinds

    # -- fault injection
    def noise(self, nbytes):
        """nbytes of random bytes on the line, from now."""
        junk = bytearray(nbytes)
        for i in range(nbytes):
            junk[i] = self._rand() & 0xFF
        self._send(junk, self._now_ns)

    def flip_bits(self, count):
        """Flip `count` random bits in the next scan's answer."""
        self._flips += count

    def drop_frames(self, count):
        """The next `count` battery reports never make it onto the line."""
        self._drop += count

    def silence(self, addr, on):
        """Battery addr stops reporting (it still forwards: the ring stays closed)."""
        self._silent[addr - 1] = bool(on)

    def replay(self, addr, on):
        """Battery addr sends its report of the next scan again in every scan
        after it (a module stuck replaying a cached report: old sequence
        number, frozen values)."""
        self._replay[addr - 1] = bytearray() if on else None

    def unplug(self, on):
        """Cable unplugged: requests go nowhere, nothing comes back."""
        self._unplugged = bool(on)
        if on:
            self._out = bytearray()

    # -- the line
    def byte_ns(self):
        return BITS_PER_BYTE * 1000000000 // self.baud

    def write(self, buf, n, now_ms):
        """Bytes the BMS transmits; a valid scan request starts a scan."""
        now_ns = now_ms * 1000000
        self._advance(now_ns)
        if self._unplugged:
            return
        self._rx += bytes(buf[:n])
        found = find_frames(self._rx)
        for ofs, kind, payload in found:
            if kind == T_REQUEST:
                self._answer(payload[0], payload[1], now_ns)
        if found:
            last = found[-1]
            self._rx = self._rx[last[0] + 4 + len(last[2]) + 2:]
        if len(self._rx) > _RX_KEEP:
            self._rx = self._rx[len(self._rx) - _RX_KEEP:]

    def readinto(self, buf, now_ms):
        """Copy into buf the bytes that have fully arrived by now_ms."""
        now_ns = now_ms * 1000000
        self._advance(now_ns)
        if self._unplugged or not self._out:
            return 0
        step = self.byte_ns()
        ready = (now_ns - self._due_ns) // step + 1
        if ready <= 0:
            return 0
        n = min(ready, len(buf), len(self._out))
        out = self._out
        for i in range(n):
            buf[i] = out[i]
        self._out = out[n:]
        self._due_ns += n * step
        return n

    def _advance(self, now_ns):
        if now_ns > self._now_ns:
            self._now_ns = now_ns

    def _send(self, data, start_ns):
        """Queue data behind whatever is still on the line."""
        if self._unplugged:
            return
        if not self._out:
            self._due_ns = start_ns + self.byte_ns()
        self._out += data

    def _answer(self, hop, seq, now_ns):
        # every battery adds one to the hop count and appends its report
        out = bytearray(REQUEST_BYTES)
        encode_request(out, 0, hop + self.count, seq)
        for i in range(self.count):
            if self._silent[i]:
                continue
            if self._drop:
                self._drop -= 1
                continue
            cached = self._replay[i]
            if cached:
                out += cached
            else:
                kinds = self.alarms[i]
                if kinds is None:
                    f = self._scratch
                    encode_cells(f, 0, hop + i + 1, seq, self.cells[i], self.temp_ddegc[i],
                                 self.flags[i])
                else:
                    f = self._scratch2
                    flags = self.flags[i] & ~F_ALARM | (F_ALARM if kinds else 0)
                    encode_cells2(f, 0, hop + i + 1, seq, self.cells[i], self.temp_ddegc[i],
                                  flags, kinds)
                if cached is not None:
                    cached += f  # the report replayed from now on
                out += f
            self.frames_sent += 1
        while self._flips:
            self._flips -= 1
            bit = self._rand() % (len(out) * 8)
            out[bit >> 3] ^= 1 << (bit & 7)
        self.scans += 1
        # the first byte reaches the BMS after one byte time per hop, plus
        # the BMS's own transmission of it
        self._send(out, now_ns + (self.count * HOP_DELAY_BYTES) * self.byte_ns())

    def _rand(self):
        s = self._rng
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self._rng = s
        return s
