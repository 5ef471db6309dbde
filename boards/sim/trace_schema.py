# The trace record schema: every key and its JSON type. Pure Python with no
# imports, so the host tools (bms-sim, tests) check traces with the same table.
# (key, JSON type) in the order records are written; "?" allows null.
FIELDS = (
    ("t_ms", "int"),
    # plant (the truth)
    ("cell_min_mv", "int"), ("cell_min_at", "str"), ("cell_max_mv", "int"), ("cell_max_at", "str"),
    ("soc_pct", "float"), ("bat_mv", "int"), ("start_mv", "int"), ("sys_mv", "int"),
    ("alt_ma", "int"), ("sys_ma", "int"), ("fet_dc", "int"), ("fuse_ok", "bool"),
    ("engine", "str"), ("remote_terminals", "str"), ("temp_min_dc", "int"), ("temp_max_dc", "int"),
    # what the firmware decoded from the battery cable
    ("fw_cell_min_mv", "int"), ("fw_cell_min_at", "str?"), ("fw_cell_max_mv", "int"),
    ("fw_cell_max_at", "str?"), ("pack_mv", "int"), ("fw_temp_min_dc", "int"),
    ("fw_temp_max_dc", "int"), ("link_ok", "bool"), ("link_seen", "int"), ("link_lost", "list"),
    # the link's counters since boot (bms/link.py Decoder)
    ("link_reports", "int"), ("link_crc_errors", "int"), ("link_rejected", "int"),
    ("link_stray_bytes", "int"),
    # the currents the firmware measured and used (bms/measure.py), next to the plant's
    ("meas_alt_ma", "int"), ("meas_sys_ma", "int"),
    # gates and outputs as driven on the board
    ("chg_fet", "bool"), ("dsg_fet", "bool"), ("alt_duty", "int"),
    ("load_out", "bool"), ("charge_out", "bool"), ("prealarm_out", "bool"), ("led", "str"),
    # protection
    ("prot_state", "str"), ("atc", "bool"), ("atd", "bool"), ("block_chg", "list"),
    ("block_dsg", "list"), ("block_alt", "list"), ("block_sys", "list"), ("warn", "list"),
    ("alt_allowed", "bool"), ("alt_limit_ma", "int"),
    ("remote_on", "bool"), ("remote_mode", "str"),
    # alternator port (the limiter)
    ("alt_state", "str"), ("alt_target_ma", "int"), ("alt_limit_reason", "str"), ("alt_fault", "list"),
    # Instant Readout: manufacturer data as advertised (hex), null while nothing is
    ("readout_mfr", "str?"),
)
TYPES = dict(FIELDS)
KEYS = tuple(k for k, _t in FIELDS)


def check(rec):
    """A list of problems with one decoded record (empty when it fits the schema)."""
    problems = []
    for key, kind in FIELDS:
        if key not in rec:
            problems.append("missing " + key)
            continue
        v = rec[key]
        if kind.endswith("?"):
            if v is None:
                continue
            kind = kind[:-1]
        ok = {
            "int": isinstance(v, int) and not isinstance(v, bool),
            "float": isinstance(v, (int, float)) and not isinstance(v, bool),
            "bool": isinstance(v, bool),
            "str": isinstance(v, str),
            "list": isinstance(v, list),
        }[kind]
        if not ok:
            problems.append("%s: expected %s, got %r" % (key, kind, v))
    for key in rec:
        if key not in TYPES:
            problems.append("unknown key " + key)
    return problems
