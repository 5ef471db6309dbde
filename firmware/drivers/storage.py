# Atomic file store for the settings blob (the `Store` of docs/architecture.md).
#
# Every file carries its own length and SHA-256 trailer, so the store can tell
# a good copy from a torn one. A write goes: NAME.new written and read back,
# old NAME.bak removed, NAME renamed to NAME.bak, NAME.new renamed to NAME.
# A power cut at any step leaves a good NAME, NAME.new or NAME.bak; read()
# takes the first good one of NAME, NAME.new (complete, not yet renamed),
# NAME.bak and reports every fallback in `problems`. It never raises.
import hashlib
import os
import struct

_TRAILER = 12  # u32 length + 8 bytes of SHA-256


def _frame(data):
    return data + struct.pack("<I", len(data)) + hashlib.sha256(data).digest()[:8]


def _unframe(raw):
    """The data inside a framed file, or None when the frame is damaged."""
    if raw is None or len(raw) < _TRAILER:
        return None
    data = raw[:-_TRAILER]
    n = struct.unpack("<I", raw[-_TRAILER:-8])[0]
    if n != len(data) or hashlib.sha256(data).digest()[:8] != raw[-8:]:
        return None
    return data


class OsFs:
    """The board's filesystem through open() and os (what Store needs)."""

    def read(self, path):
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            return None

    def write(self, path, data):
        with open(path, "wb") as f:
            f.write(data)

    def rename(self, old, new):
        os.rename(old, new)

    def remove(self, path):
        try:
            os.remove(path)
        except OSError:
            pass


class Store:
    def __init__(self, root="", fs=None):
        self.root = root
        self.fs = fs or OsFs()
        self.problems = []  # what read() or write() had to work around

    def _path(self, name, suffix=""):
        return self.root + name + suffix

    def _report(self, msg):
        self.problems.append(msg)
        del self.problems[:-8]  # keep the latest few

    def _good(self, name, suffix):
        try:
            return _unframe(self.fs.read(self._path(name, suffix)))
        except Exception as e:  # an unreadable file counts as damaged
            self._report("%s%s unreadable: %s" % (name, suffix, e))
            return None

    def read(self, name):
        """The newest good copy's bytes, or None when no good copy exists."""
        for suffix in ("", ".new", ".bak"):
            data = self._good(name, suffix)
            if data is not None:
                if suffix:
                    self._report("%s damaged or missing, used %s%s" % (name, name, suffix))
                return data
        try:
            exists = self.fs.read(self._path(name)) is not None
        except Exception:
            exists = True
        if exists:  # a first boot (no file at all) is not a problem
            self._report(name + ": no good copy, defaults used")
        return None

    def write(self, name, data):
        """Store data atomically. True once the store holds `data` (an
        unchanged copy is not written again); False when the write failed
        (reported; the old copy stays)."""
        data = bytes(data)
        if self._good(name, "") == data:
            return True
        path, new, bak = self._path(name), self._path(name, ".new"), self._path(name, ".bak")
        try:
            self.fs.write(new, _frame(data))
            if _unframe(self.fs.read(new)) != data:
                raise OSError("read-back mismatch")
            if self._good(name, "") is not None:  # keep the current good copy as .bak
                self.fs.remove(bak)
                self.fs.rename(path, bak)
            else:
                self.fs.remove(path)
            self.fs.rename(new, path)
        except Exception as e:
            self._report("writing %s failed: %s" % (name, e))
            return False
        return True
