# Test double for the app side of the BLE service seam: real Settings and Auth,
# a controller-shaped object whose attributes the tests set, and a log of the
# commands and settings changes the service asked for.
import time

from bms import protocol as P
from bms.settings import Settings
from bms.auth import Auth
from bms.history import History
from bms.soc import Soc


class _Obj:
    def __init__(self, **kw):
        for k in kw:
            setattr(self, k, kw[k])


def make_controller():
    pack = _Obj(configured=2, seen=2, data_ok=True, full_scan=True, battery_alarm=False, count_mismatch=False, alarm_kinds=0, lost=0,
                pack_mv=13250, min_cell_mv=3301, min_cell_at=5, max_cell_mv=3340, max_cell_at=2,
                min_temp_ddegc=-52, max_temp_ddegc=231, cell_mv=[3300 + i for i in range(200)],
                temp_ddegc=[200 + i for i in range(50)], flags=bytearray(50))
    return _Obj(
        pack=pack,
        protection=_Obj(uv=_Obj(state=1), atc=True, atd=True, chg_fet=True, dsg_fet=False, alt_allowed=True,
                        load_out=True, charge_out=False, prealarm_out=True, block_chg=0,
                        block_dsg=0x24, warn=1, alt_limit_ma=90000, block_alt=0x124,
                        block_sys=0x200),
        decoder=_Obj(frames_ok=12345, crc_errors=3, rejected=2, garbage_bytes=77),
        alternator=_Obj(state=3, fault=0, limiter=_Obj(duty_cpct=4321),
                        target=_Obj(ma=-5, reason=2)),
        meas=_Obj(alt_ma=45678, sys_ma=-12345, start_mv=13900),
        remote=_Obj(on=True, mode=1),
        soc=Soc(),  # not seeded yet
        now_ms=123456)


class App:
    def __init__(self, failures=0):
        self.settings = Settings()
        self.auth = Auth(self.settings, "24681357", bytes(range(16)), failures)
        self.ctl = make_controller()
        self.commands = []
        self.applied = []
        self.history = History()
        self.history.lvd = 2
        for i in range(15):  # two pages of events
            self.history._log(100 * i, 3, 8, i)
        self.status_calls = 0
        self.auth_saves = 0
        self.flash_ok = True  # False: the flash refuses writes
        self.clock = time.ticks_ms

    def status_bytes(self):
        self.status_calls += 1
        return P.encode_status(self.ctl)

    def cells_bytes(self, first):
        return P.encode_cells(self.ctl.pack, first)

    def history_page(self, page):
        return P.encode_history_page(self.history, page)

    def save_auth(self):
        self.auth_saves += 1
        self.auth.dirty = not self.flash_ok
        return self.flash_ok

    def apply_settings(self, changes):
        errors = self.settings.update(changes)
        if not errors:
            self.applied.append(changes)
        return errors

    def command(self, code):
        if code == P.CMD_WAKE:
            return P.E_REFUSED  # not in low-power off
        if code == 99:
            raise RuntimeError("boom")
        self.commands.append(code)
        return P.OK
