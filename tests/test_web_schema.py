"""web/schema.json is generated from firmware/bms/settings.py and must match it."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools import gen_schema  # noqa: E402


def test_committed_schema_matches_firmware():
    committed = (ROOT / "web" / "schema.json").read_text(encoding="utf-8")
    assert committed == gen_schema.render(), "web/schema.json is stale: run python tools/gen_schema.py"


def test_schema_carries_every_setting_and_its_limits():
    mod = gen_schema.load_settings()
    data = json.loads(gen_schema.render())
    by_id = {s["id"]: s for s in data["settings"]}
    assert sorted(by_id) == sorted(e[0] for e in mod.SCHEMA)
    for sid, name, _kind, unit, default, lo, hi, restart, choices, label in mod.SCHEMA:
        s = by_id[sid]
        assert (s["name"], s["unit"], s["default"], s["min"], s["max"], s["restart"], s["label"]) == \
            (name, unit, default, lo, hi, restart, label)
        assert s["choices"] == (list(choices) if choices else None)
    assert data["errors"] == list(mod.ERROR_NAMES)


def test_check_mode_reports_a_stale_file(tmp_path, monkeypatch):
    stale = tmp_path / "schema.json"
    stale.write_text("{}\n", encoding="utf-8")
    monkeypatch.setattr(gen_schema, "OUT", stale)
    assert gen_schema.main(["--check"]) == 1
    gen_schema.main([])
    assert gen_schema.main(["--check"]) == 0


def test_status_names_come_from_the_firmware():
    names = json.loads(gen_schema.render())["names"]
    assert names == gen_schema.load_names()
    assert names["reasons"][:2] == ["boot", "data_lost"] and "normal" in names["prot_states"]
    # read from the source, they are the tables the firmware runs with
    reasons, undervoltage, alternator, remote = gen_schema._load(
        "reasons", "undervoltage", "alternator", "remote")
    assert names["reasons"] == list(reasons.REASON_NAMES)
    assert names["warnings"] == list(reasons.WARN_NAMES)
    assert names["prot_states"] == list(undervoltage.STATE_NAMES)
    assert names["alt_states"] == list(alternator.STATE_NAMES)
    assert names["alt_limits"] == list(alternator.LIMIT_NAMES)
    assert names["alt_faults"] == list(alternator.FAULT_NAMES)
    assert names["remote_modes"] == list(remote.MODE_NAMES)
    assert names["link_lost"][0] == "stale" and names["event_warn_base"] == 32
    # the pack's flag byte: the report's flags and, since report v2 (issue 16
    # item 2), the alarm kinds
    assert names["battery_flags"] == ["balancing", "alarm", "low_cell", "high_cell", "low_temp", "high_temp",
                                      "alarm_kind_unknown"]


def test_every_schema_unit_has_a_display_or_is_shown_as_is():
    data = json.loads(gen_schema.render())
    shown_as_is = {"", "s", "min", "A", "Ah", "%", "baud"}
    for s in data["settings"]:
        assert s["unit"] in data["units"] or s["unit"] in shown_as_is, s["name"]
