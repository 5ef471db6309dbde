# Victron Instant Readout over aioble: keeps the advertisement key in the
# store, builds the payload with bms.readout and hands it to the radio while
# aioble waits for a central (connectable, device name in the scan response).
# aioble would move a 31-byte manufacturer item into the scan response, so
# the advertising data is built here and passed in whole.
import asyncio
import cryptolib
import time
from micropython import const
import aioble
from bms import readout

KEY_FILE = "readout.key"
INTERVAL_US = const(250000)
REFRESH_MS = const(1000)
_FLAGS_ONLY = b"\x02\x01\x06"  # readout off or no data yet: still discoverable


class BleReadout:
    """Instant Readout for one controller.

    `random_bytes(n)` is the board's source of randomness (os.urandom). The
    key is made at first boot (or when the stored copy is corrupt:
    `key_made` tells) and only the authenticated configuration session may
    read `key` or call `new_key()`.
    """

    def __init__(self, store, controller, random_bytes):
        self._store = store
        self._ctl = controller
        key = readout.key_from_record(store.read(KEY_FILE))
        self.key_made = key is None
        if key is None:
            key = random_bytes(16)
            store.write(KEY_FILE, readout.key_record(key))
        self._key = key
        n = random_bytes(2)
        self.readout = readout.Readout(cryptolib.aes(key, 1), key[0], n[0] | n[1] << 8)
        self._name = None
        self._resp = b""
        self._last_adv = _FLAGS_ONLY
        self.errors = 0  # failed refreshes (kept advertising the previous data)
        self.last_error = None

    @property
    def key(self):
        return self._key

    def set_key(self, key):
        """Use and store this 16-byte key (scenario files, tests)."""
        if len(key) != 16:
            raise ValueError("readout key must be 16 bytes")
        key = bytes(key)
        self._store.write(KEY_FILE, readout.key_record(key))
        self._key = key
        self.readout.set_key(cryptolib.aes(key, 1), key[0])

    def new_key(self, random16):
        """After a PIN change: a fresh key from 16 random bytes, byte 0 stepped."""
        self.set_key(readout.next_key(self._key, random16))

    def adv_data(self):
        if self._ctl.settings.readout_enabled and self.readout.ready:
            return self.readout.adv
        return _FLAGS_ONLY

    def resp_data(self):
        name = self._ctl.settings.device_name
        if name != self._name:
            self._name = name
            self._resp = readout.scan_response(name)
        return self._resp

    def refresh(self):
        """Rebuild from the controller's last tick; True if the radio needs new data."""
        ctl = self._ctl
        changed = False
        if ctl.settings.readout_enabled:
            changed = self.readout.update(ctl.now_ms, ctl)
        adv = self.adv_data()
        if adv is not self._last_adv:  # readout switched on or off
            self._last_adv = adv
            changed = True
        return changed

    async def advertise(self, interval_us=INTERVAL_US):
        """Advertise until a central connects and return aioble's connection.

        The payload is rebuilt every second meanwhile; the caller (the
        configuration service) calls this again after each connection.
        """
        self.refresh()
        self.resp_data()
        task = asyncio.create_task(self._refresh_loop(interval_us))
        try:
            return await aioble.advertise(interval_us, adv_data=self.adv_data(),
                                          resp_data=self._resp, connectable=True)
        finally:
            task.cancel()

    async def _refresh_loop(self, interval_us):
        due = time.ticks_ms()
        while True:
            due = time.ticks_add(due, REFRESH_MS)
            await asyncio.sleep_ms(max(0, time.ticks_diff(due, time.ticks_ms())))
            name = self._name
            try:
                self.resp_data()
                if self.refresh() or self._name != name:
                    aioble.core.ble.gap_advertise(interval_us, adv_data=self.adv_data(),
                                                  resp_data=self._resp, connectable=True)
            except Exception as e:  # a stale advertisement beats a dead task
                self.errors += 1
                self.last_error = repr(e)
