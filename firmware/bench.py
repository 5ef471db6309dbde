# Bench helpers for the REPL:  mpremote exec "import bench; bench.status()"
# main.py attaches the stopped App here (maintenance mode, or a Ctrl-C that
# stopped the firmware), so these work on its objects; run(ms) lets the
# control loop go again for a while. Test mode forces outputs by hand and is
# refused while any gate carries current.
from micropython import const

from bms import alternator, undervoltage
from version import VERSION

_IDLE_MA = const(500)  # below this a gate counts as carrying no current
OUTPUTS = ("chg_gate", "dsg_gate", "dsg_limit", "alt_gate", "load_out", "charge_out", "prealarm_out")
_test_mode = False


_attached = None  # the stopped firmware's App


def attach(a):
    """Work on this App (main.py attaches the one it built for maintenance,
    or the one it ran when Ctrl-C stopped it)."""
    global _attached
    _attached = a


def app():
    """The attached App, or None."""
    return _attached


def _need_app():
    a = _attached
    if a is None:
        raise RuntimeError("no firmware attached: enter maintenance mode "
                           "(import main; main.maintenance()), or bench.attach(app)")
    return a


def info():
    """Version, board and the controller's headline state as a dict of literals."""
    a = _attached
    d = {"version": VERSION, "running": a is not None, "test_mode": _test_mode}
    if a is None:
        return d
    c = a.controller
    p = c.protection
    alt = c.alternator
    m = c.meas
    d.update({
        "board": a.hw.name, "ticks": c.ticks, "now_ms": c.now_ms, "faults": a.faults,
        "last_fault": a.last_fault, "overruns": a.overruns,
        "tick_us": a.tick_us, "tick_us_max": a.tick_us_max,
        "gc_runs": a.gc_runs, "gc_us_max": a.gc_us_max,
        "state": undervoltage.STATE_NAMES[p.uv.state], "atc": p.atc, "atd": p.atd,
        "block_chg": p.block_chg, "block_dsg": p.block_dsg,
        "chg_fet": p.chg_fet, "dsg_fet": p.dsg_fet, "load_out": p.load_out,
        "charge_out": p.charge_out, "prealarm_out": p.prealarm_out,
        "alt_state": alternator.STATE_NAMES[alt.state], "alt_duty_cpct": alt.limiter.duty_cpct,
        "bat_mv": m.bat_mv, "alt_ma": m.alt_ma, "sys_ma": m.sys_ma, "fet_ddegc": m.fet_ddegc,
        "batteries_seen": c.pack.seen, "data_ok": c.pack.data_ok,
        "min_cell_mv": c.pack.min_cell_mv, "max_cell_mv": c.pack.max_cell_mv,
    })
    return d


def status():
    for k, v in sorted(info().items()):
        print("%-15s %s" % (k, v))


def get(name=None):
    """One setting's value, or all of them as a dict."""
    s = _need_app().settings
    return s.values() if name is None else s.values()[name]


def set(name, value):
    """Change one setting (validated, all-or-nothing). Returns the errors, [] when applied."""
    errors = _need_app().settings.update({name: value})
    for _, _, msg in errors:
        print("refused:", msg)
    return errors


def history():
    h = _need_app().history
    for k in sorted(h.__dict__):
        v = h.__dict__[k]
        if isinstance(v, int):
            print("%-20s %d" % (k, v))


def _run_sim(a, ms):
    # the simulated board keeps its own clock: step the plant and tick, 10 ms at a time
    hw = a.hw
    c = a.controller
    hw.clock.now_ms = c.now_ms  # go on from the last tick's time, whichever clock gave it
    for _ in range(ms // 10):
        hw.clock.advance(10)
        hw.step(10)
        c.tick(hw.clock.ticks_ms())
    c.safe_outputs()


def run(ms):
    """Let the firmware run for ms milliseconds of board time, then stop it
    with every output safe. Returns info()."""
    if _test_mode:
        raise RuntimeError("leave test mode first: test_mode(False)")
    import asyncio

    a = _need_app()
    if a.hw.name == "sim":
        _run_sim(a, ms)
        return info()

    async def stop_later():
        await asyncio.sleep_ms(ms)
        a.running = False

    async def both():
        a.running = True
        asyncio.create_task(stop_later())
        await a.control()

    asyncio.run(both())
    return info()


def _busy_gate(a):
    """Name of a gate that is on and carries current, or None (reads sense fresh)."""
    hw = a.hw
    m = a.controller.meas
    hw.sense.read(m)
    if (hw.chg_gate.on or hw.dsg_gate.on) and abs(m.sys_ma) >= _IDLE_MA:
        return "System+ gates (%d mA)" % m.sys_ma
    if hw.alt_gate.duty_cpct and abs(m.alt_ma) >= _IDLE_MA:
        return "alternator gate (%d mA)" % m.alt_ma
    return None


def test_mode(on):
    """Enter or leave bench test mode. Leaving puts every output in its safe state."""
    global _test_mode
    a = _need_app()
    if on:
        busy = _busy_gate(a)
        if busy:
            raise RuntimeError("refused: %s carries current" % busy)
        a.running = False
    else:
        a.controller.safe_outputs()
    _test_mode = bool(on)


def force(output, value):
    """Test mode only: set one output by hand (a gate duty for alt_gate)."""
    if not _test_mode:
        raise RuntimeError("refused: bench.test_mode(True) first")
    if output not in OUTPUTS:
        raise ValueError("unknown output %r, one of %s" % (output, OUTPUTS))
    a = _need_app()
    busy = _busy_gate(a)
    if busy:
        raise RuntimeError("refused: %s carries current" % busy)
    target = getattr(a.hw, output)
    if output == "alt_gate":
        target.set_duty(value)
    else:
        target.set(bool(value))
