"""Write web/schema.json from firmware/bms/settings.py SCHEMA (plus the
status names of bms/reasons.py, undervoltage.py and alternator.py).

The phone page builds its settings form from web/schema.json; this script is
the only way that file is made, and tests/test_web_schema.py fails when the
committed file differs from what it produces. The firmware module runs here in
CPython with a tiny `micropython` shim (const() is the identity).

    python tools/gen_schema.py           # rewrite web/schema.json
    python tools/gen_schema.py --check   # exit 1 when it is out of date
"""
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


def load_names():
    """The names status values are shown with: reason and warning bits, the
    protection and alternator-port states."""
    reasons, undervoltage, alternator = _load("reasons", "undervoltage", "alternator")
    return {
        "reasons": list(reasons.REASON_NAMES), "warnings": list(reasons.WARN_NAMES),
        "prot_states": list(undervoltage.STATE_NAMES), "alt_states": list(alternator.STATE_NAMES),
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
