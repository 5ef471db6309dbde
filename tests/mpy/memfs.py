# An in-memory filesystem for Store tests that can cut the power before any
# operation: the cut write leaves a torn prefix, and every later call raises.
# Reads of `fail_reads` always raise (EIO); `flaky[path]` reads raise first.


class PowerCut(BaseException):  # not caught by the code under test
    pass


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

    def readinto(self, path, buf, offset=0):  # drivers/storage.py OsFs.readinto
        if path in self.fail_reads:
            raise OSError(5)
        if self.flaky.get(path, 0) > 0:
            self.flaky[path] -= 1
            raise OSError(5)
        data = self.files.get(path)
        if data is None:
            return None
        k = max(0, min(len(data) - offset, len(buf)))
        buf[:k] = data[offset:offset + k]
        return len(data)

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
