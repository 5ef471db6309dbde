"""The requirements of pyproject.toml for a set of uses, one per line, for
pip (the `bms` script installs them; nothing of the project itself is
installed: the tools run from the checkout).

    python tools/deps.py base plot      [project] dependencies and the plot extra
"""
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def requirements(uses, pyproject=PYPROJECT):
    project = tomllib.loads(Path(pyproject).read_text(encoding="utf-8"))["project"]
    out = []
    for use in uses:
        reqs = project["dependencies"] if use == "base" else project["optional-dependencies"][use]
        out += [r for r in reqs if r not in out]
    return out


def main(argv):
    try:
        print("\n".join(requirements(argv)))
    except KeyError as e:
        print("deps: no extra %s in pyproject.toml" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
