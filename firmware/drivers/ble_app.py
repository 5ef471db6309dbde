# The app side of the BLE service seam (drivers/ble_service.py) built from the
# firmware's App (settings, controller, history) and the board's Store, with
# the Instant Readout (drivers/ble_readout.py) as the advertised payload. It
# also owns the settings file: restored at construction, saved whenever a
# setting, the PIN, the PUK, the readout key or the failure count changes
# (the Store skips unchanged bytes).
import os

from bms import protocol as P
from bms import settingsfile as F
from bms.auth import Auth
from bms.protection import LOW_POWER

SETTINGS_FILE = "settings.bin"


class BleApp:
    def __init__(self, app, store, readout=True, rand=os.urandom, restart=None):
        self.app = app
        self.settings = app.settings
        self.store = store
        self.rand = rand
        self.restart = restart  # called for the restart command (the app delays it)
        values, secrets, self.problems = F.load(store.read(SETTINGS_FILE), rand)
        errors = self.settings.update(values)
        if errors:  # load() already checked every rule: only a newer schema gets here
            self.problems.append("stored settings refused: " + errors[0][2])
        self.auth = Auth(self.settings, secrets["puk"], secrets["readout_key"],
                         secrets["failures"])
        self.readout = None
        if readout:  # needs cryptolib: every board has it
            from drivers.ble_readout import BleReadout
            self.readout = BleReadout(app.controller, self.auth, rand)
        self.save()

    def save(self):
        """Persist settings and secrets; False when unchanged or the write failed."""
        self.auth.dirty = False
        return self.store.write(SETTINGS_FILE, F.snapshot(self.settings, self.auth))

    def save_auth(self):
        self.save()

    # -- the seam of drivers/ble_service.py
    def status_bytes(self):
        return P.encode_status(self.app.controller)

    def cells_bytes(self, first):
        return P.encode_cells(self.app.controller.pack, first)

    def history_page(self, page):
        return P.encode_history_page(self.app.history, page)

    def apply_settings(self, changes):
        errors = self.settings.update(changes)
        if not errors:
            self.save()
        return errors

    def command(self, code):
        prot = self.app.controller.protection
        if code == P.CMD_CLEAR_ALARMS:
            prot.clear_alarms()
        elif code == P.CMD_CLEAR_HISTORY:
            self.app.history.clear()
        elif code == P.CMD_WAKE:
            if prot.state != LOW_POWER:
                return P.E_REFUSED
            prot.wake()
        elif code == P.CMD_RESTART:
            if self.restart is None:
                return P.E_REFUSED
            self.restart()
        else:
            return P.E_UNKNOWN_OP
        return P.OK

    def adv_payload(self):
        if self.readout is None:
            return None
        return self.readout.payload()
