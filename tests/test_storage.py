# micropython
from drivers.storage import Store, OsFs
from mpytest import raises
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
    # a missing file opens as None; any other error raises (and is retried)
    assert OsFs().open_read("/tmp/bms_store_test_none") is None
    with raises(OSError):
        OsFs().open_read("/tmp/bms_store_test_cfg/x")  # not a folder
    with OsFs().open_read("/tmp/bms_store_test_cfg") as f:
        buf = bytearray(2)
        assert f.seek(0, 2) == 3 + 12 and f.seek(1) == 1 and f.readinto(buf) == 2 and buf == b"ef"


def test_a_short_read_of_the_flash_is_an_error_that_keeps_the_file():
    # a read that comes short is unreadable, not damaged: the boot uses the
    # best it can read and the newer file is not replaced
    import os
    import drivers.storage as storage

    root = "/tmp/bms_store_short_"
    for s in ("cfg", "cfg.new", "cfg.bak"):
        try:
            os.remove(root + s)
        except OSError:
            pass
    assert Store(root).write("cfg", b"older") and Store(root).write("cfg", b"newer")
    real = open

    class Short:
        def __init__(self, path):
            self.f = real(path, "rb")
            self.path = path

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def seek(self, offset, whence=0):
            return self.f.seek(offset, whence)

        def readinto(self, buf):
            n = self.f.readinto(buf)
            return n - 1 if self.path == root + "cfg" else n

    storage.open = lambda path, mode: Short(path)
    try:
        st = Store(root)
        assert st.read("cfg") == b"older" and "unreadable" in st.problems[0]
        assert not st.write("cfg", b"older")
    finally:
        del storage.open
    assert Store(root).read("cfg") == b"newer"


class _Sizes(MemFs):
    """Records the size of every buffer the store reads into."""

    def __init__(self, files=None):
        MemFs.__init__(self, files)
        self.sizes = []

    def open_read(self, path):
        f = MemFs.open_read(self, path)
        if f is not None:
            read = f.readinto

            def sized(buf):
                self.sizes.append(len(buf))
                return read(buf)
            f.readinto = sized
        return f


def test_a_huge_file_is_damage_and_never_read_into_the_heap():
    fs = MemFs()
    Store("", fs).write("cfg", b"older")
    Store("", fs).write("cfg", b"newer")
    fs.files["cfg"] = bytes(200000)  # more than a board's whole heap
    fs = _Sizes(fs.files)
    st = Store("", fs)
    assert st.read("cfg") == b"older" and "cfg.bak" in st.problems[0]
    assert st.write("cfg", b"newest") and Store("", fs).read("cfg") == b"newest"
    assert max(fs.sizes) < 4096


def test_a_save_reads_the_files_in_small_pieces():
    # no block of a file's size when the heap is fragmented: the unchanged
    # check and the read-back go through the store's small buffer
    fs = _Sizes()
    st = Store("", fs)
    data = bytes(range(256)) * 4
    assert st.write("cfg", data)
    assert st.write("cfg", data[:-1] + b"!")  # the same length, another last byte
    assert st.write("cfg", data[:-1] + b"!")  # unchanged: not written again
    assert fs.files["cfg.bak"][:1024] == data
    assert 0 < max(fs.sizes) <= 128
    assert Store("", fs).read("cfg") == data[:-1] + b"!"


def test_a_save_opens_each_file_once_per_look():
    # on a board every open takes a block of the heap with littlefs's cache
    # in it (1.3 KB on a Pico W): the check of the current file and the
    # read-back of the new one are an open each, however long the file
    class Opens(MemFs):
        def __init__(self):
            MemFs.__init__(self)
            self.opens = []

        def open_read(self, path):
            self.opens.append(path)
            return MemFs.open_read(self, path)

    fs = Opens()
    st = Store("", fs)
    data = bytes(range(256)) * 4
    assert st.write("cfg", data) and fs.opens == ["cfg", "cfg.new"]
    del fs.opens[:]
    assert st.write("cfg", data[:-1] + b"!") and fs.opens == ["cfg", "cfg.new"]
    del fs.opens[:]
    assert st.write("cfg", data[:-1] + b"!") and fs.opens == ["cfg"]  # unchanged


def test_a_write_that_failed_at_its_last_rename_does_not_come_back_at_the_next_boot():
    # the caller is told False and undoes the change: the boot must not
    # finish the verified .new left behind
    class LastRenameFails(MemFs):
        def rename(self, old, new):
            if old.endswith(".new"):
                raise OSError(5)
            MemFs.rename(self, old, new)

    fs = LastRenameFails()
    MemFs.__init__(fs)
    assert Store("", MemFs(fs.files)).write("cfg", b"kept")
    assert not Store("", fs).write("cfg", b"refused")
    assert Store("", MemFs(fs.files)).read("cfg") == b"kept"


