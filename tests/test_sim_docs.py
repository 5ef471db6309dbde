"""docs/scenarios.md documents every plant parameter, event action and trace key."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (str(ROOT), str(ROOT / "firmware")):
    if p not in sys.path:
        sys.path.insert(0, p)

from boards.sim import scenario, trace_schema  # noqa: E402
from boards.sim.plant import PARAMS  # noqa: E402

DOC = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")


def test_every_plant_parameter_is_documented():
    assert [k for k in PARAMS if "| `%s` |" % k not in DOC] == []


def test_every_event_action_is_documented():
    assert [k for k in scenario.ACTIONS if "| `%s` |" % k not in DOC] == []


def test_every_trace_key_is_documented():
    assert [k for k in trace_schema.KEYS if "`%s`" % k not in DOC] == []


def test_every_shipped_scenario_is_listed():
    names = scenario.names()
    assert names and [n for n in names if "| `%s` |" % n not in DOC] == []
