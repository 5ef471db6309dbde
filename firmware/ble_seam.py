# The Bluetooth seam: all that drivers/ble_service.py reaches of the rest of
# the firmware (docs/ble-protocol.md). It reads the controller's state
# between ticks and changes settings through the same validation as
# everything else; a change the flash refuses is undone.
from bms import protocol as P
from bms.undervoltage import LOW_POWER


class BleSeam:
    """`clock()` is the app's ms ticks (the service runs lockouts and
    challenges on it); `restart()` asks the app to stop and reset the
    board, False where it may not (the app was not started by main.py)."""

    def __init__(self, settings, auth, clock, controller, history, persistence, restart):
        self.settings = settings
        self.auth = auth
        self.clock = clock
        self._ctl = controller
        self._history = history
        self._persist = persistence
        self._restart = restart
        self.readout = None  # drivers/ble_readout.py, made when Bluetooth starts

    def status_bytes(self):
        return P.encode_status(self._ctl, self._persist.flash_fault)

    def cells_bytes(self, first):
        return P.encode_cells(self._ctl.pack, first)

    def history_page(self, page):
        return P.encode_history_page(self._history, page)

    def apply_settings(self, changes):
        """Settings.update, then flash; a change the flash refuses is undone
        (E_INTERNAL), so what the phone is told matches what a reboot keeps."""
        s = self.settings
        old = {}
        for n in changes:  # an unknown name is refused below: nothing to undo then
            old[n] = getattr(s, n, None)
        errors = s.update(changes)
        if errors or self._persist.save_settings():
            return errors
        s.update(old)
        first = list(changes)[:1] or [""]
        return [(first[0], P.E_INTERNAL, "settings not stored (flash write failed); unchanged")]

    def save_auth(self):
        """The auth's commit: True once the PIN, PUK, key and failure count
        are in flash (bms.auth calls it before it answers)."""
        return self._persist.save_settings()

    def command(self, code):
        prot = self._ctl.protection
        if code == P.CMD_CLEAR_ALARMS:
            prot.clear_alarms()
        elif code == P.CMD_CLEAR_HISTORY:
            self._history.clear()
            self._persist.save_history()
        elif code == P.CMD_WAKE:
            if prot.uv.state != LOW_POWER:
                return P.E_REFUSED
            prot.wake()
        elif code == P.CMD_RESTART:
            if not self._restart():
                return P.E_REFUSED
        else:
            return P.E_UNKNOWN_OP
        return P.OK

    def adv_payload(self):
        """(adv_data, resp_data) of the Instant Readout, None before it starts."""
        if self.readout is None:
            return None
        return self.readout.payload()
