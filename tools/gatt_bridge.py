"""Host side of the GATT bridge: the firmware's real BLE service, running on
the simulated board and radio inside a MicroPython process
(tools/gatt_bridge_mpy.py), driven like a phone would drive it.

Used by the phone page's browser tests (tests/web/) and by the demo server
(tools/web_demo.py). One JSON object per line in both directions:

    -> {"id": 1, "op": "connect"}                      <- {"id": 1, "ok": true, "name": "SmartBMS"}
    -> {"id": 2, "op": "read", "uuid": U}              <- {"id": 2, "ok": true, "data": HEX}
    -> {"id": 3, "op": "write", "uuid": U, "data": HEX} <- {"id": 3, "ok": true}
    -> {"id": 4, "op": "subscribe", "uuid": U}         <- {"id": 4, "ok": true}
    -> {"id": 5, "op": "disconnect"}                   <- {"id": 5, "ok": true}
    -> {"id": 6, "op": "event", "kind": "load_a", "arg": 30}  (a scenario event)
    -> {"id": 7, "op": "scan"}                         <- {"id": 7, "ok": true, "adv": {...} or null}
                                                       <- {"event": "notify", "uuid": U, "data": HEX}
"""
import json
import queue
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools import mpy  # noqa: E402

CHILD = ROOT / "tools" / "gatt_bridge_mpy.py"


def missing():
    """Why the bridge cannot run in this tree, or None."""
    for rel in ("firmware/drivers/ble_service.py", "boards/sim/bluetooth.py", "boards/sim/runner.py",
                "firmware/bms/auth.py", "firmware/bms/protocol.py"):
        if not (ROOT / rel).is_file():
            return "the firmware BLE service on the simulated board is not in this tree (%s missing)" % rel
    return None


class BridgeError(Exception):
    pass


class FirmwareGatt:
    """connect/read/write/subscribe/disconnect against the real firmware.
    `on_notify(uuid, bytes)` is called from a reader thread."""

    def __init__(self, scenario="idle", store_dir=None, on_notify=None):
        args = [str(CHILD), "--scenario", scenario]
        if store_dir:
            args += ["--store", str(store_dir)]
        # its own session: a Ctrl-C at the terminal stops the host, which then
        # ends the bridge by closing its stdin
        self.proc = subprocess.Popen(mpy.command() + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=mpy.env(), cwd=str(ROOT),
                                     bufsize=1, start_new_session=True)
        self.on_notify = on_notify
        self._id = 0
        self._lock = threading.Lock()
        self._pending = {}
        self.stderr = []
        self.log = []  # (op, uuid, bytes) in order, for tests
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        self._call("ready", timeout=30)

    def _read_out(self):
        for line in self.proc.stdout:
            if not line.startswith("{"):
                continue
            msg = json.loads(line)
            if msg.get("event") == "notify":
                if self.on_notify:
                    self.on_notify(msg["uuid"], bytes.fromhex(msg["data"]))
            elif "id" in msg:
                slot = self._pending.pop(msg["id"], None)
                if slot:
                    slot.put(msg)
        for slot in list(self._pending.values()):
            slot.put({"ok": False, "error": "bridge exited"})

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip())

    def _call(self, op, timeout=10, **kw):
        with self._lock:
            self._id += 1
            slot = queue.Queue(1)
            self._pending[self._id] = slot
            kw.update(id=self._id, op=op)
            try:
                self.proc.stdin.write(json.dumps(kw) + "\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                raise BridgeError("bridge exited: " + "\n".join(self.stderr[-20:])) from None
        try:
            msg = slot.get(timeout=timeout)
        except queue.Empty:
            raise BridgeError("%s: no answer in %s s\n%s" % (op, timeout, "\n".join(self.stderr[-20:]))) from None
        if not msg.get("ok"):
            raise BridgeError("%s: %s\n%s" % (op, msg.get("error"), "\n".join(self.stderr[-20:])))
        return msg

    def connect(self):
        return self._call("connect").get("name")

    def read(self, uuid):
        data = bytes.fromhex(self._call("read", uuid=uuid)["data"])
        self.log.append(("read", uuid, data))
        return data

    def write(self, uuid, data):
        self.log.append(("write", uuid, bytes(data)))
        self._call("write", uuid=uuid, data=bytes(data).hex())

    def subscribe(self, uuid):
        self._call("subscribe", uuid=uuid)

    def disconnect(self):
        self._call("disconnect")

    def scan(self):
        """What a phone's scan sees now: None, or {name, connectable, services,
        manufacturer: [[company id, hex]], adv_data, resp_data}."""
        return self._call("scan")["adv"]

    def sim(self, kind, arg):
        """A scenario event on the simulated board (boards/sim/scenario.py apply)."""
        return self._call("event", kind=kind, arg=arg)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
