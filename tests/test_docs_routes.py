"""The README and the docs stay true to the tools: every `./bms ...` line in a
code block is a command the wrapper has and parses with the tool's own
argument parser; no link leads to a file outside the repository."""
import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools import bmsctl, sim_cli  # noqa: E402

DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
WRAPPER_COMMANDS = {"sim", "ctl", "flash", "test", "bench"}


def code_lines():
    for doc in DOCS:
        in_block = False
        for line in doc.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                in_block = not in_block
            elif in_block and line.startswith("./bms "):
                yield doc.name, line.split("  #")[0].strip()


def test_every_bms_command_in_the_docs_exists():
    seen = set()
    for doc, line in code_lines():
        cmd = shlex.split(line)[1]
        assert cmd in WRAPPER_COMMANDS, (doc, line)
        seen.add(cmd)
    assert {"sim", "ctl", "flash", "test"} <= seen
    wrapper = (ROOT / "bms").read_text()
    for cmd in WRAPPER_COMMANDS:
        assert re.search(r"^\s+%s\)" % cmd, wrapper, re.M), cmd


def test_sim_and_ctl_lines_parse_with_the_tools_own_parsers():
    n = 0
    for doc, line in code_lines():
        argv = [a.replace("KEY", "00" * 16) for a in shlex.split(line)[2:]]
        if line.startswith("./bms sim"):
            sim_cli.parse_args(argv)
            n += 1
        elif line.startswith("./bms ctl"):
            bmsctl.build_parser().parse_args(argv)
            n += 1
    assert n >= 12


def test_readme_shows_the_session_the_readout_and_json():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for needle in ("./bms sim --serve 8733", "./bms ctl --sim-port 8733", "scan --key", "--json status",
                   "docs/screenshots/status-prealarm.png", "[LICENSE](LICENSE)"):
        assert needle in text, needle


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_link_leaves_the_repository(doc):
    text = doc.read_text(encoding="utf-8")
    assert "shared/" not in text, "a path outside the repository"
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if target.startswith(("http://", "https://")):
            continue
        assert (doc.parent / target).exists(), (doc.name, target)


def test_flashing_doc_gives_the_virtual_board_a_target_of_its_own():
    text = (ROOT / "docs" / "flashing.md").read_text(encoding="utf-8")
    assert "resume mip install --target . package.json" in text
    assert 'host computer\'s root folder' in text
