# Scenarios: a JSON file with plant parameters, firmware setting overrides
# and timed events (schema: docs/scenarios.md). Loading checks every key and
# says exactly what is wrong. Pure Python: runs inside MicroPython and on
# CPython (tools/battery_emulator.py and bms-sim load scenarios on the host).
import json

from bms import settings as S
from bms.linkframe import ALARM_NAMES
from boards.sim.plant import PARAMS, ENGINE_MODES, REMOTE_MODES

TOP_KEYS = ("name", "description", "duration_s", "batteries", "plant", "settings", "events",
            "readout_key")
# Instant Readout key of the simulated board unless a scenario sets its own.
DEFAULT_READOUT_KEY = "0123456789abcdef0123456789abcdef"


class ScenarioError(ValueError):
    pass


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _num(where, v, lo, hi, integer=False):
    if integer and (not isinstance(v, int) or isinstance(v, bool)):
        raise ScenarioError("%s: expected an integer in %s..%s, got %r" % (where, lo, hi, v))
    if not _is_num(v):
        raise ScenarioError("%s: expected a number in %s..%s, got %r" % (where, lo, hi, v))
    if not lo <= v <= hi:
        raise ScenarioError("%s: %r is outside %s..%s" % (where, v, lo, hi))
    return v


def _word(where, v, allowed):
    if v not in allowed:
        raise ScenarioError("%s: %r is not one of %s" % (where, v, ", ".join(allowed)))
    return v


def _obj(where, v, keys, required):
    if not isinstance(v, dict):
        raise ScenarioError("%s: expected an object with keys %s" % (where, ", ".join(keys)))
    for k in v:
        if k not in keys:
            raise ScenarioError("%s: unknown key %r (allowed: %s)" % (where, k, ", ".join(keys)))
    for k in required:
        if k not in v:
            raise ScenarioError("%s: missing key %r" % (where, k))
    return v


# Event actions: name -> checker(where, value, batteries) returning the value
# to apply. Each event has "t_s", one action key and optionally "note".
def _battery(where, v, n):
    return _num(where, v, 1, n, True)


def _ev_temp(where, v, n):
    if isinstance(v, dict):
        _obj(where, v, ("battery", "c"), ("battery", "c"))
        return (_battery(where + ".battery", v["battery"], n), _num(where + ".c", v["c"], -40, 90))
    return (0, _num(where, v, -40, 90))


def _ev_cell(where, v, n):
    keys = ("battery", "cell", "soc_pct_delta", "capacity_pct", "r_mohm")
    _obj(where, v, keys, ("battery", "cell"))
    _battery(where + ".battery", v["battery"], n)
    _num(where + ".cell", v["cell"], 1, 4, True)
    if len(v) < 3:
        raise ScenarioError(where + ": give at least one of soc_pct_delta, capacity_pct, r_mohm")
    if "soc_pct_delta" in v:
        _num(where + ".soc_pct_delta", v["soc_pct_delta"], -100, 100)
    if "capacity_pct" in v:
        _num(where + ".capacity_pct", v["capacity_pct"], 1, 200)
    if "r_mohm" in v:
        _num(where + ".r_mohm", v["r_mohm"], 0.05, 1000)
    return v


def _ev_silent(where, v, n):
    _obj(where, v, ("battery", "on"), ("battery", "on"))
    if not isinstance(v["on"], bool):
        raise ScenarioError(where + ".on: expected true or false")
    return (_battery(where + ".battery", v["battery"], n), v["on"])


def _ev_flags(where, v, n):
    _obj(where, v, ("battery", "flags"), ("battery", "flags"))
    return (_battery(where + ".battery", v["battery"], n), _num(where + ".flags", v["flags"], 0, 255, True))


def _ev_alarms(where, v, n):
    _obj(where, v, ("battery", "kinds"), ("battery", "kinds"))
    kinds = v["kinds"]
    if not isinstance(kinds, list):
        raise ScenarioError(where + ".kinds: expected a list of " + ", ".join(ALARM_NAMES))
    bits = 0
    for k in kinds:
        bits |= 1 << ALARM_NAMES.index(_word(where + ".kinds", k, ALARM_NAMES))
    return (_battery(where + ".battery", v["battery"], n), bits)


ACTIONS = {
    "engine": lambda w, v, n: _word(w, v, ENGINE_MODES),
    "load_a": lambda w, v, n: _num(w, v, 0, 1000),
    "charger_a": lambda w, v, n: _num(w, v, 0, 1000),
    "remote": lambda w, v, n: _word(w, v, REMOTE_MODES),
    "temp_c": _ev_temp,
    "ambient_c": lambda w, v, n: _num(w, v, -40, 85),
    "cell": _ev_cell,
    "cable": lambda w, v, n: _word(w, v, ("unplug", "plug")),
    "silent": _ev_silent,
    "flags": _ev_flags,
    "alarms": _ev_alarms,
    "uart_noise": lambda w, v, n: _num(w, v, 1, 100000, True),
    "uart_flip": lambda w, v, n: _num(w, v, 1, 10000, True),
    "uart_drop": lambda w, v, n: _num(w, v, 1, 10000, True),
    "fuse": lambda w, v, n: _word(w, v, ("replace",)),
}


class Scenario:
    def __init__(self, name, description, duration_ms, batteries, plant, settings, events,
                 readout_key=bytes.fromhex(DEFAULT_READOUT_KEY)):
        self.name = name
        self.description = description
        self.duration_ms = duration_ms
        self.batteries = batteries
        self.plant = plant  # dict of plant parameter overrides
        self.settings = settings  # dict of firmware setting overrides
        self.events = events  # [(t_ms, action, value)] sorted by time
        self.readout_key = readout_key  # 16 bytes

    def make_settings(self):
        s = S.Settings()
        errors = s.update(self.settings)
        if errors:  # checked in parse(); kept as a guard for hand-made objects
            raise ScenarioError("settings: " + errors[0][2])
        return s