def test_a_transient_read_error_is_retried():
    fs = MemFs()
    Store("", fs).write("cfg", b"older")
    Store("", fs).write("cfg", b"newer")
    fs.flaky = {"cfg": 2}
    st = Store("", fs)
    assert st.read("cfg") == b"newer"
    assert st.write("cfg", b"newest") and Store("", fs).read("cfg") == b"newest"


def test_a_read_error_never_lets_the_backup_replace_the_newer_file():
    fs = MemFs()
    Store("", fs).write("cfg", b"older")
    Store("", fs).write("cfg", b"newer")
    fs.fail_reads = ("cfg",)  # unreadable for the whole boot
    st = Store("", fs)
    assert st.read("cfg") == b"older"  # the best that can be read, reported
    assert "unreadable" in st.problems[0] and "cfg.bak" in st.problems[1]
    assert not st.write("cfg", b"older")  # what a boot writes back: refused
    fs.fail_reads = ()
    assert not st.write("cfg", b"other")  # still this boot: what it holds may be older
    assert fs.files["cfg"] != fs.files["cfg.bak"]
    assert Store("", fs).read("cfg") == b"newer"  # the next boot reads it again


def test_a_read_error_while_writing_leaves_the_file_alone():
    fs = MemFs()
    Store("", fs).write("cfg", b"older")
    Store("", fs).write("cfg", b"newer")
    st = Store("", fs)
    assert st.read("cfg") == b"newer"
    fs.fail_reads = ("cfg",)
    assert not st.write("cfg", b"newest")
    fs.fail_reads = ()
    assert Store("", fs).read("cfg") == b"newer"


def _cut_write(fs, data, step):
    """Store.write cut before its operation number `step`; True if it completed."""
    fs.budget = step
    try:
        Store("", fs).write("cfg", data)
        return True
    except PowerCut:
        return False
    finally:
        fs.budget = -1


def _boot(fs, step):
    """A boot cut before operation `step`: read, then write back what it read
    (as the app does for a repaired file); None if it was cut."""
    fs.budget = step
    try:
        st = Store("", fs)
        got = st.read("cfg")
        st.write("cfg", got)
        return got
    except PowerCut:
        return None
    finally:
        fs.budget = -1


def test_a_version_that_booted_survives_any_second_power_cut():
    # first cut: anywhere in a write of "new"; the boot after it runs with
    # what it read; a second cut anywhere in that boot (or the one after)
    # must never bring an older version back
    step = 0
    while True:
        fs = MemFs()
        Store("", fs).write("cfg", b"old0")
        Store("", fs).write("cfg", b"old")
        done = _cut_write(fs, b"new", step)
        files = dict(fs.files)
        booted = Store("", MemFs(dict(files))).read("cfg")
        assert booted in (b"old", b"new"), (step, booted)
        second = 0
        while True:
            fs = MemFs(dict(files))
            finished = _boot(fs, second) is not None
            for _ in range(2):  # the next boot, and the one after
                assert Store("", fs).read("cfg") == booted, (step, second)
            if finished:
                break
            second += 1
        if done:
            break
        step += 1
    assert step >= 3


def test_an_interrupted_write_is_finished_by_renaming_not_rewriting():
    fs = MemFs()
    Store("", fs).write("cfg", b"old")
    assert not _cut_write(fs, b"new", 3)  # .new written, cfg moved to .bak, then the cut
    assert "cfg" not in fs.files and "cfg.new" in fs.files
    ops = fs.ops
    st = Store("", fs)
    assert st.read("cfg") == b"new"
    assert fs.ops == ops + 1 and "cfg.new" not in fs.files  # one rename, nothing written
    assert "finished" in st.problems[0]
    assert st.write("cfg", b"new") and fs.ops == ops + 1


def test_files_of_any_size():
    fs = MemFs()
    st = Store("", fs)
    for data in (b"a", b"x" * 2000, b"yz", b"x" * 2000):
        assert st.write("cfg", data) and st.read("cfg") == data
        assert Store("", fs).read("cfg") == data
    # write_buffer: the data and the trailer in the caller's buffer, not copied
    buf = bytearray(b"hello") + bytearray(Store.TRAILER)
    assert st.write_buffer("cfg", buf, 5) and Store("", fs).read("cfg") == b"hello"
    assert fs.files["cfg"] == bytes(buf)
