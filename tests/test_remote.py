# micropython
# Remote L/H decoding (four datasheet modes), debounce, and every mode x
# remote function through the protection outputs.
from bms import reasons as R
from bms import remote as RM
from bms.measure import Measurements, CH_ALL, CH_REMOTE_L, CH_REMOTE_H, CH_FET
from bms.ticks import MASK
from mpytest import no_alloc
from protect_rig import Lcg, rig

BAT = 12800
OPEN_L = BAT  # L pulled up to the bank, nothing connected
BRIDGE = BAT * 100 // 122  # 22k up, 100k down: the L-H loop divider
# (L mV, H mV) -> mode
CASES = (
    ((OPEN_L, 0), RM.OFF),
    ((BRIDGE, BRIDGE), RM.BRIDGED),
    ((800, 0), RM.L_LOW),
    ((OPEN_L, 12000), RM.H_HIGH),
)


def _meas(l_mv, h_mv):
    m = Measurements()
    m.stale = 0
    m.bat_mv = BAT
    m.remote_l_mv = l_mv
    m.remote_h_mv = h_mv
    return m


def test_decode_four_modes():
    for (l_mv, h_mv), mode in CASES:
        assert RM.decode(l_mv, h_mv, BAT) == mode, (l_mv, h_mv)


def test_l_low_threshold():
    assert RM.decode(4999, 0, BAT) == RM.L_LOW
    assert RM.decode(5000, 0, BAT) == RM.OFF
    assert RM.decode(5001, 0, BAT) == RM.OFF


def test_h_high_threshold():
    assert RM.decode(OPEN_L, 2999, BAT) == RM.OFF
    assert RM.decode(OPEN_L, 3000, BAT) == RM.OFF
    assert RM.decode(OPEN_L, 3001, BAT) == RM.H_HIGH


def test_bridge_tolerance_and_level():
    assert RM.decode(8300, 8000, BAT) == RM.BRIDGED
    assert RM.decode(8000, 8300, BAT) == RM.BRIDGED
    assert RM.decode(8301, 8000, BAT) == RM.H_HIGH
    # L at or above 90 % of the bank is L's open level: H is driven, not bridged
    assert RM.decode(11519, 11519, BAT) == RM.BRIDGED
    assert RM.decode(11520, 11520, BAT) == RM.H_HIGH
    # a loop pulled to minus is "L low", not a bridge
    assert RM.decode(3000, 3000, BAT) == RM.L_LOW


def test_debounce():
    r = RM.Remote()
    m = _meas(BRIDGE, BRIDGE)
    r.step(0, m)
    r.step(90, m)
    assert not r.on and r.mode == RM.OFF
    r.step(100, m)
    assert r.on and r.mode == RM.BRIDGED
    # a bounce shorter than the debounce is ignored
    m.remote_l_mv, m.remote_h_mv = OPEN_L, 0
    r.step(110, m)
    m.remote_l_mv, m.remote_h_mv = BRIDGE, BRIDGE
    r.step(150, m)
    m.remote_l_mv, m.remote_h_mv = OPEN_L, 0
    r.step(160, m)
    r.step(250, m)
    assert r.on
    r.step(260, m)
    assert not r.on and r.mode == RM.OFF


def test_mode_change_between_on_modes():
    r = RM.Remote()
    m = _meas(800, 0)
    r.step(0, m)
    r.step(100, m)
    assert r.mode == RM.L_LOW
    m.remote_l_mv, m.remote_h_mv = OPEN_L, 12000
    r.step(110, m)
    r.step(200, m)
    assert r.mode == RM.L_LOW
    r.step(210, m)
    assert r.mode == RM.H_HIGH and r.on


def test_stale_terminal_readings_keep_the_last_mode():
    # Behaviour changed on purpose (issue 18): stale readings read as off,
    # so a dead remote-terminal ADC (the ESP32's ADS1115) switched the BMS
    # or its alternator path off. They now keep the last debounced mode; a
    # change begun before they went stale starts its debounce over.
    r = RM.Remote()
    m = _meas(800, 0)
    r.step(0, m)
    r.step(100, m)
    assert r.on and r.mode == RM.L_LOW
    m.stale = CH_REMOTE_L | CH_REMOTE_H
    m.remote_l_mv = OPEN_L  # frozen or garbage: not read
    r.step(110, m)
    r.step(10000, m)
    assert r.on and r.mode == RM.L_LOW
    m.stale = CH_FET  # a channel the remote does not read
    r.step(10010, m)
    assert r.mode == RM.L_LOW  # the open terminal is seen now: debounce starts
    r.step(10110, m)
    assert not r.on and r.mode == RM.OFF
    m.remote_l_mv = 800
    r.step(10120, m)  # L pulled low again, then the ADC dies mid-debounce
    m.stale = CH_REMOTE_H
    r.step(10300, m)
    m.stale = 0
    r.step(10310, m)
    assert not r.on  # the debounce starts over with the fresh reading
    r.step(10410, m)
    assert r.on


def test_stale_readings_before_the_first_fresh_one_read_off():
    r = RM.Remote()
    m = _meas(800, 0)
    m.stale = CH_ALL
    for t in range(0, 1000, 10):
        r.step(t, m)
    assert not r.on and r.mode == RM.OFF


def _drive(r, m, t, phases):
    """Step the remote through phases of (L mV, H mV, stale bits, ms), one
    tick per 10 ms; the times at which `rose` was true, and the end time."""
    rises = []
    for l_mv, h_mv, stale, ms in phases:
        m.remote_l_mv, m.remote_h_mv, m.stale = l_mv, h_mv, stale
        end = t + ms
        while t < end:
            r.step(t, m)
            if r.rose:
                rises.append(t)
            t += 10
    return rises, t


