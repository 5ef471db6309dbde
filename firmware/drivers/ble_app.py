# The app side of the BLE service seam (drivers/ble_service.py) built from the
# firmware's App (settings, controller, history), the board's Store and the
# Instant Readout (drivers/ble_readout.py). It also owns the settings file:
# restored at construction, saved whenever a setting, the PIN, the PUK or the
# failure count changes (the Store skips unchanged bytes).
import os

from bms import protocol as P
from bms import settingsfile as F
from bms.auth import Auth
from bms.protection import LOW_POWER

SETTINGS_FILE = "settings.bin"


class BleApp:
    def __init__(self, app, store, readout=None, rand=os.urandom, restart=None):
        self.app = app
        self.settings = app.settings
        self.store = store
        self.readout = readout
        self.rand = rand
        self.restart = restart  # called for the restart command (the app delays it)
        values, secrets, self.problems = F.load(store.read(SETTINGS_FILE), rand)
        errors = self.settings.update(values)
        if errors:  # load() already checked every rule: only a newer schema gets here
            self.problems.append("stored settings refused: " + errors[0][2])
        self.auth = Auth(self.settings, secrets["puk"], secrets["failures"])
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

    def readout_key(self):
        if self.readout is None:
            raise OSError("no Instant Readout on this board")
        return self.readout.key

    def renew_readout_key(self):
        self.save()  # the new PIN first: it is what the owner just chose
        if self.readout is not None:
            self.readout.new_key(self.rand(16))

    def adv_payload(self):
        if self.readout is None:
            return None
        self.readout.refresh()
        return self.readout.adv_data(), self.readout.resp_data()
