"""pytest plugin: run firmware test files inside the MicroPython unix port.

A test file whose first line starts with `# micropython` is never imported by
CPython. Its `test_*` functions are found with `ast`; the whole file runs once
per word size in one MicroPython process (tests/mpy/mpy_runner.py), and each
function is reported as its own pytest item with its output and traceback:
`test_x[64]` on the 64-bit unix wheel, `test_x[32]` on the 32-bit build of
tools/port.py (the boards' word size: 31-bit small ints, 4-byte objects).
When the 32-bit build cannot be had here, the [32] items skip and say why.
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools import mpy, port  # noqa: E402

RUNNER = Path(__file__).resolve().parent / "mpy" / "mpy_runner.py"
MARK = "@@MPYTEST@@ "
FILE_TIMEOUT_S = 300
WORDS = (64, 32)
# The 32-bit port's default heap is 1 MB (the wheel's 2 MB of 8-byte words): the
# tests that keep whole traces of a run need more; the firmware's own need is
# the bench's figure (tools/heap32.py), not this.
HEAP_ARGS = {64: [], 32: ["-X", "heapsize=4M"]}
_counts = {"ran": 0, "passed": 0, "failed": 0, "skipped": 0}
_counts_by_word = {w: 0 for w in WORDS}


class MicroPythonFailure(Exception):
    pass


def _is_micropython_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().startswith("# micropython")
    except OSError:
        return False


def pytest_pycollect_makemodule(module_path, parent):
    if module_path.name.startswith("test_") and _is_micropython_file(module_path):
        return MicroPythonFile.from_parent(parent, path=module_path)
    return None


class MicroPythonFile(pytest.File):
    selected = None  # word size -> the test names chosen for it
    _results = None

    def collect(self):
        tree = ast.parse(self.path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                for word in WORDS:
                    yield MicroPythonItem.from_parent(self, name="%s[%d]" % (node.name, word),
                                                      lineno=node.lineno, test=node.name, word=word)

    def results(self, word):
        if self._results is None:
            self._results = {}
        if word not in self._results:
            self._results[word] = self._run(word)
        return self._results[word]

    def _run(self, word):
        if self.selected is not None:
            names = self.selected.get(word, [])
        else:
            names = [i.test for i in self.collect() if i.word == word]
        try:
            cmd = mpy.command(word) + HEAP_ARGS[word] + [str(RUNNER), str(self.path)] + names
        except port.PortError as e:
            return {"__skip__": str(e)}
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=mpy.env(),
                                  timeout=FILE_TIMEOUT_S, cwd=str(self.path.parent))
            out, err, code = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            err, code = "timed out after %d s" % FILE_TIMEOUT_S, None
        results, current, captured = {}, None, []
        for line in out.split("\n"):
            if line.startswith(MARK):
                kind, name, status, detail, us = ast.literal_eval(line[len(MARK):])
                if kind == "import_error":
                    return {"__import__": ("fail", "import failed:\n" + detail, "", 0)}
                if kind == "start":
                    current, captured = name, []
                elif kind == "end":
                    results[name] = (status, detail, "\n".join(captured), us)
                    current = None
            elif current is not None:
                captured.append(line)
        if current is not None:  # crashed or hung inside a test
            results[current] = ("fail", "MicroPython stopped during this test (exit %s)\n%s"
                                % (code, err[-4000:]), "\n".join(captured), 0)
        results["__exit__"] = (code, err)
        return results


class MicroPythonItem(pytest.Item):
    def __init__(self, *, lineno, test, word, **kw):
        super().__init__(**kw)
        self.lineno = lineno
        self.test = test
        self.word = word
        # travel with the report, so the counts also work under pytest-xdist
        self.user_properties.append(("micropython", True))
        self.user_properties.append(("micropython_word", word))

    def runtest(self):
        res = self.parent.results(self.word)
        if "__skip__" in res:
            pytest.skip("no %d-bit MicroPython: %s" % (self.word, res["__skip__"]))
        if "__import__" in res:
            raise MicroPythonFailure(res["__import__"][1])
        if self.test not in res:
            code, err = res.get("__exit__", (None, ""))
            raise MicroPythonFailure("test did not run (MicroPython exit %s)\n%s" % (code, err[-4000:]))
        status, detail, output, us = res[self.test]
        if output:
            print(output)
        if status == "skip":
            pytest.skip(detail or "skipped in MicroPython")
        if status == "fail":
            raise MicroPythonFailure(detail)

    def repr_failure(self, excinfo):
        if not isinstance(excinfo.value, MicroPythonFailure):
            return super().repr_failure(excinfo)
        detail = str(excinfo.value)
        lines = [detail.rstrip()]
        src = self.path.read_text(encoding="utf-8").split("\n")
        for tb_line in detail.split("\n"):
            tb_line = tb_line.strip()
            if tb_line.startswith('File "') and self.path.name in tb_line and ", line " in tb_line:
                try:
                    n = int(tb_line.split(", line ")[1].split(",")[0])
                except ValueError:
                    continue
                if 0 < n <= len(src):
                    lines.append(">>> %s:%d: %s" % (self.path.name, n, src[n - 1].strip()))
        return "\n".join(lines)

    def reportinfo(self):
        return self.path, self.lineno - 1, "[micropython %d-bit] %s" % (self.word, self.test)


def pytest_collection_modifyitems(session, config, items):
    chosen = {}
    for item in items:
        if isinstance(item, MicroPythonItem):
            chosen.setdefault(item.parent, {}).setdefault(item.word, []).append(item.test)
    for f, names in chosen.items():
        f.selected = names


def _which():
    ok, line = port.availability()
    words = "64-bit wheel and 32-bit build (%s)" % line if ok else "64-bit wheel only (%s)" % line
    return "MicroPython tests on the %s; aioble: %s" % (words, mpy.aioble_kind())


def pytest_report_header(config):
    return _which()


def pytest_runtest_logreport(report):
    if ("micropython", True) not in report.user_properties:
        return
    if report.when == "call" or (report.when == "setup" and report.skipped):
        _counts["ran"] += 1
        _counts[report.outcome] += 1
        word = dict(report.user_properties).get("micropython_word")
        if word in _counts_by_word and report.outcome != "skipped":
            _counts_by_word[word] += 1


def pytest_terminal_summary(terminalreporter):
    c = _counts
    if c["ran"]:
        terminalreporter.write_line(
            "MicroPython: %d tests ran inside the unix port (%d passed, %d failed, %d skipped; "
            "%d on 64-bit, %d on 32-bit)" % (c["ran"], c["passed"], c["failed"], c["skipped"],
                                             _counts_by_word[64], _counts_by_word[32]))
        terminalreporter.write_line(_which())
