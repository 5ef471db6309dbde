# micropython
from drivers.storage import Store
from memfs import MemFs, PowerCut


def test_round_trip_and_unchanged_write_skipped():
    fs = MemFs()
    st = Store("", fs)
    assert st.read("cfg") is None
    assert st.write("cfg", b"one")
    assert st.read("cfg") == b"one"
    ops = fs.ops
    assert st.write("cfg", b"one")  # already stored: nothing written
    assert fs.ops == ops
    assert st.write("cfg", b"two")
    assert st.read("cfg") == b"two" and fs.files["cfg.bak"] != fs.files["cfg"]
    assert st.problems == []


def test_power_cut_at_every_step_keeps_old_or_new():
    for old in (None, b"old settings"):
        step = 0
        while True:
            fs = MemFs()
            if old is not None:
                Store("", fs).write("cfg", old)
                Store("", fs).write("cfg", old + b"!")  # a .bak exists too
                old_now = old + b"!"
            else:
                old_now = None
            fs.budget = step
            try:
                Store("", fs).write("cfg", b"new settings")
                done = True
            except PowerCut:
                done = False
            fs.budget = -1
            got = Store("", fs).read("cfg")
            assert got in (old_now, b"new settings"), (old, step, got)
            if done:
                assert got == b"new settings"
                break
            # the next write after the cut completes and is read back
            st = Store("", fs)
            st.write("cfg", b"third")
            assert Store("", fs).read("cfg") == b"third"
            step += 1
        assert step >= 3


def test_corrupt_file_falls_back_to_last_good_copy():
    fs = MemFs()
    st = Store("", fs)
    st.write("cfg", b"first")
    st.write("cfg", b"second")
    raw = bytearray(fs.files["cfg"])
    raw[2] ^= 0x40
    fs.files["cfg"] = bytes(raw)
    st = Store("", fs)
    assert st.read("cfg") == b"first"
    assert "used cfg.bak" in st.problems[0]


def test_unreadable_and_garbage_give_defaults_reported():
    fs = MemFs({"cfg": b"\xff" * 40})
    st = Store("", fs)
    assert st.read("cfg") is None
    assert "defaults" in st.problems[-1]
    fs = MemFs()
    Store("", fs).write("cfg", b"x")
    fs.fail_reads = ("cfg",)
    st = Store("", fs)
    assert st.read("cfg") is None
    assert "unreadable" in st.problems[0]


def test_failed_write_keeps_old_copy():
    fs = MemFs()
    Store("", fs).write("cfg", b"good")

    class Full(MemFs):
        def write(self, path, data):
            raise OSError(28)
    full = Full(fs.files)
    st = Store("", full)
    assert not st.write("cfg", b"new")
    assert "failed" in st.problems[0]
    assert Store("", fs).read("cfg") == b"good"


def test_real_filesystem():
    import os
    st = Store("/tmp/bms_store_test_")
    for s in ("", ".new", ".bak"):
        try:
            os.remove("/tmp/bms_store_test_cfg" + s)
        except OSError:
            pass
    assert st.write("cfg", b"abc") and st.write("cfg", b"def")
    assert Store("/tmp/bms_store_test_").read("cfg") == b"def"
