# micropython
# The status LED shows the protection's port faults (MOSFET heat, System+
# overcurrent), which live in block_alt / block_sys, not in ATC / ATD.
from bms import controller as C
from bms import reasons as R
from protect_rig import rig


class Alt:
    fault = 0


def test_port_faults_reach_the_led():
    r = rig()
    assert C.LED_NAMES[C.code_for(r.p, r.pack, Alt())] == "ok"
    r.meas.sys_ma = -450000
    r.tick()
    assert C.LED_NAMES[C.code_for(r.p, r.pack, Alt())] == "bms_temp"
    r = rig()
    r.meas.fet_ddegc = 1100
    r.run(1000)
    assert C.LED_NAMES[C.code_for(r.p, r.pack, Alt())] == "bms_temp"


class _P:
    def __init__(self, chg, dsg, alt, sysb, warn):
        self.block_chg = chg
        self.block_dsg = dsg
        self.block_alt = alt
        self.block_sys = sysb
        self.warn = warn


class _Pack:
    def __init__(self, full_scan):
        self.full_scan = full_scan


def _plain(p, pack, alt):
    # code_for() as it reads with reasons.py's names (the code's name)
    blocked = p.block_chg | p.block_dsg
    if blocked & R.LOW_POWER_OFF:
        return "off"
    if blocked & R.COUNT_MISMATCH:
        return "battery_count"
    if not pack.full_scan:
        return "boot"
    if blocked & R.DATA_LOST:
        return "link"
    if (p.block_alt | p.block_sys) & (R.BMS_OVERTEMP | R.OVERCURRENT | R.SHORT_CIRCUIT
                                      | R.OC_LOCKOUT) or alt.fault:
        return "bms_temp"
    if blocked & ~R.REMOTE_OFF:
        return "cell"
    if blocked:
        return "off"
    return "warning" if p.warn else "ok"


def test_every_reason_bit_gives_the_code_of_its_name():
    """code_for() keeps const() copies of reasons.py's bits: each bit alone and
    with another, in every mask, says what reasons.py's names say."""
    alt = Alt()
    bits = [0] + [1 << b for b in range(21)]
    for a in bits:
        for b in (0, R.REMOTE_OFF, R.DATA_LOST, R.CELL_OV):
            for where in range(4):
                m = [0, 0, 0, 0]
                m[where] = a | b
                for full in (False, True):
                    for warn in (0, R.PREALARM):
                        for fault in (0, 1):
                            alt.fault = fault
                            p = _P(m[0], m[1], m[2], m[3], warn)
                            pack = _Pack(full)
                            assert C.LED_NAMES[C.code_for(p, pack, alt)] == _plain(p, pack, alt), (a, b, where)
