# Atomic file store for the settings blob (the `Store` of docs/architecture.md).
#
# Every file carries its own length and SHA-256 trailer, so the store can tell
# a good copy from a torn one. A write goes: NAME.new written and read back,
# old NAME.bak removed, NAME renamed to NAME.bak, NAME.new renamed to NAME.
# A power cut at any step leaves a good NAME, NAME.new or NAME.bak; read()
# takes the first good one of NAME, NAME.new (complete, not yet renamed),
# NAME.bak and reports every fallback in `problems`. It never raises.
#
# A version that was read at boot must survive the next power cut, so read()
# finishes an interrupted write (a good NAME.new with NAME missing or
# damaged) by renaming, never by writing it again. A read that fails (the
# flash answers with an error, as opposed to a missing or damaged file) is
# tried again; if NAME stays unreadable, what read() returned may be older
# than NAME, so this store then never replaces NAME (until the next boot).
import hashlib
import os
import struct

from micropython import const

_TRAILER = const(12)  # u32 length + 8 bytes of SHA-256
_READ_TRIES = const(3)
_ENOENT = const(2)
_EIO = const(5)
# no file the firmware writes is near this (settings about 1 KB, history
# 0.5 KB): a longer one is damage, and never read into the heap
_MAX_FILE = const(4096)
_CHUNK = const(128)  # what a save reads of a file at a time

_MISSING = const(0)
_GOOD = const(1)
_DAMAGED = const(2)
_UNREADABLE = const(3)


def _seal(buf, n):
    """Write the trailer of buf[:n] into buf[n:n + _TRAILER]."""
    struct.pack_into("<I", buf, n, n)
    buf[n + 4:n + _TRAILER] = hashlib.sha256(memoryview(buf)[:n]).digest()[:8]


def _unframe(raw):
    """The data inside a framed file (a view of `raw`), or None when the
    frame is damaged."""
    if raw is None or len(raw) < _TRAILER:
        return None
    data = memoryview(raw)[:-_TRAILER]
    n = struct.unpack_from("<I", raw, len(raw) - _TRAILER)[0]
    if n != len(data) or hashlib.sha256(data).digest()[:8] != raw[-8:]:
        return None
    return data


