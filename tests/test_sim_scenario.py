# micropython
# Scenario files: every shipped one loads; a hand-written mistake gets a
# message that names the key and says what is wrong.
from boards.sim import scenario as SC
from mpytest import raises


def parse(**kw):
    d = {"name": "t"}
    d.update(kw)
    return SC.parse(d, "t")


def bad(match, **kw):
    with raises(SC.ScenarioError, match=match):
        parse(**kw)


def test_every_shipped_scenario_loads():
    names = SC.names()
    for want in ("idle", "deep-discharge", "overcharge-balance", "cold-morning",
                 "cable-unplug", "remote-off", "engine-cycles"):
        assert want in names, want
    for n in names:
        s = SC.load(n)
        assert s.name == n and s.description, n
        assert s.settings["battery_count"] == s.batteries
        times = [e[0] for e in s.events]
        assert times == sorted(times) and all(0 <= t <= s.duration_ms for t in times)


def test_defaults_and_ordering():
    s = parse(events=[{"t_s": 5, "load_a": 2}, {"t_s": 1, "engine": "idle"}])
    assert s.batteries == 4 and s.duration_ms == 600000
    assert s.events == [(1000, "engine", "idle"), (5000, "load_a", 2)]
    assert s.make_settings().battery_count == 4


def test_top_level_mistakes():
    bad("unknown key 'evnts'", evnts=[])
    bad("t.batteries: 0 is outside 1..50", batteries=0)
    bad("t.batteries: expected an integer", batteries=2.5)
    bad("t.duration_s: expected a number", duration_s="long")
    with raises(SC.ScenarioError, match="missing key 'name'"):
        SC.parse({}, "t")
    with raises(SC.ScenarioError, match="expected an object"):
        SC.parse([1], "t")


def test_plant_mistakes():
    bad("t.plant: unknown key 'capacity'", plant={"capacity": 100})
    bad("t.plant.soc_pct: 120 is outside 0.0..100.0", plant={"soc_pct": 120})
    bad("t.plant.seed: expected an integer", plant={"seed": 1.5})
    bad("t.plant.fuse_a: expected a number", plant={"fuse_a": "50A"})


def test_settings_are_checked_by_the_firmware_schema():
    bad("t.settings.cell_ov_mv: cell_ov_mv: 3900 mV outside 3500..3750", settings={"cell_ov_mv": 3900})
    bad("unknown firmware setting 'cell_ov'", settings={"cell_ov": 3600})
    bad("t.settings.alt_fuse_a", settings={"alt_fuse_a": 90})
    bad("must be below", settings={"cell_ov_release_mv": 3650, "cell_ov_mv": 3600})
    bad("expected an object", settings=[1])
    s = parse(settings={"cell_ov_mv": 3650, "battery_count": 2}, batteries=3)
    assert s.make_settings().cell_ov_mv == 3650 and s.settings["battery_count"] == 2


def test_event_mistakes():
    bad("t.events[0]: missing key 't_s'", events=[{"engine": "idle"}])
    bad("t.events[0]: unknown action 'engin'", events=[{"t_s": 1, "engin": "idle"}])
    bad("needs exactly one action", events=[{"t_s": 1, "engine": "idle", "load_a": 3}])
    bad("needs exactly one action", events=[{"t_s": 1}])
    bad("t.events[0].engine: 'fast' is not one of", events=[{"t_s": 1, "engine": "fast"}])
    bad("t.events[0].t_s: 700 is outside 0..600", events=[{"t_s": 700, "load_a": 1}])
    bad("t.events[1].load_a: expected a number", events=[{"t_s": 0, "load_a": 1}, {"t_s": 1, "load_a": "lots"}])
    bad("t.events[0].cell.battery: 5 is outside 1..4", events=[{"t_s": 0, "cell": {"battery": 5, "cell": 1, "soc_pct_delta": 1}}])
    bad("give at least one of", events=[{"t_s": 0, "cell": {"battery": 1, "cell": 1}}])
    bad("t.events[0].silent.on: expected true or false", events=[{"t_s": 0, "silent": {"battery": 1, "on": 1}}])
    bad("t.events[0].cable: 'pull' is not one of unplug, plug", events=[{"t_s": 0, "cable": "pull"}])
    bad("t.events[0].temp_c: missing key 'c'", events=[{"t_s": 0, "temp_c": {"battery": 1}}])
    bad("expected a list", events={"t_s": 1})
    parse(events=[{"t_s": 0, "note": "fine", "remote": "open"}])


def test_load_by_path_and_unknown_name():
    with raises(SC.ScenarioError, match="no such scenario file"):
        SC.load("no-such-scenario")
    with open("/tmp/bms_sim_bad.json", "w") as f:
        f.write('{"name": "x", ')
    with raises(SC.ScenarioError, match="not valid JSON"):
        SC.load("/tmp/bms_sim_bad.json")
