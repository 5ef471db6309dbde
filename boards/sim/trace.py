# Trace records: one JSON object per line at a fixed sim interval, with the
# plant's truth next to what the firmware saw and decided. Keys and types:
# trace_schema.py; units and meaning: docs/scenarios.md. Names, not bit numbers, for states
# and reasons, so a trace reads without the source at hand.
import json

from boards.sim.trace_schema import KEYS
from bms import alternator as A
from bms.controller import LED_NAMES
from bms import pack as P
from bms import reasons as R
from bms import remote as RM
from bms import undervoltage as UV

def cell_name(i):
    """'B2C3' for flat cell index 6 (battery 2, cell 3); None when there is no cell."""
    if i is None or i < 0:
        return None
    return "B%dC%d" % (i // 4 + 1, i % 4 + 1)


def record(t_ms, board, ctl):
    plant = board.plant
    lo_mv, lo_i, hi_mv, hi_i = plant.cell_extremes()
    pack = ctl.pack
    prot = ctl.protection
    alt = ctl.alternator
    dec = ctl.decoder
    temps = [plant.temp_ddegc(b) for b in range(len(plant.temp_c))]
    return {
        "t_ms": t_ms,
        "cell_min_mv": lo_mv, "cell_min_at": cell_name(lo_i),
        "cell_max_mv": hi_mv, "cell_max_at": cell_name(hi_i),
        "soc_pct": round(plant.soc_pct(), 2),
        "bat_mv": plant.bat_mv, "start_mv": plant.start_mv, "sys_mv": plant.sys_mv,
        "alt_ma": plant.alt_ma, "sys_ma": plant.sys_ma, "fet_dc": plant.fet_ddegc,
        "fuse_ok": plant.fuse_ok, "engine": plant.engine, "remote_terminals": plant.remote,
        "temp_min_dc": min(temps), "temp_max_dc": max(temps),
        "fw_cell_min_mv": pack.min_cell_mv, "fw_cell_min_at": cell_name(pack.min_cell_at),
        "fw_cell_max_mv": pack.max_cell_mv, "fw_cell_max_at": cell_name(pack.max_cell_at),
        "pack_mv": pack.pack_mv, "fw_temp_min_dc": pack.min_temp_ddegc,
        "fw_temp_max_dc": pack.max_temp_ddegc, "link_ok": pack.data_ok, "link_seen": pack.seen,
        "link_lost": P.lost_names(pack.lost),
        "link_reports": dec.frames_ok, "link_crc_errors": dec.crc_errors,
        "link_rejected": dec.rejected, "link_stray_bytes": dec.garbage_bytes,
        "meas_alt_ma": ctl.meas.alt_ma, "meas_sys_ma": ctl.meas.sys_ma,
        "chg_fet": board.chg_gate.on, "dsg_fet": board.dsg_gate.on,
        "alt_duty": board.alt_gate.duty_cpct, "load_out": board.load_out.on,
        "charge_out": board.charge_out.on, "prealarm_out": board.prealarm_out.on,
        "led": LED_NAMES[ctl.led_code],
        "prot_state": UV.STATE_NAMES[prot.uv.state], "atc": prot.atc, "atd": prot.atd,
        "block_chg": R.names(prot.block_chg), "block_dsg": R.names(prot.block_dsg),
        "block_alt": R.names(prot.block_alt), "block_sys": R.names(prot.block_sys),
        "warn": R.warn_names(prot.warn), "alt_allowed": prot.alt_allowed,
        "alt_limit_ma": prot.alt_limit_ma,
        "remote_on": ctl.remote.on, "remote_mode": RM.MODE_NAMES[ctl.remote.mode],
        "alt_state": A.STATE_NAMES[alt.state], "alt_target_ma": alt.target.ma,
        "alt_limit_reason": A.LIMIT_NAMES[alt.target.reason],
        "alt_fault": R.names(alt.fault, A.FAULT_NAMES),
        "readout_mfr": board.readout.mfr_hex,
    }


def dumps(rec):
    """One record as JSON text with its keys in schema order (easier to read)."""
    return "{" + ", ".join('"%s": %s' % (k, json.dumps(rec[k])) for k in KEYS) + "}"


class TraceWriter:
    """Writes a record every interval_ms of sim time to an open text stream."""

    def __init__(self, stream, interval_ms=1000):
        self.stream = stream
        self.interval_ms = interval_ms
        self.next_ms = 0
        self.count = 0

    def due(self, t_ms):
        return t_ms >= self.next_ms

    def write(self, rec):
        self.stream.write(dumps(rec))
        self.stream.write("\n")
        self.next_ms = rec["t_ms"] + self.interval_ms
        self.count += 1
