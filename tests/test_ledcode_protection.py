# micropython
# The status LED shows the protection's port faults (MOSFET heat, System+
# overcurrent), which live in block_alt / block_sys, not in ATC / ATD.
from bms import ledcode
from protect_rig import rig


class Alt:
    fault = 0


def test_port_faults_reach_the_led():
    r = rig()
    assert ledcode.code_for(r.p, r.pack, Alt()) == ledcode.OK
    r.meas.sys_ma = -450000
    r.tick()
    assert ledcode.code_for(r.p, r.pack, Alt()) == ledcode.BMS_TEMP
    r = rig()
    r.meas.fet_ddegc = 1100
    r.run(1000)
    assert ledcode.code_for(r.p, r.pack, Alt()) == ledcode.BMS_TEMP
