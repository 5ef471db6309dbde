"""Demo mode: serve the phone page on localhost with the simulator behind it.

The page's demo transport (web/transport-sim.js) posts its GATT calls to
/sim/*; each is carried out by the firmware's real BLE service on the
simulated board (tools/gatt_bridge.py). Status notifications go back to the
page as server-sent events. Localhost only: it is a demo, not a remote access.

    python tools/web_demo.py [--port 8080] [--scenario idle]
"""
import argparse
import functools
import http.server
import json
import queue
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools import gatt_bridge  # noqa: E402

WEB = ROOT / "web"


class Demo:
    """The bridge plus the event listeners (one queue per open event stream)."""

    def __init__(self, scenario, store_dir=None):
        self.listeners = []
        self.lock = threading.Lock()
        self.gatt = gatt_bridge.FirmwareGatt(scenario=scenario, store_dir=store_dir, on_notify=self._notify)

    def _notify(self, uuid, data):
        self.broadcast({"type": "notify", "uuid": uuid, "data": data.hex()})

    def broadcast(self, msg):
        with self.lock:
            for q in self.listeners:
                q.put(msg)

    def handle(self, op, body):
        if op == "info":
            return {"demo": True}
        if op == "connect":
            return {"name": self.gatt.connect() or "SmartBMS (simulated)"}
        if op == "read":
            return {"data": self.gatt.read(body["uuid"]).hex()}
        if op == "write":
            self.gatt.write(body["uuid"], bytes.fromhex(body["data"]))
            return {}
        if op == "subscribe":
            self.gatt.subscribe(body["uuid"])
            return {}
        if op == "disconnect":
            self.gatt.disconnect()
            self.broadcast({"type": "disconnected"})
            return {}
        raise KeyError(op)


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".webmanifest": "application/manifest+json",
                      ".json": "application/json", ".svg": "image/svg+xml"}
    demo = None

    def log_message(self, *args):
        pass

    def _json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/sim/info":
            return self._json(200, self.demo.handle("info", {}))
        if self.path == "/sim/events":
            return self._events()
        return super().do_GET()

    def do_POST(self):
        if not self.path.startswith("/sim/"):
            return self._json(404, {"error": "not found"})
        n = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(n) or b"{}")
            self._json(200, self.demo.handle(self.path[5:], body))
        except KeyError as e:
            self._json(404, {"error": "unknown operation %s" % e})
        except Exception as e:  # the page shows it
            self._json(500, {"error": str(e)})

    def _events(self):
        q = queue.Queue()
        with self.demo.lock:
            self.demo.listeners.append(q)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        try:
            while True:
                try:
                    msg = q.get(timeout=15)
                    self.wfile.write(b"data: " + json.dumps(msg).encode() + b"\n\n")
                except queue.Empty:
                    self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
        except OSError:
            pass
        finally:
            with self.demo.lock:
                self.demo.listeners.remove(q)


def serve(port, scenario="idle", host="127.0.0.1", store_dir=None):
    """Start the demo server; returns (server, demo). Port 0 picks a free one;
    store_dir holds the simulated board's flash (settings file)."""
    reason = gatt_bridge.missing()
    if reason:
        raise SystemExit("web demo: " + reason)
    demo = Demo(scenario, store_dir)
    handler = functools.partial(type("DemoHandler", (Handler,), {"demo": demo}), directory=str(WEB))
    try:
        server = http.server.ThreadingHTTPServer((host, port), handler)
    except OSError:  # the port is taken: do not leave the simulator running
        demo.gatt.close()
        raise
    server.daemon_threads = True
    return server, demo


def main(argv=None):
    """Serve until Ctrl-C, which ends it quietly (exit status 0)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--scenario", default="idle")
    args = ap.parse_args(argv)
    try:
        server, demo = serve(args.port, args.scenario)
    except KeyboardInterrupt:
        return 0
    except OSError as e:
        print("web demo: cannot serve on 127.0.0.1:%d: %s" % (args.port, e.strerror), file=sys.stderr)
        return 2
    try:  # the announcement too: a Ctrl-C right after it lands in this try
        print("phone page with the simulated BMS: http://127.0.0.1:%d/ (PIN 000000; Ctrl-C ends it)"
              % server.server_address[1], flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("web demo: stopped")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not break the cleanup
        server.server_close()
        demo.gatt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
