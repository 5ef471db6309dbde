"""One simulated BMS that outlives a bmsctl call: `./bms sim --serve PORT`.

The whole firmware runs on the simulated board in real time (control task,
plant, Instant Readout, and the BLE service on the simulated radio:
tools/gatt_bridge.py), and this server lets bmsctl act as the phone over a
local TCP socket, one JSON line per request:

    -> {"op": "scan"}                           <- {"ok": true, "adv": {...} or null}
    -> {"op": "connect"}                        <- {"ok": true, "name": "SmartBMS"}
    -> {"op": "read", "uuid": U}                <- {"ok": true, "data": HEX}
    -> {"op": "request", "uuid": U, "data": HEX}  <- {"ok": true, "data": HEX}
    -> {"op": "disconnect"}                     <- {"ok": true}

`bmsctl --sim-port PORT ...` speaks it. A setting written by one call is still
there for the next (and in the simulated flash): the session lasts until
Ctrl-C. One client at a time, as the BMS takes one central; a client that
goes away without disconnecting is disconnected for it. 127.0.0.1 only.
"""
import json
import socketserver
import tempfile
import threading

from tools import gatt_bridge


class Session:
    """The firmware behind the socket; `handle(msg)` answers one request."""

    def __init__(self, scenario, store_dir=None):
        self._tmp = None
        if store_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="bms-session-")
            store_dir = self._tmp.name
        self.gatt = gatt_bridge.FirmwareGatt(scenario=scenario, store_dir=store_dir)
        self.client = threading.Lock()  # held for the whole of one client's visit
        self.connected = False

    def handle(self, msg):
        op = msg.get("op")
        g = self.gatt
        if op == "scan":
            return {"adv": g.scan()}
        if op == "connect":
            name = g.connect()
            self.connected = True
            return {"name": name}
        if op == "disconnect":
            if self.connected:
                g.disconnect()
            self.connected = False
            return {}
        if op == "read":
            return {"data": g.read(msg["uuid"]).hex()}
        if op == "request":
            g.write(msg["uuid"], bytes.fromhex(msg["data"]))  # returns once the answer is written
            return {"data": g.read(msg["uuid"]).hex()}
        raise ValueError("unknown op %r" % op)

    def close(self):
        self.gatt.close()
        if self._tmp is not None:
            self._tmp.cleanup()


class _Handler(socketserver.StreamRequestHandler):
    session = None
    timeout = 120  # a client silent this long lets the next one in

    def handle(self):
        s = self.session
        with s.client:
            try:
                for line in self.rfile:
                    if not line.strip():
                        continue
                    try:
                        ans = s.handle(json.loads(line))
                        ans["ok"] = True
                    except Exception as e:  # the client shows it; the session goes on
                        ans = {"ok": False, "error": str(e).splitlines()[0] if str(e) else repr(e)}
                    self.wfile.write((json.dumps(ans) + "\n").encode())
                    self.wfile.flush()
            except OSError:
                pass  # the client went away
            finally:
                if s.connected:  # the next client must find the BMS advertising
                    try:
                        s.handle({"op": "disconnect"})
                    except Exception:
                        s.connected = False


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(port, scenario, host="127.0.0.1", store_dir=None):
    """(server, session); port 0 picks a free one (server.server_address[1])."""
    reason = gatt_bridge.missing()
    if reason:
        raise SystemExit("bms-sim: " + reason)
    session = Session(scenario, store_dir)
    handler = type("SessionHandler", (_Handler,), {"session": session})
    try:
        server = Server((host, port), handler)
    except OSError:
        session.close()
        raise
    return server, session
