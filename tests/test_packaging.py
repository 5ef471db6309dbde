"""package.json (mip) and manifest.py (freezing) cover the firmware exactly."""
import json

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
        if "$(" not in path:  # one of ours, beside manifest.py: follow it
            exec((build.ROOT / path).read_text(), env)

    env = {"package": package, "module": module, "include": include,
           "freeze": lambda p: calls.append(("freeze", p)),
           "require": lambda p: calls.append(("require", p))}
    exec((build.ROOT / "manifest.py").read_text(), env)
    return frozen, calls


def test_manifest_freezes_everything_but_boot_and_main_and_brings_aioble():
    frozen, calls = _frozen_files()
    wanted = {dev.replace(".mpy", ".py") for dev in build.stage("esp32")} - {
        "boot.py", "main.py", "board.json"}
    wanted |= {"boards/pico_w.py"}
    assert frozen == wanted
    assert ("require", "aioble-peripheral") in calls and ("require", "aioble-server") in calls
    assert ("freeze", "$(PORT_DIR)/modules") in calls  # the port's _boot.py
