"""bms-sim on the host: a shipped scenario runs in fast mode and writes a
valid trace, --plot writes a PNG, a broken scenario gets a clear message."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from boards.sim import trace_schema  # noqa: E402

# The runner needs the whole control path; until every part is merged the
# end-to-end tests say which part is missing instead of failing.
NEEDED = ["firmware/bms/controller.py", "firmware/bms/pack.py", "firmware/bms/link.py",
          "firmware/bms/protection.py", "firmware/bms/remote.py", "firmware/bms/reasons.py",
          "firmware/bms/alternator.py", "firmware/bms/history.py", "boards/sim/chain.py"]
MISSING = [p for p in NEEDED if not (ROOT / p).exists()]
needs_firmware = pytest.mark.skipif(bool(MISSING), reason="not merged yet: " + ", ".join(MISSING))


def bms_sim(*args):
    return subprocess.run([sys.executable, "-m", "tools.sim_cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@needs_firmware
def test_fast_run_writes_a_valid_trace_and_plot(tmp_path):
    trace, png = tmp_path / "t.jsonl", tmp_path / "p.png"
    r = bms_sim("--scenario", "cable-unplug", "--fast", "--duration", "120",
                "--trace", str(trace), "--plot", str(png))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = trace.read_text().splitlines()
    assert len(lines) == 121
    recs = [json.loads(x) for x in lines]
    for rec in recs:
        assert trace_schema.check(rec) == [], rec
    assert [r_["t_ms"] for r_ in recs] == list(range(0, 121000, 1000))
    assert list(recs[0]) == list(trace_schema.KEYS)
    # the cable is pulled at 60 s: the firmware must notice and open the paths
    pulled = [x for x in recs if 70000 <= x["t_ms"] < 90000]
    assert all(not x["link_ok"] and not x["atc"] and not x["atd"] for x in pulled)
    assert "summary" in r.stdout and "cable-unplug" in r.stdout
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000


@needs_firmware
def test_hand_written_scenario_file_runs(tmp_path):
    scn = tmp_path / "mine.json"
    scn.write_text(json.dumps({"name": "mine", "duration_s": 20, "batteries": 1,
                               "events": [{"t_s": 2, "load_a": 8}]}))
    r = bms_sim("--scenario", str(scn), "--fast", "--trace", str(tmp_path / "t.jsonl"))
    assert r.returncode == 0, r.stdout + r.stderr
    recs = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert recs[-1]["sys_ma"] < -7000


def test_scenario_mistake_names_the_key(tmp_path):
    scn = tmp_path / "bad.json"
    scn.write_text(json.dumps({"name": "bad", "events": [{"t_s": 3, "engine": "fast"}]}))
    r = bms_sim("--scenario", str(scn), "--fast")
    assert r.returncode == 2
    assert "bad.json.events[0].engine: 'fast' is not one of off, idle, cruise, start" in r.stderr


def test_broken_json_gives_line_and_column(tmp_path):
    scn = tmp_path / "broken.json"
    scn.write_text('{"name": "x",\n  "events": [}\n')
    r = bms_sim("--scenario", str(scn), "--fast")
    assert r.returncode == 2 and "not valid JSON at line 2" in r.stderr


def test_unknown_scenario_lists_the_shipped_ones():
    r = bms_sim("--scenario", "nope", "--fast")
    assert r.returncode == 2 and "idle" in r.stderr and "engine-cycles" in r.stderr


def test_list_shows_every_shipped_scenario():
    r = bms_sim("--list")
    assert r.returncode == 0
    for f in (ROOT / "boards/sim/scenarios").glob("*.json"):
        assert f.stem in r.stdout


@needs_firmware
def test_real_time_runs_the_asyncio_app_and_prints_status(tmp_path):
    trace = tmp_path / "t.jsonl"
    r = bms_sim("--scenario", "idle", "--duration", "2.5", "--plain", "--trace", str(trace))
    assert r.returncode == 0, r.stdout + r.stderr
    status = [x for x in r.stdout.splitlines() if x.startswith("t=")]
    assert len(status) >= 2 and "prot normal" in status[-1]
    recs = [json.loads(x) for x in trace.read_text().splitlines()]
    assert len(recs) >= 2 and all(trace_schema.check(x) == [] for x in recs)
    assert recs[-1]["dsg_fet"] and recs[-1]["sys_ma"] < -4000  # the 5 A load runs
