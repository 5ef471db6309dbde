# Victron Instant Readout payload for the BLE service: `payload()` is the
# seam's `adv_payload()` (ble_seam.py) (drivers/ble_service.py advertises it, connectable, and
# calls it again at least once a second). The advertising data is built here
# in full, because aioble would move a 31-byte manufacturer item into the scan
# response. The key is `auth.readout_key`: made at first boot and stored with
# the settings; a PIN change renews it. It is followed here when it changes.
import cryptolib
from bms import protocol
from bms import readout
from bms.readout_frame import FLAGS_AD, scan_response


class BleReadout:
    """`random_bytes(n)` is the board's randomness (os.urandom): it seeds the nonce."""

    def __init__(self, controller, auth, random_bytes):
        self._ctl = controller
        self._auth = auth
        key = auth.readout_key
        self._key = key
        n = random_bytes(2)
        self.readout = readout.Readout(cryptolib.aes(key, 1), key[0], n[0] | n[1] << 8)
        self._name = None
        self._resp = b""

    def payload(self):
        """(adv_data, resp_data), rebuilt from the controller's last tick."""
        ctl = self._ctl
        key = self._auth.readout_key
        if key != self._key:  # a PIN change brought a new key
            self._key = key
            self.readout.set_key(cryptolib.aes(key, 1), key[0])
        s = ctl.settings
        if s.device_name != self._name:
            self._name = s.device_name
            self._resp = scan_response(self._name, protocol.SERVICE_UUID)
        if s.readout_enabled:
            self.readout.update(ctl)
            if self.readout.ready:
                return self.readout.adv, self._resp
        return FLAGS_AD, self._resp  # readout off or no data yet: still discoverable
