# The aioble stand-in against aioble's published signatures (the Pico W stubs,
# pinned in pyproject.toml and installed by tools/typecheck.py): it must offer
# every public name it defines with the stubs' parameters. (The firmware's own
# BLE code is type-checked against the stubs by tests/test_target_fidelity.py.)
import ast
from pathlib import Path

import pytest

from tools import typecheck

ROOT = Path(__file__).resolve().parent.parent
STANDIN = ROOT / "tests" / "aioble_standin" / "aioble"


def _params(fn):
    a = fn.args
    names = [p.arg for p in a.posonlyargs + a.args]
    if a.vararg:
        names.append("*" + a.vararg.arg)
    names += [p.arg for p in a.kwonlyargs]
    if a.kwarg:
        names.append("**" + a.kwarg.arg)
    return names


def _api(path):
    """{'module.name' or 'module.Class.method': params} for public definitions."""
    out = {}
    for f in sorted(path.glob("*.py*")):
        mod = f.name.split(".")[0]
        for node in ast.parse(f.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if not node.name.startswith("_"):
                    out[mod + "." + node.name] = _params(node)
            elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                out[mod + "." + node.name] = None
                for m in node.body:
                    if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                            not m.name.startswith("_") or m.name == "__init__"):
                        out["%s.%s.%s" % (mod, node.name, m.name)] = _params(m)
    return out


def test_standin_matches_published_signatures():
    try:
        stubs = typecheck.stubs_dir("pico_w")
    except typecheck.StubsMissing as e:
        pytest.fail(str(e))
    stub = _api(stubs / "aioble")
    ours = _api(STANDIN)
    assert ours, "stand-in not found"
    for name, params in ours.items():
        assert name in stub, name + " is not in aioble's API"
        assert params == stub[name], "%s%s differs from aioble's %s" % (name, params, stub[name])
    # the parts the firmware uses are all there
    for name in ("peripheral.advertise", "server.Characteristic.notify", "server.register_services",
                 "server.BaseCharacteristic.written", "device.DeviceConnection.disconnected"):
        assert name in ours, name