def _on_then(r, m, t0, off_ms):
    """Remote on from t0 for 500 ms, then its terminals read off for off_ms,
    then on again."""
    return _drive(r, m, t0, ((BRIDGE, BRIDGE, 0, 500), (OPEN_L, 0, 0, off_ms), (BRIDGE, BRIDGE, 0, 500)))


def test_an_on_edge_needs_a_valid_off_of_a_second_before_it():
    # Issue 15: the edge clears the overcurrent lockout, and the ADS1115 that
    # reads the terminals can glitch (a short on System+ browns out its bus):
    # an OFF shorter than remote._ARM_MS, then on again, is no toggle. Today's main
    # gave an edge after 150 ms of off readings (the 100 ms debounce).
    r = RM.Remote()
    m = _meas(BRIDGE, BRIDGE)
    rises, t = _on_then(r, m, 0, 150)
    assert rises == []
    rises, t = _on_then(r, m, t, 990)  # just short of the second
    assert rises == []
    rises, t = _on_then(r, m, t, 1100)  # read off for a second: an edge
    assert len(rises) == 1 and r.on
    rises, t = _on_then(r, m, t, 150)  # and the next needs its own second
    assert rises == []


def test_the_first_on_after_boot_is_no_edge():
    # before the first second of valid OFF nothing has armed the edge
    r = RM.Remote()
    m = _meas(BRIDGE, BRIDGE)
    rose = False
    for t in range(0, 1000, 10):
        r.step(t, m)
        rose = rose or r.rose
    assert r.on and not rose


def test_stale_readings_do_not_count_towards_the_second_off():
    r = RM.Remote()
    m = _meas(BRIDGE, BRIDGE)
    # on, then off read for 600 ms, stale for 300 ms (ADC gone), off read
    # again for 600 ms: no 1 s unbroken, so the next on is no edge
    rose, t = _drive(r, m, 0, ((BRIDGE, BRIDGE, 0, 500), (OPEN_L, 0, 0, 600),
                               (OPEN_L, 0, CH_REMOTE_H, 300), (OPEN_L, 0, 0, 600),
                               (BRIDGE, BRIDGE, 0, 500)))
    assert r.on and rose == []


def test_every_mode_times_every_function():
    for (l_mv, h_mv), mode in CASES:
        for fn in (0, 1, 2):
            t = rig({"remote_function": fn})
            t.remote = RM.Remote()
            m = t.meas
            m.bat_mv = BAT
            m.remote_l_mv = l_mv
            m.remote_h_mv = h_mv
            for _ in range(12):
                t.remote.step(t.now, m)
                t.tick()
            p = t.p
            on = mode != RM.OFF
            assert t.remote.on == on and t.remote.mode == mode
            where = (mode, fn)
            if on:
                assert p.atc and p.atd and p.alt_allowed and p.load_out and p.charge_out, where
            elif fn == 0:  # alternator only
                assert p.atc and p.atd and p.chg_fet and p.dsg_fet, where
                assert not p.alt_allowed and p.block_alt == R.REMOTE_OFF, where
            else:  # system and full off
                assert not (p.atc or p.atd or p.chg_fet or p.dsg_fet or p.alt_allowed), where
                assert not (p.load_out or p.charge_out), where
                assert p.block_chg == R.REMOTE_OFF and p.block_dsg == R.REMOTE_OFF, where


def test_step_allocates_nothing():
    r = RM.Remote()
    m = _meas(BRIDGE, BRIDGE)
    for t in range(0, 300, 10):
        no_alloc(r.step, t, m)
    assert r.on


def _state(r):
    return (r.mode, r.on, r.rose, r.armed, r._raw, r._raw_ms, r._off, r._off_ms, r._was_on)


def test_the_quiet_gate_comes_out_as_the_step_without_it():
    """A step that skips on the same readings after a quiet step against one
    forced to run every time (its gate reopened before each step): held
    readings and stale stretches long and short against the debounce and
    the arming, every mode, jitter, ticks that wrap, time jumps. Every field
    equal on every tick, and the gate does skip."""
    decode = RM.decode
    decoded = [0]

    def counted(l_mv, h_mv, bat_mv):
        decoded[0] += 1
        return decode(l_mv, h_mv, bat_mv)
    RM.decode = counted  # step() looks the module's name up on each call
    try:
        _twins(decoded)
    finally:
        RM.decode = decode


def _twins(decoded):
    for seed in (1, 5, 9):
        g = Lcg(seed)
        runs = 0
        gated = RM.Remote()
        ref = RM.Remote()
        m = _meas(OPEN_L, 0)
        now = (MASK - 300000) & MASK  # the ticks wrap during the run
        hold = 0
        for _ in range(30000):
            if hold <= 0:  # new readings, held for a while (an external ADC's)
                hold = g.pick((1, 2, 5, 9, 10, 11, 40, 99, 100, 101, 300))
                k = g.below(12)
                if k < 8:
                    m.remote_l_mv, m.remote_h_mv = g.pick(CASES)[0]
                    m.stale = 0
                elif k < 10:  # the readings jitter: another value, the same mode
                    m.remote_l_mv += g.pick((-2, -1, 1, 2))
                elif k < 11:
                    m.stale = g.pick((CH_REMOTE_L, CH_REMOTE_H, CH_ALL, CH_FET))
                else:
                    m.bat_mv = g.pick((BAT, BAT + 1, 9000))
            hold -= 1
            now = (now + (10 if g.below(50) else g.pick((0, 1, 990, 1000, 5000)))) & MASK
            ref._quiet = False
            n = decoded[0]
            gated.step(now, m)
            runs += decoded[0] != n
            ref.step(now, m)
            assert _state(gated) == _state(ref), (seed, now)
        assert runs < 10000, runs  # of 30000, about 27000 fresh
