# The firmware's flash-backed state through the board's atomic Store: the
# settings with their secrets (settings.bin) and the history (history.bin).
# Loaded at boot, written back when asked and by a task of its own, never
# from the control task.
import asyncio

from bms import settingsfile, ticks
from bms.auth import Auth
from bms.history import History, BLOB_LEN

SETTINGS_FILE = "settings.bin"
HISTORY_FILE = "history.bin"
_PERSIST_MS = 1000  # how often the persistence task looks for changes
# A save the flash refused is tried again after a second, then after twice
# as long each time, up to a minute: a full or failing flash is not written
# (and the heap not churned) every second for as long as it refuses.
_RETRY_MAX_MS = 60000


class Persistence:
    """Loads `settings` (in place), builds `auth` and `history` from flash;
    `problems` lists what the load had to work around."""

    def __init__(self, store, settings, clock, rand):
        self.store = store
        self.settings = settings
        # the settings blob and the history's are built here at every save
        # (one at a time: a save runs to its end): taken at boot, while the
        # heap is whole, a save needs no large block of a fragmented one
        self._blob = bytearray(max(settingsfile.max_size(), BLOB_LEN) + store.TRAILER)
        self.clock = clock
        self._retry_ms = _PERSIST_MS  # the wait after the next refusal
        self._retry_at = None  # no save before this, after a refusal
        self._refused = 0  # the files whose last write the flash refused: bit 0 settings, 1 history
        values, secrets, self.problems = settingsfile.load(store.read(SETTINGS_FILE), rand)
        errors = settings.update(values)
        if errors:  # load() checked every rule: only a schema change gets here
            self.problems.append("stored settings refused: " + errors[0][2])
        self.auth = Auth(settings, secrets["puk"], secrets["readout_key"], secrets["failures"])
        self.first_boot = "new" in secrets
        self.history = History()
        blob = store.read(HISTORY_FILE)
        if blob is not None and not self.history.from_bytes(blob):
            self.problems.append("history file corrupt: counters start from zero")
        # first boot or a repaired file: secrets persist now
        self.secrets_stored = self.save_settings()
        if self.first_boot and not self.secrets_stored:
            self.problems.append("new secrets not stored (flash refused): "
                                 "PUK and key change at the next boot")

    def save_settings(self):
        """Settings and secrets to flash (the store skips unchanged bytes);
        False when the flash refused them: auth stays dirty, so the
        persistence task tries again."""
        try:
            n = settingsfile.snapshot_into(self._blob, self.settings, self.auth)
        except ValueError:  # longer than max_size() allows: not stored
            n = -1
        ok = n >= 0 and self.store.write_buffer(SETTINGS_FILE, self._blob, n)
        self.auth.dirty = not ok
        self._refused = self._refused & 2 if ok else self._refused | 1
        return ok

    def save_history(self):
        n = self.history.pack_into(self._blob)
        ok = self.store.write_buffer(HISTORY_FILE, self._blob, n)
        if ok:
            self.history.saved(self.clock())
        self._refused = self._refused & 1 if ok else self._refused | 2
        return ok

    @property
    def flash_fault(self):
        """True while the last write of the settings or of the history was
        refused: what the flash holds is older than what the BMS runs on (the
        status's flash_fault bit, until a save goes through)."""
        return self._refused != 0

    def step(self, now_ms):
        """One look of the persistence task: history when its policy asks
        (important events, else every few minutes), secrets when auth
        changed; after a refusal, not before the retry is due."""
        self.auth.expire(now_ms)
        if not (self.auth.dirty or self.history.dirty):
            return
        if self._retry_at is not None and ticks.diff(now_ms, self._retry_at) < 0:
            return
        ok = True
        if self.auth.dirty:
            ok = self.save_settings()
        if self.history.dirty:
            ok = self.save_history() and ok
        if ok:
            self._retry_ms = _PERSIST_MS
            self._retry_at = None
        else:
            self._retry_at = ticks.add(now_ms, self._retry_ms)
            self._retry_ms = min(2 * self._retry_ms, _RETRY_MAX_MS)

    async def run(self):
        while True:
            await asyncio.sleep_ms(_PERSIST_MS)
            self.step(self.clock())
