"""How bmsctl shows what the BMS says: enum values and reason bits in words,
every value with its unit, and the same facts as plain JSON for scripts.

The words and the display units come from web/schema.json (made from the
firmware's own tables by tools/gen_schema.py, and read by the phone page too),
so a name is written once, in the firmware.
"""
import json
from pathlib import Path

SCHEMA_JSON = Path(__file__).resolve().parent.parent / "web" / "schema.json"

_schema = None


def schema():
    global _schema
    if _schema is None:
        _schema = json.loads(SCHEMA_JSON.read_text(encoding="utf-8"))
        _schema["by_name"] = {s["name"]: s for s in _schema["settings"]}
    return _schema


def names(table):
    return schema()["names"][table]


def name_of(table, i):
    t = names(table)
    return t[i] if 0 <= i < len(t) else "%s %d" % (table.rstrip("s"), i)


def bit_names(table, mask):
    """Names of the bits set in mask, lowest first ('bit N' past the table)."""
    t = names(table)
    return [t[i] if i < len(t) else "bit %d" % i for i in range(32) if mask >> i & 1]


# -- units ----------------------------------------------------------------
def show(value, unit):
    """An integer in the firmware's unit as people read it: 3301 mV -> '3.301 V'."""
    d = schema()["units"].get(unit)
    if d is None:
        return "%s %s" % (value, unit) if unit else str(value)
    return "%.*f %s" % (d["decimals"], value / d["scale"], d["unit"])


def volts(mv, decimals=2):
    return "%.*f V" % (decimals, mv / 1000)


def amps(ma, signed=True):
    if abs(ma) < 50:
        return "0.0 A"  # no "-0.0 A" for sensor noise
    return ("%+.1f A" if signed else "%.1f A") % (ma / 1000)


def celsius(dc):
    return "%.1f °C" % (dc / 10)