class OsFs:
    """The board's filesystem through open() and os (what Store needs)."""

    def open_read(self, path):
        """The file open for reading (binary), or None when it is missing;
        any other error raises. On a board every open takes a block of the
        heap with littlefs's cache in it (about 430 bytes on an ESP32, 1.3 KB
        on a Pico W): the Store opens a file once per look at it."""
        try:
            return open(path, "rb")
        except OSError as e:
            if e.args and e.args[0] == _ENOENT:
                return None
            raise

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
    TRAILER = _TRAILER  # the room write_buffer() needs after the data

    def __init__(self, root="", fs=None):
        self.root = root
        self.fs = fs or OsFs()
        self.problems = []  # what read() or write() had to work around
        self._unsure = []  # names whose NAME could not be read: never replaced
        # a save checks the files through this, a piece at a time, so it
        # needs no block of a file's size in a fragmented heap (_check)
        self._chunk = bytearray(_CHUNK)

    def _path(self, name, suffix=""):
        return self.root + name + suffix

    def _report(self, msg):
        if msg not in self.problems:
            self.problems.append(msg)
        del self.problems[:-8]  # keep the latest few

    def _read(self, path):
        """The file's bytes (a buffer of their size: read() runs at boot,
        while the heap is whole), or None when it is missing. A file longer
        than _MAX_FILE is never read into the heap: empty, no frame, damaged."""
        f = self.fs.open_read(path)
        if f is None:
            return None
        with f:
            n = f.seek(0, 2)
            if n > _MAX_FILE:
                return b""
            f.seek(0)
            buf = bytearray(n)
            if n and f.readinto(buf) != n:  # a short read is an error, not damage
                raise OSError(_EIO)
        return buf

    def _check(self, path, framed):
        """(state, same) of the file at `path`, read _CHUNK bytes at a time
        through one open: _MISSING, _GOOD or _DAMAGED, and whether its bytes
        are `framed`'s (a sealed frame: then it is good); an error raises."""
        c = self._chunk
        f = self.fs.open_read(path)
        if f is None:
            return _MISSING, False
        with f:
            n = f.seek(0, 2)
            if n < _TRAILER or n > _MAX_FILE:
                return _DAMAGED, False
            f.seek(0)
            end = n - _TRAILER
            same = n == len(framed)
            h = hashlib.sha256()
            off = 0
            while off < n:
                k = n - off if n - off < _CHUNK else _CHUNK
                v = memoryview(c)[:k]
                if f.readinto(v) != k:
                    raise OSError(_EIO)
                if same and v != framed[off:off + k]:
                    same = False
                if off < end:
                    h.update(v[:end - off] if end - off < k else v)
                off += k
            if same:
                return _GOOD, True
            f.seek(end)  # its trailer
            if f.readinto(memoryview(c)[:_TRAILER]) != _TRAILER:
                raise OSError(_EIO)
        good = struct.unpack_from("<I", c)[0] == end and h.digest()[:8] == c[4:_TRAILER]
        return (_GOOD if good else _DAMAGED), False

    def _load(self, name, suffix, framed=None):
        """(state, data) of one file, tried again on an error or a damaged
        frame. data: the file's data (a view), or with `framed` whether the
        file holds those bytes (_check)."""
        path = self._path(name, suffix)
        err = None
        for _ in range(_READ_TRIES):
            try:
                if framed is not None:
                    state, same = self._check(path, framed)
                    if state != _DAMAGED:
                        return state, same
                    err = None
                    continue
                raw = self._read(path)
            except Exception as e:  # the flash answered with an error
                err = e
                continue
            if raw is None:
                return _MISSING, None
            data = _unframe(raw)
            if data is not None:
                return _GOOD, data
            err = None  # bytes came back, but damaged: perhaps a bad read too
        if err is not None:
            self._report("%s%s unreadable: %s" % (name, suffix, err))
            return _UNREADABLE, None
        return _DAMAGED, None

    def read(self, name):
        """The newest good copy's bytes, or None when no good copy exists."""
        state, data = self._load(name, "")
        if state == _GOOD:
            return bytes(data)
        if state == _UNREADABLE and name not in self._unsure:
            self._unsure.append(name)
        new_state, data = self._load(name, ".new")
        if new_state == _GOOD:
            if state == _UNREADABLE:
                self._report("%s unreadable, used %s.new" % (name, name))
            else:
                self._finish(name, state)
            return bytes(data)
        bak_state, data = self._load(name, ".bak")
        if bak_state == _GOOD:
            self._report("%s damaged or missing, used %s.bak" % (name, name))
            return bytes(data)
        if state != _MISSING or new_state != _MISSING or bak_state != _MISSING:
            self._report(name + ": no good copy, defaults used")  # a first boot is no problem
        return None

    def _finish(self, name, state):
        """A power cut hit a write after NAME.new was complete: put it in
        place with a rename (writing it again could tear the only good copy
        of a version that has now booted)."""
        path = self._path(name)
        try:
            if state == _DAMAGED:
                self.fs.remove(path)
            self.fs.rename(self._path(name, ".new"), path)
            self._report("%s: finished an interrupted write (%s.new)" % (name, name))
        except Exception as e:
            self._report("%s: could not finish an interrupted write: %s" % (name, e))

    def write(self, name, data):
        """Store data atomically. True once the store holds `data` (an
        unchanged copy is not written again); False when the write failed
        (reported; the old copy stays)."""
        n = len(data)
        buf = bytearray(n + _TRAILER)
        buf[:n] = data
        return self.write_buffer(name, buf, n)

    def write_buffer(self, name, buf, n):
        """write(name, buf[:n]) without a copy of the data: `buf` (a
        bytearray) has _TRAILER bytes of room after them, which this fills."""
        if name in self._unsure:
            self._report("%s unreadable at boot: not replaced until a restart" % name)
            return False
        _seal(buf, n)
        framed = memoryview(buf)[:n + _TRAILER]
        state, same = self._load(name, "", framed)
        if state == _UNREADABLE:
            return False  # it may hold newer data than anything else: keep it
        if same:
            return True
        path, new, bak = self._path(name), self._path(name, ".new"), self._path(name, ".bak")
        try:
            self.fs.write(new, framed)
            if not self._check(new, framed)[1]:
                raise OSError("read-back mismatch")
            if state == _GOOD:  # keep the current good copy as .bak
                self.fs.remove(bak)
                self.fs.rename(path, bak)
            else:
                self.fs.remove(path)
            self.fs.rename(new, path)
        except Exception as e:
            self._report("writing %s failed: %s" % (name, e))
            try:  # a verified .new would be finished at the next boot: what was refused came back
                self.fs.remove(new)
            except Exception:
                pass  # the flash refuses everything: nothing more to do
            return False
        return True
