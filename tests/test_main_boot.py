# micropython
# boot.py and main.py over the machine stand-in: a maintenance request is good
# for one boot and leaves the watchdog off and every output safe; every other
# boot arms the watchdog before the radio and the app, and a Ctrl-C or a
# broken firmware leaves the outputs safe and the watchdog armed.
import os
import sys
import time

import fake_machine

fake_machine.install()
import main  # noqa: E402

_tests = sys.path.pop(0)  # the runner's tests/ entry: its bench/ suite would shadow firmware/bench.py
import bench  # noqa: E402,F401  (the firmware's, which main.py hands the stopped app to)

sys.path.insert(0, _tests)
from boards import esp32  # noqa: E402
from mpytest import raises  # noqa: E402

HOME = os.getcwd()
DIR = "/tmp/bms-main-boot-%d" % time.ticks_us()
BOARD = "testboard"
made = []  # the Hardware of each boot


def _make():
    hw = esp32.make(root=DIR + "/")
    made.append(hw)
    return hw


class _Radio:
    """`bluetooth` whose activation is where the test's Ctrl-C arrives."""

    seen = []

    class BLE:
        def active(self, on):
            hw = made[-1]
            _Radio.seen.append((hw.wdt.armed, _attached() is not None))
            hw.chg_gate.set(True)  # something on when the Ctrl-C comes
            hw.alt_gate.set_duty(3000)
            raise KeyboardInterrupt


def _attached():
    """The app main.py handed to the bench module, if any."""
    return sys.modules["bench"].app() if "bench" in sys.modules else None


def _board_module(make):
    class mod:  # stands for the module boards/testboard.py
        pass

    mod.make = staticmethod(make)
    import boards

    setattr(boards, BOARD, mod)
    sys.modules["boards." + BOARD] = mod


def setup_function(_):
    try:
        os.mkdir(DIR)
    except OSError:
        pass
    os.chdir(DIR)
    for name in os.listdir():
        os.remove(name)
    with open("board.json", "w") as f:
        f.write('{"board": "%s"}' % BOARD)
    _board_module(_make)
    sys.modules["bluetooth"] = _Radio
    fake_machine.WDT.armed = None
    fake_machine.Timer.made.clear()
    made.clear()
    _Radio.seen.clear()
    main.BMS_MODE = "boot"
    if "bench" in sys.modules:
        sys.modules["bench"].attach(None)


def _request(text):
    with open(main.MARKER, "w") as f:
        f.write(text)


def _safe(hw):
    return not (hw.chg_gate.on or hw.dsg_gate.on or hw.load_out.on or hw.charge_out.on
                or hw.prealarm_out.on or hw.alt_gate.duty_cpct)


def _boot_py():
    with open(HOME + "/../firmware/boot.py") as f:
        exec(f.read(), {})


def test_boot_py_arms_the_watchdog_unless_maintenance_is_asked_for():
    _boot_py()
    assert fake_machine.WDT.armed == 5000
    fake_machine.WDT.armed = None
    _request("900")
    _boot_py()
    assert fake_machine.WDT.armed is None


def test_a_request_is_good_for_one_boot():
    _request("120")
    assert main.take_request() == 120
    assert main.MARKER not in os.listdir()
    assert main.take_request() == 0


def test_the_lease_is_bounded_and_a_bad_request_gets_the_default():
    for text, lease in (("99999", main.LEASE_MAX_S), ("0", main.LEASE_S), ("-5", main.LEASE_S),
                        ("junk", main.LEASE_S), ("", main.LEASE_S)):
        _request(text)
        assert main.take_request() == lease, text


class _ReadOnlyFs:
    """A filesystem holding one request that refuses to delete it (EROFS)."""

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def chdir(self, path):
        pass

    def getcwd(self):
        return ""

    def stat(self, path):
        return (0o100644, 0, 0, 0, 0, 0, 2, 0, 0, 0)

    def open(self, path, mode):
        import io

        if "r" not in mode:
            raise OSError(30)
        return io.StringIO("60")

    def remove(self, path):
        raise OSError(30)


def test_a_request_that_cannot_be_deleted_is_refused():
    import vfs

    vfs.mount(_ReadOnlyFs(), "/ro")
    try:
        os.chdir("/ro")
        with open(main.MARKER) as f:
            assert f.read() == "60"  # the request is there
        assert main.take_request() == 0  # and refused: it would stay for every boot
    finally:
        os.chdir(DIR)
        vfs.umount("/ro")


def test_maintenance_boot_opens_everything_and_leaves_the_watchdog_off():
    _request("60")
    main.run()
    hw = made[-1]
    assert main.BMS_MODE == "maintenance"
    assert _safe(hw)
    assert not hw.wdt.armed and fake_machine.WDT.armed is None
    assert main.MARKER not in os.listdir()
    lease = fake_machine.Timer.made[-1]
    assert lease.mode == fake_machine.Timer.ONE_SHOT and lease.period == 60000
    assert _Radio.seen == []  # no Bluetooth in maintenance
    a = _attached()
    assert a is not None and a.hw is hw  # for the bench module
    assert a.controller.ticks == 0  # built, not running


def test_normal_boot_arms_the_watchdog_before_the_radio_and_the_app():
    main.run()  # the Ctrl-C arrives while the radio starts
    assert _Radio.seen == [(True, False)]
    hw = made[-1]
    assert main.BMS_MODE == "stopped"
    assert hw.wdt.armed and fake_machine.WDT.armed == 5000
    assert _safe(hw)
    assert fake_machine.Timer.made == []


def _running_app_stops_with(exc):
    """main.run() with a radio that starts and an app task that ends in `exc`."""
    import app

    class Radio:
        class BLE:
            def active(self, on):
                pass

    async def stopped(hw, app=None):
        hw.chg_gate.set(True)  # something on when it stops
        raise exc

    sys.modules["bluetooth"] = Radio
    run = app.main
    app.main = stopped
    try:
        main.run()
    finally:
        app.main = run


def test_a_ctrl_c_or_a_crash_hands_the_stopped_app_to_the_bench_module():
    _running_app_stops_with(KeyboardInterrupt())
    hw = made[-1]
    a = _attached()
    assert a is not None and a.hw is hw and a.restartable  # the app that ran
    assert main.BMS_MODE == "stopped" and _safe(hw) and fake_machine.WDT.armed == 5000
    sys.modules["bench"].attach(None)
    with raises(RuntimeError):  # a crash still reaches the console ...
        _running_app_stops_with(RuntimeError("control task"))
    assert _attached() is not None and _attached().hw is made[-1]  # ... and the bench has it
    assert _safe(made[-1])


def test_a_broken_board_module_still_arms_the_watchdog():
    def broken():
        raise ImportError("no module named 'drivers.switch'")

    _board_module(broken)
    with raises(ImportError):
        main.run()
    assert main.BMS_MODE == "stopped"
    assert fake_machine.WDT.armed == 5000


def test_a_broken_board_module_does_not_keep_maintenance_away():
    def broken():
        raise ImportError("no module named 'drivers.switch'")

    _board_module(broken)
    _request("60")
    main.run()
    assert main.BMS_MODE == "maintenance"
    assert fake_machine.WDT.armed is None


def test_maintenance_asks_for_a_reset_into_maintenance():
    reset = fake_machine.reset
    asked = []

    def fake_reset():
        asked.append(True)

    fake_machine.reset = fake_reset
    try:
        main.maintenance(300)
    finally:
        fake_machine.reset = reset
    assert asked == [True]
    assert main.take_request() == 300
