# The aioble stand-in and the firmware's BLE code against aioble's published
# signatures (the micropython-rp2-rpi-pico-w-stubs package): the stand-in must
# offer every public name it defines with the stubs' parameters, and mypy must
# accept drivers/ble_service.py against the stubs.
import ast
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STANDIN = ROOT / "tests" / "aioble_standin" / "aioble"
STUBS = Path(metadata.distribution("micropython-rp2-rpi-pico-w-stubs").locate_file(""))


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
    stub = _api(STUBS / "aioble")
    ours = _api(STANDIN)
    assert ours, "stand-in not found"
    for name, params in ours.items():
        assert name in stub, name + " is not in aioble's API"
        assert params == stub[name], "%s%s differs from aioble's %s" % (name, params, stub[name])
    # the parts the firmware uses are all there
    for name in ("peripheral.advertise", "server.Characteristic.notify", "server.register_services",
                 "server.BaseCharacteristic.written", "device.DeviceConnection.disconnected"):
        assert name in ours, name


def test_ble_service_type_checks_against_stubs(tmp_path):
    for name in ("aioble", "bluetooth.pyi", "micropython.pyi", "time.pyi"):
        src = STUBS / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    cfg = tmp_path / "mypy.ini"
    cfg.write_text("[mypy]\nmypy_path = %s:%s\nfollow_imports = silent\n"
                   "[mypy-aioble.*,bluetooth,micropython,time]\nignore_errors = True\n"
                   % (tmp_path, ROOT / "firmware"))
    r = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--config-file", str(cfg),
                        str(ROOT / "firmware" / "drivers" / "ble_service.py")],
                       capture_output=True, text=True, cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
