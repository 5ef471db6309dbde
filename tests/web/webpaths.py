"""Paths the browser tests share (kept out of conftest.py: tests/ has one too)."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
WEB = ROOT / "web"
SCREENSHOTS = ROOT / "docs" / "screenshots"
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)