def duration(ms):
    s = ms // 1000
    if s < 60:
        return "%d s" % s
    if s < 3600:
        return "%d min %02d s" % (s // 60, s % 60)
    return "%d h %02d min" % (s // 3600, s % 3600 // 60)


def cell_name(at):
    return "battery %d cell %d" % (at // 4 + 1, at % 4 + 1)


def parse_value(entry, text):
    """A setting value typed by a person: the firmware's integer unit ('3650'),
    or the shown unit with a decimal point ('3.65V', '3.65 V', '-5C', '5 °C',
    '2.5s'). Returns the integer; ValueError when it is neither."""
    t = text.strip()
    d = schema()["units"].get(entry["unit"])
    if d is not None:
        for suffix in (d["unit"], d["unit"].replace("°", ""), d["unit"].lower()):
            if t.endswith(suffix) and suffix:
                num = t[:-len(suffix)].strip()
                try:
                    v = float(num)
                except ValueError:
                    break
                raw = round(v * d["scale"])
                if abs(raw - v * d["scale"]) > 1e-6 * d["scale"]:
                    raise ValueError("%s: %s has more than %d decimals" % (entry["name"], text,
                                                                           d["decimals"]))
                return raw
    if entry["unit"] and t.endswith(entry["unit"]):
        t = t[:-len(entry["unit"])].strip()
    return int(t)


def setting_text(name, value):
    entry = schema()["by_name"][name]
    if entry["type"] == "enum":
        return str(entry["choices"][value]) if 0 <= value < len(entry["choices"]) else str(value)
    if entry["type"] == "text":
        return value
    return show(value, entry["unit"])


# -- status ---------------------------------------------------------------
def firmware_version(st):
    if st.get("fw_major") is None:
        return None  # format 2: older firmware, no version in the status
    return "%d.%d.%d" % (st["fw_major"], st["fw_minor"], st["fw_patch"])


_SOC_UNKNOWN = 0xFFFF
_TTG_NONE = 0xFFFF


def status_json(st):
    """The decoded status for scripts: states and reasons by name, numbers in
    the units their keys end with (_mv, _ma, _dc, _ms, _pm: 0.1 %), unknown
    values as null."""
    out = {}
    for k, v in st.items():
        if k in ("outputs", "pack_flags", "fw_major", "fw_minor", "fw_patch"):
            continue
        out[k] = v
    out["firmware"] = firmware_version(st)
    out["prot_state"] = name_of("prot_states", st["prot_state"])
    out["alt_state"] = name_of("alt_states", st["alt_state"])
    out["remote_mode"] = name_of("remote_modes", st["remote_mode"])
    out["alt_limit_reason"] = name_of("alt_limits", st["alt_limit_reason"])
    out["alt_fault"] = bit_names("alt_faults", st["alt_fault"])
    for k in ("block_chg", "block_dsg", "block_alt", "block_sys"):
        out[k] = bit_names("reasons", st[k])
    out["warn"] = bit_names("warnings", st["warn"])
    out["lost"] = bit_names("link_lost", st["lost"])
    if st.get("soc_pm") in (None, _SOC_UNKNOWN):
        out["soc_pm"] = out["consumed_mah"] = out["ttg_min"] = None
    elif st["ttg_min"] == _TTG_NONE:
        out["ttg_min"] = None
    return out


def _path(blocked):
    return "blocked: " + ", ".join(blocked) if blocked else "allowed"


def _onoff(v):
    return "on" if v else "off"


def status_lines(st):
    """[(label, text)] for the status command."""
    j = status_json(st)
    rows = [("firmware", j["firmware"] or "unknown (status format %d)" % st["format"]),
            ("state", j["prot_state"].replace("_", " ")),
            ("charge", _path(j["block_chg"])),
            ("discharge", _path(j["block_dsg"])),
            ("alternator path", _path(j["block_alt"])),
            ("System+ port", _path(j["block_sys"])),
            ("warnings", ", ".join(j["warn"]) or "none"),
            ("bank", volts(st["pack_mv"]))]
    if j["soc_pm"] is None:
        rows.append(("state of charge", "unknown (not counted yet)"))
    else:
        soc = "%.1f %%, %.1f Ah used" % (j["soc_pm"] / 10, j["consumed_mah"] / 1000)
        if j["ttg_min"] is not None:
            soc += ", %s to go" % duration(j["ttg_min"] * 60000)
        rows.append(("state of charge", soc))
    rows += [
        ("alternator", "%s, port %s, target %s, cap %s, limited by %s, duty %.1f %%, fault: %s" % (
            amps(st["alt_ma"]), j["alt_state"].replace("_", " "), amps(st["alt_target_ma"], False),
            amps(st["alt_limit_ma"], False), j["alt_limit_reason"].replace("_", " "),
            st["alt_duty"] / 100, ", ".join(j["alt_fault"]) or "none")),
        ("System+", amps(st["sys_ma"]) + " (+ = charging the bank)"),
        ("starter", volts(st["start_mv"])),
    ]
    if st["configured"]:
        rows += [("lowest cell", "%s (%s)" % (volts(st["min_cell_mv"], 3), cell_name(st["min_cell_at"]))),
                 ("highest cell", "%s (%s)" % (volts(st["max_cell_mv"], 3), cell_name(st["max_cell_at"]))),
                 ("temperature", "%s .. %s" % (celsius(st["min_temp_dc"]), celsius(st["max_temp_dc"])))]
    rows += [
        ("batteries", "%d of %d fresh; %slink faults: %s" % (
            st["seen"], st["configured"],
            "battery count wrong: the cable does not hold %d; " % st["configured"]
            if st.get("count_mismatch") else "", ", ".join(j["lost"]) or "none")),
        ("battery link", "%d reports, %d CRC errors, %d rejected, %d stray bytes" % (
            st["link_frames_ok"], st["link_crc_errors"], st["link_rejected"],
            st["link_garbage_bytes"])),
        ("outputs", "charge FET %s, discharge FET %s, load out %s, charge out %s, pre-alarm out %s"
         % tuple(_onoff(st[k]) for k in ("chg_fet", "dsg_fet", "load_out", "charge_out",
                                         "prealarm_out"))),
        ("remote", "%s (terminals %s)" % (_onoff(st["remote_on"]), j["remote_mode"].replace("_", " "))),
        ("uptime", duration(st["uptime_ms"]) + " (device clock)"),
    ]
    if st.get("flash_fault"):
        rows.append(("flash", "REFUSED the last save: a restart would bring back older settings "
                              "or history"))
    return rows


# -- cells and history ----------------------------------------------------
def cells_lines(batteries):
    return ["battery %2d  %s mV  %s  %s" % (
        i + 1, " ".join("%4d" % c for c in b["cell_mv"]), celsius(b["temp_dc"]),
        ", ".join(bit_names("battery_flags", b["flags"])) or "-")
        for i, b in enumerate(batteries)]


def cells_json(batteries):
    return [dict(b, flags=bit_names("battery_flags", b["flags"])) for b in batteries]


_UNSEEN = 32767  # history.py UNSEEN_MIN / -UNSEEN_MAX: no battery data yet
_COUNTERS = (("lvd", "low-voltage disconnects", None), ("hv_stops", "high-voltage charge stops", None),
             ("low_temp", "low-temperature stops", None), ("high_temp", "high-temperature stops", None),
             ("data_losses", "battery data losses", None), ("oc_trips", "overcurrent trips", None),
             ("min_cell_mv", "lowest cell ever", "mV"), ("max_cell_mv", "highest cell ever", "mV"),
             ("min_temp_dc", "lowest temperature", "0.1C"), ("max_temp_dc", "highest temperature", "0.1C"),
             ("alt_mah", "alternator charge", "mAh"))


def event_name(code):
    base = schema()["names"]["event_warn_base"]
    if code >= base:
        return name_of("warnings", code - base)
    return name_of("reasons", code)


def history_json(counters, events):
    units = schema()["event_units"]
    out_events = []
    for t, code, mask, value in events:
        name = event_name(code)
        e = {"time_ms": t, "event": name, "active": bit_names("reasons", mask)}
        if name in units:
            e["value"], e["unit"] = value, units[name]
        out_events.append(e)
    return {"counters": {k: (None if abs(counters[k]) == _UNSEEN and u in ("mV", "0.1C")
                             else counters[k]) for k, _l, u in _COUNTERS},
            "events": out_events}


def history_lines(counters, events):
    lines = []
    for k, label, unit in _COUNTERS:
        v = counters[k]
        text = "--" if unit in ("mV", "0.1C") and abs(v) == _UNSEEN else (show(v, unit) if unit else str(v))
        lines.append("%-26s %s" % (label, text))
    for e in history_json(counters, events)["events"]:
        value = "  " + show(e["value"], e["unit"]) if "unit" in e else ""
        lines.append("at %10.1f s  %-20s%s  (active: %s)" % (
            e["time_ms"] / 1000, e["event"], value, ", ".join(e["active"]) or "none"))
    return lines
