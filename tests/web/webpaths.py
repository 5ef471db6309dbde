"""Paths the browser tests share (kept out of conftest.py: tests/ has one too)."""
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
WEB = ROOT / "web"
# Every run saves its screenshots under out/ (ignored by git); the README's
# copies in docs/screenshots are refreshed with UPDATE_SCREENSHOTS=1.
SCREENSHOTS = ROOT / ("docs" if os.environ.get("UPDATE_SCREENSHOTS") else "out") / "screenshots"
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)