def parse(data, origin="scenario"):
    """Scenario from a decoded JSON object; ScenarioError names the bad key."""
    _obj(origin, data, TOP_KEYS, ("name",))
    name = data["name"]
    if not isinstance(name, str) or not name:
        raise ScenarioError(origin + ".name: expected a non-empty text")
    desc = data.get("description", "")
    if not isinstance(desc, str):
        raise ScenarioError(origin + ".description: expected text")
    duration_s = _num(origin + ".duration_s", data.get("duration_s", 600), 1, 30 * 86400)
    n = _num(origin + ".batteries", data.get("batteries", 4), 1, 50, True)
    plant = data.get("plant", {})
    _obj(origin + ".plant", plant, tuple(PARAMS), ())
    for k in plant:
        lo, hi = PARAMS[k][1], PARAMS[k][2]
        _num("%s.plant.%s" % (origin, k), plant[k], lo, hi, isinstance(PARAMS[k][0], int))
    settings = data.get("settings", {})
    if not isinstance(settings, dict):
        raise ScenarioError(origin + ".settings: expected an object of firmware settings")
    settings = dict(settings)
    if "battery_count" not in settings:
        settings["battery_count"] = n
    errors = S.Settings().update(settings)
    if errors:
        key, _code, msg = errors[0]
        if S.entry(key) is None:
            msg = "unknown firmware setting %r (see firmware/bms/settings.py)" % key
        raise ScenarioError("%s.settings.%s: %s" % (origin, key, msg))
    key = data.get("readout_key", DEFAULT_READOUT_KEY)
    if not isinstance(key, str) or len(key) != 32 or any(c not in "0123456789abcdefABCDEF" for c in key):
        raise ScenarioError(origin + ".readout_key: expected 32 hex digits (the 16-byte key)")
    events = []
    raw = data.get("events", [])
    if not isinstance(raw, list):
        raise ScenarioError(origin + ".events: expected a list of events")
    for i, ev in enumerate(raw):
        where = "%s.events[%d]" % (origin, i)
        if not isinstance(ev, dict):
            raise ScenarioError(where + ": expected an object like {\"t_s\": 10, \"engine\": \"idle\"}")
        if "t_s" not in ev:
            raise ScenarioError(where + ": missing key 't_s' (event time in seconds)")
        t_s = _num(where + ".t_s", ev["t_s"], 0, duration_s)
        acts = [k for k in ev if k not in ("t_s", "note")]
        if len(acts) != 1:
            raise ScenarioError("%s: needs exactly one action, found %s (actions: %s)" % (
                where, acts or "none", ", ".join(sorted(ACTIONS))))
        act = acts[0]
        if act not in ACTIONS:
            raise ScenarioError("%s: unknown action %r (actions: %s)" % (
                where, act, ", ".join(sorted(ACTIONS))))
        value = ACTIONS[act]("%s.%s" % (where, act), ev[act], n)
        events.append((int(t_s * 1000), i, act, value))
    events.sort()
    return Scenario(name, desc, int(duration_s * 1000), n, plant, settings,
                    [(t, a, v) for t, _i, a, v in events], bytes.fromhex(key))


def scenario_dir():
    here = __file__
    return here[:here.rfind("/")] + "/scenarios" if "/" in here else "scenarios"


def names():
    import os
    return sorted(f[:-5] for f in os.listdir(scenario_dir()) if f.endswith(".json"))


def load(name_or_path):
    """A shipped scenario by name, or a JSON file by path."""
    path = name_or_path
    if not path.endswith(".json") and "/" not in path:
        path = "%s/%s.json" % (scenario_dir(), path)
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ScenarioError("%s: no such scenario file (shipped: %s)" % (
            name_or_path, ", ".join(names())))
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ScenarioError("%s: not valid JSON (%s)" % (path, e))
    return parse(data, path[path.rfind("/") + 1:])


def apply(board, action, value):
    """Carry out one event on the sim board."""
    p = board.plant
    chain = board.chain
    if action == "engine":
        p.set_engine(value)
    elif action == "load_a":
        p.load_a = float(value)
    elif action == "charger_a":
        p.charger_a = float(value)
    elif action == "remote":
        p.set_remote(value)
    elif action == "temp_c":
        b, c = value
        for i in range(p.batteries):
            if b == 0 or b == i + 1:
                p.temp_c[i] = float(c)
    elif action == "ambient_c":
        p.p["ambient_c"] = float(value)
    elif action == "cell":
        i = (value["battery"] - 1) * 4 + value["cell"] - 1
        if "soc_pct_delta" in value:
            p.soc[i] += value["soc_pct_delta"] / 100.0
        if "capacity_pct" in value:
            p.cap_as[i] = p.p["capacity_ah"] * 3600.0 * value["capacity_pct"] / 100.0
        if "r_mohm" in value:
            p.r25[i] = value["r_mohm"] / 1000.0
    elif action == "cable":
        chain.unplug(value == "unplug")
    elif action == "silent":
        chain.silence(value[0], value[1])
    elif action == "flags":
        chain.set_flags(value[0], value[1])
    elif action == "alarms":
        chain.set_alarms(value[0], value[1])
    elif action == "uart_noise":
        chain.noise(value)
    elif action == "uart_flip":
        chain.flip_bits(value)
    elif action == "uart_drop":
        chain.drop_frames(value)
    elif action == "fuse":
        p.replace_fuse()
