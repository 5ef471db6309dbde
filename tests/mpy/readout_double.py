# A controller-shaped object with just what bms.readout reads, for the Instant
# Readout tests and benchmark. Keyword arguments override the measurements and
# the pack figures. tick() does the controller's part: count the SoC.
from bms.measure import Measurements
from bms.settings import Settings
from bms.soc import Soc


class Obj:
    pass


def make_ctl(settings=None, bat_mv=13250, alt_ma=20000, sys_ma=-5000, fet_ddegc=300, seen=1,
             pack_mv=13260, min_cell_mv=3300, max_temp_ddegc=215):
    c = Obj()
    c.now_ms = 0
    m = c.meas = Measurements()
    m.stale = 0
    m.bat_mv = bat_mv
    m.alt_ma = alt_ma
    m.sys_ma = sys_ma
    m.fet_ddegc = fet_ddegc
    p = c.pack = Obj()
    p.seen = seen
    p.pack_mv = pack_mv
    p.min_cell_mv = min_cell_mv
    p.max_temp_ddegc = max_temp_ddegc
    p.lost = 0
    pr = c.protection = Obj()
    pr.atc = pr.atd = pr.load_out = pr.alt_allowed = True
    pr.prealarm_out = False
    c.alternator = Obj()
    c.alternator.fault = 0
    c.remote = Obj()
    c.remote.on = True
    c.settings = settings if settings is not None else Settings()
    c.soc = Soc()
    return c


def tick(c, now_ms):
    """What the controller's tick does for the readout: count the charge."""
    c.now_ms = now_ms
    c.soc.count(now_ms, c.pack, c.meas, c.settings)
