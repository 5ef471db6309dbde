"""Write web/schema.json from firmware/bms/settings.py SCHEMA, plus the
names status values are shown with (reasons, states, faults, modes; read from
the firmware's own tables) and how each unit is shown to people.

The phone page builds its settings form and its words from web/schema.json,
and bmsctl reads the same file (tools/bmsview.py): this script is the only way
it is made, and tests/test_web_schema.py fails when the committed file
differs from what it produces. settings.py runs here in CPython with a tiny
`micropython` shim (const() and native are the identity); the name tables are read from
the other modules' source without running them.

    python tools/gen_schema.py           # rewrite web/schema.json
    python tools/gen_schema.py --check   # exit 1 when it is out of date
"""
import ast
import importlib.util
import json
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_PY = ROOT / "firmware" / "bms" / "settings.py"
OUT = ROOT / "web" / "schema.json"


def _load(*names):
    """Import firmware/bms modules in CPython (const() shim), then forget them."""
    shim = types.ModuleType("micropython")
    shim.const = lambda v: v
    shim.native = lambda f: f  # the native emitter's decorator
    before = dict(sys.modules)
    sys.modules["micropython"] = shim
    sys.path.insert(0, str(ROOT / "firmware"))
    try:
        return [importlib.import_module("bms." + n) for n in names]
    finally:
        sys.path.remove(str(ROOT / "firmware"))
        for k in list(sys.modules):
            if k not in before:
                del sys.modules[k]
        sys.modules.update(before)


def load_settings():
    return _load("settings")[0]


def constants(module, *names):
    """Top-level constants of firmware/bms/<module>.py (literals, or const()
    of a literal), read from the source: the firmware's own tables, without
    importing code written for MicroPython (viper, machine)."""
    tree = ast.parse((ROOT / "firmware" / "bms" / (module + ".py")).read_text(encoding="utf-8"))
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name) and node.targets[0].id in names:
            v = node.value
            if isinstance(v, ast.Call) and getattr(v.func, "id", None) == "const":
                v = v.args[0]
            found[node.targets[0].id] = ast.literal_eval(v)
    missing = [n for n in names if n not in found]
    if missing:
        raise KeyError("firmware/bms/%s.py has no %s" % (module, ", ".join(missing)))
    return [found[n] for n in names]


def load_names():
    """The names status values are shown with: reason and warning bits, the
    protection and alternator-port states, the alternator's limit reasons and
    fault bits, the remote modes, the link-fault bits, a battery's own flag
    bits and where warning events start in the history's event codes."""
    reasons, warnings = constants("reasons", "REASON_NAMES", "WARN_NAMES")
    return {
        "reasons": list(reasons), "warnings": list(warnings),
        "prot_states": list(constants("undervoltage", "STATE_NAMES")[0]),
        "alt_states": list(constants("alternator", "STATE_NAMES")[0]),
        "alt_limits": list(constants("alternator", "LIMIT_NAMES")[0]),
        "alt_faults": list(constants("alternator", "FAULT_NAMES")[0]),
        "remote_modes": list(constants("remote", "MODE_NAMES")[0]),
        "link_lost": list(constants("pack", "LOST_NAMES")[0]),
        "battery_flags": _flag_names(),
        "event_warn_base": constants("history", "EV_WARN")[0],
    }


def _flag_names():
    """The bits of a battery's flag byte as the pack stores it (bms/linkframe.py
    F_BALANCING, F_ALARM, the alarm kinds from PF_KIND_SHIFT on, PF_KIND_UNKNOWN)."""
    balancing, alarm, shift, unknown, kinds = constants(
        "linkframe", "F_BALANCING", "F_ALARM", "PF_KIND_SHIFT", "PF_KIND_UNKNOWN", "ALARM_NAMES")
    out = ["bit %d" % i for i in range(unknown.bit_length())]
    out[balancing.bit_length() - 1] = "balancing"
    out[alarm.bit_length() - 1] = "alarm"
    for i, name in enumerate(kinds):
        out[shift + i] = name
    out[unknown.bit_length() - 1] = "alarm_kind_unknown"
    return out


# How people see each unit of the schema and the status: integers in the
# firmware's unit, shown as value / scale with this many decimals.
DISPLAY_UNITS = {
    "mV": {"unit": "V", "scale": 1000, "decimals": 3},
    "0.1C": {"unit": "°C", "scale": 10, "decimals": 1},
    "ms": {"unit": "s", "scale": 1000, "decimals": 3},
    "mA": {"unit": "A", "scale": 1000, "decimals": 1},
    "mAh": {"unit": "Ah", "scale": 1000, "decimals": 1},
}

# The unit of the value each history event carries (bms/history.py _events),
# for the events whose value says something.
EVENT_UNITS = {
    "cell_uv": "mV", "cell_uv_emergency": "mV", "cell_ov": "mV", "prealarm": "mV",
    "temp_low_charge": "0.1C", "temp_high_charge": "0.1C", "temp_high_discharge": "0.1C",
    "temp_low_discharge": "0.1C", "battery_low_cell": "mV", "battery_high_cell": "mV",
    "battery_low_temp": "0.1C", "battery_high_temp": "0.1C",
    "bms_overtemp": "0.1C", "overcurrent": "mA", "oc_lockout": "mA", "short_circuit": "mA",
}


def build(mod, names):
    kinds = {mod.INT: "int", mod.CHOICE: "choice", mod.ENUM: "enum", mod.TEXT: "text", mod.PIN: "pin"}
    settings = []
    for sid, name, kind, unit, default, lo, hi, restart, choices, label in mod.SCHEMA:
        settings.append({
            "id": sid, "name": name, "type": kinds[kind], "unit": unit, "default": default,
            "min": lo, "max": hi, "restart": restart,
            "choices": list(choices) if choices is not None else None, "label": label,
        })
    return {
        "source": "firmware/bms/settings.py",
        "errors": list(mod.ERROR_NAMES),
        "order_rules": [list(r) for r in mod.ORDER_RULES],
        "names": names,
        "units": DISPLAY_UNITS,
        "event_units": EVENT_UNITS,
        "settings": settings,
    }


def render():
    return json.dumps(build(load_settings(), load_names()), indent=1, ensure_ascii=True) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in argv:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print("web/schema.json is out of date: run python tools/gen_schema.py", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print("wrote", OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
