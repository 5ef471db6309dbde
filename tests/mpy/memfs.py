# An in-memory filesystem for Store tests that can cut the power before any
# operation: the cut write leaves a torn prefix, and every later call raises.
# Reads of `fail_reads` always raise (EIO); `flaky[path]` reads raise first.


class PowerCut(BaseException):  # not caught by the code under test
    pass


class MemFile:
    """A file of MemFs open for reading, as the board's file objects: seek
    (from the start or the end) gives the position, readinto how many bytes."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.data = None  # closed

    def seek(self, offset, whence=0):
        self.pos = offset + (len(self.data) if whence == 2 else 0)
        return self.pos

    def readinto(self, buf):
        k = max(0, min(len(self.data) - self.pos, len(buf)))
        buf[:k] = self.data[self.pos:self.pos + k]
        self.pos += k
        return k


class MemFs:
    def __init__(self, files=None):
        self.files = files if files is not None else {}
        self.budget = -1  # operations left before the cut; -1 = never
        self.ops = 0
        self.fail_reads = ()
        self.flaky = {}  # path -> how many more reads of it raise
        self.full = False  # writes raise ENOSPC, as a worn or full flash does

    def _step(self):
        if self.budget == 0:
            raise PowerCut()
        if self.budget > 0:
            self.budget -= 1
        self.ops += 1

    def open_read(self, path):  # drivers/storage.py OsFs.open_read
        if path in self.fail_reads:
            raise OSError(5)
        if self.flaky.get(path, 0) > 0:
            self.flaky[path] -= 1
            raise OSError(5)
        data = self.files.get(path)
        return None if data is None else MemFile(data)

    def write(self, path, data):
        if self.full:
            raise OSError(28)
        if self.budget == 0:
            self.files[path] = bytes(data[:len(data) // 2])  # torn write
            raise PowerCut()
        self._step()
        self.files[path] = bytes(data)

    def rename(self, old, new):
        self._step()
        if old not in self.files:
            raise OSError(2)
        self.files[new] = self.files.pop(old)

    def remove(self, path):
        self._step()
        self.files.pop(path, None)
