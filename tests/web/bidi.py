"""A small WebDriver BiDi client for the phone-page tests: Debian chromium
through chromedriver, the browser's own Bluetooth emulation, and a Peripheral
whose reads and writes are answered by a callback (the firmware bridge).

Recipe: shared/reference/webbluetooth.md. Notifications have no BiDi command
yet, so a preload shim (NOTIFY_SHIM) lets the test deliver one through the
page's real characteristic object and listeners.
"""
import http.client
import json
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from websockets.sync.client import connect as ws_connect

CCCD = "00002902-0000-1000-8000-00805f9b34fb"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-features=WebBluetooth", "--window-size=412,915",
]

NOTIFY_SHIM = """() => {
  const proto = BluetoothRemoteGATTCharacteristic.prototype;
  const live = new Map();
  // Count GATT operations in flight: Android allows one at a time.
  window.__gatt = { now: 0, max: 0 };
  for (const name of ['readValue', 'writeValueWithResponse', 'writeValueWithoutResponse', 'startNotifications']) {
    const real = proto[name];
    proto[name] = async function (...args) {
      window.__gatt.now++;
      window.__gatt.max = Math.max(window.__gatt.max, window.__gatt.now);
      try { return await real.apply(this, args); } finally { window.__gatt.now--; }
    };
  }
  const start = proto.startNotifications;
  proto.startNotifications = function () {
    live.set(this.uuid, this);
    return start.call(this);
  };
  window.__bleTestNotify = (uuid, bytes) => {
    const c = live.get(uuid);
    if (!c) return false;
    const dv = new DataView(new Uint8Array(bytes).buffer);
    Object.defineProperty(c, 'value', { get: () => dv, configurable: true });
    c.dispatchEvent(new Event('characteristicvaluechanged'));
    delete c.value;
    return true;
  };
}"""


def browser_missing():
    """A reason string when the browser tests cannot run here, else None."""
    for exe in ("chromium", "chromedriver"):
        if not shutil.which(exe):
            return "%s not installed (run tools/setup_browser.sh as root)" % exe
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BidiError(Exception):
    pass


class Browser:
    """chromedriver + chromium, one BiDi WebSocket, events dispatched on a
    worker thread so handlers may send commands themselves."""

    def __init__(self):
        self.port = _free_port()
        self.profile = tempfile.mkdtemp(prefix="bms-chromium-")
        self.driver = subprocess.Popen(
            [shutil.which("chromedriver"), "--port=%d" % self.port, "--allowed-ips=127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_driver()
        caps = {"capabilities": {"alwaysMatch": {
            "webSocketUrl": True,
            "goog:chromeOptions": {"binary": shutil.which("chromium"),
                                   "args": CHROMIUM_ARGS + ["--user-data-dir=" + self.profile]},
        }}}
        resp = self._http("POST", "/session", caps)["value"]
        self.session_id = resp["sessionId"]
        self.ws = ws_connect(resp["capabilities"]["webSocketUrl"], max_size=None).__enter__()
        self._next_id = 0
        self._pending = {}
        self._lock = threading.Lock()
        self.handlers = []  # callables(method, params)
        self._events = queue.Queue()
        self.errors = []
        threading.Thread(target=self._reader, daemon=True).start()
        threading.Thread(target=self._dispatch, daemon=True).start()

    def _wait_driver(self):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise BidiError("chromedriver did not start")

    def _http(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request(method, path, json.dumps(body) if body is not None else None,
                     {"Content-Type": "application/json"})
        data = json.loads(conn.getresponse().read() or b"{}")
        conn.close()
        return data

    def _reader(self):
        try:
            for raw in self.ws:
                msg = json.loads(raw)
                if "id" in msg and msg.get("type") in ("success", "error"):
                    slot = self._pending.pop(msg["id"], None)
                    if slot:
                        slot.put(msg)
                elif msg.get("type") == "event":
                    self._events.put(msg)
        except Exception:  # the socket closes when the browser quits
            pass

    def _dispatch(self):
        while True:
            msg = self._events.get()
            if msg is None:
                return
            for h in list(self.handlers):
                try:
                    h(msg["method"], msg["params"])
                except Exception as e:  # reported by the test through .errors
                    self.errors.append("%s: %r" % (msg["method"], e))

    def send(self, method, params, timeout=15):
        with self._lock:
            self._next_id += 1
            mid = self._next_id
            slot = queue.Queue(1)
            self._pending[mid] = slot
            self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        try:
            msg = slot.get(timeout=timeout)
        except queue.Empty:
            raise BidiError("%s: no answer in %s s" % (method, timeout)) from None
        if msg["type"] == "error":
            raise BidiError("%s: %s: %s" % (method, msg.get("error"), msg.get("message")))
        return msg["result"]

    def close(self):
        try:
            self._http("DELETE", "/session/" + self.session_id)
        finally:
            self._events.put(None)
            self.driver.terminate()
            self.driver.wait(10)
            shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """One browsing context: navigate, evaluate, click with real pointer input."""

    def __init__(self, browser):
        self.b = browser
        tree = browser.send("browsingContext.getTree", {})
        self.context = tree["contexts"][0]["context"]
        browser.send("session.subscribe", {"events": ["bluetooth", "log.entryAdded"]})
        browser.send("script.addPreloadScript", {"functionDeclaration": NOTIFY_SHIM})
        self.console = []
        browser.handlers.append(self._log)

    def _log(self, method, params):
        if method == "log.entryAdded":
            self.console.append("%s: %s" % (params.get("level"), params.get("text")))

    def goto(self, url):
        self.b.send("browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"})
        self.b.send("browsingContext.activate", {"context": self.context})

    def js(self, expression, await_promise=True):
        r = self.b.send("script.evaluate", {
            "expression": expression, "target": {"context": self.context},
            "awaitPromise": await_promise, "resultOwnership": "none"})
        if r["type"] == "exception":
            raise BidiError("page: " + r["exceptionDetails"]["text"])
        return _plain(r["result"])

    def wait(self, expression, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            value = self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                shown = self.js("Array.from(document.querySelectorAll('.error, .result, #link-state, #lost-link span'))"
                                ".map(e => e.id + ': ' + e.textContent).join(' | ')")
                raise AssertionError("timed out waiting for: %s\npage: %s\nconsole: %s\nharness: %s" % (
                    expression, shown, "\n".join(self.console[-10:]), self.b.errors))
            time.sleep(0.05)

    def click(self, selector):
        r = self.b.send("script.evaluate", {  # pointer input does not scroll: bring it into view
            "expression": "(e => { e && e.scrollIntoView({block: 'center'}); return e; })(document.querySelector(%s))"
                          % json.dumps(selector),
            "target": {"context": self.context}, "awaitPromise": False, "resultOwnership": "root"})
        ref = r["result"].get("sharedId")
        if not ref:
            raise BidiError("no element " + selector)
        origin = {"type": "element", "element": {"sharedId": ref}}
        self.b.send("input.performActions", {"context": self.context, "actions": [{
            "type": "pointer", "id": "finger", "parameters": {"pointerType": "mouse"},
            "actions": [{"type": "pointerMove", "x": 0, "y": 0, "origin": origin},
                        {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}]}]})

    def type(self, selector, text):
        self.js("(() => { const e = document.querySelector(%s); e.focus(); e.value = ''; })()" % json.dumps(selector))
        self.b.send("input.performActions", {"context": self.context, "actions": [{
            "type": "key", "id": "kbd",
            "actions": [a for ch in text for a in ({"type": "keyDown", "value": ch}, {"type": "keyUp", "value": ch})]}]})

    def text(self, selector):
        return self.js("document.querySelector(%s).textContent" % json.dumps(selector))

    def screenshot(self, path):
        import base64
        data = self.b.send("browsingContext.captureScreenshot", {"context": self.context, "origin": "viewport"})
        with open(path, "wb") as f:
            f.write(base64.b64decode(data["data"]))


def _plain(v):
    t = v.get("type")
    if t in ("string", "number", "boolean"):
        return v["value"]
    if t in ("undefined", "null"):
        return None
    if t == "array":
        return [_plain(x) for x in v["value"]]
    if t == "object":
        return {k if isinstance(k, str) else _plain(k): _plain(x) for k, x in v["value"]}
    return v.get("value")


class Peripheral:
    """The emulated BMS: a preconnected peripheral with the service's
    characteristics. `gatt` answers: gatt.connect(), gatt.read(uuid) -> bytes,
    gatt.write(uuid, bytes) -> None, gatt.disconnect(). Every GATT operation
    the page makes is logged in `ops` so tests can check order and bytes."""

    def __init__(self, page, gatt, service_uuid, chars, address="09:09:09:09:09:01", name="SmartBMS"):
        self.page, self.b, self.gatt = page, page.b, gatt
        self.service, self.chars, self.address, self.name = service_uuid, chars, address, name
        self.ops = []
        self.failed = []  # operations the firmware side could not carry out
        self.accept_prompt = True
        self.in_range = True  # False: connection attempts fail (0x3E, failed to establish)
        self._answered = set()
        self.b.handlers.append(self._on_event)

    def install(self, reset_adapter=True):
        ctx = self.page.context
        send = self.b.send
        if reset_adapter:  # also the per-test reset of all emulated state
            send("bluetooth.simulateAdapter", {"context": ctx, "state": "powered-on"})
        send("bluetooth.simulatePreconnectedPeripheral", {
            "context": ctx, "address": self.address, "name": self.name, "manufacturerData": [],
            "knownServiceUuids": [self.service]})
        self._add_gatt()

    def _add_gatt(self):
        ctx = self.page.context
        send = self.b.send
        send("bluetooth.simulateService", {"context": ctx, "address": self.address, "uuid": self.service,
                                           "type": "add"})
        for uuid, props in self.chars.items():
            send("bluetooth.simulateCharacteristic", {
                "context": ctx, "address": self.address, "serviceUuid": self.service,
                "characteristicUuid": uuid, "characteristicProperties": props, "type": "add"})
            if props.get("notify"):
                send("bluetooth.simulateDescriptor", {
                    "context": ctx, "address": self.address, "serviceUuid": self.service,
                    "characteristicUuid": uuid, "descriptorUuid": CCCD, "type": "add"})

    def detach(self):
        if self._on_event in self.b.handlers:
            self.b.handlers.remove(self._on_event)

    def _answer(self, params, kind, code, data=None):
        p = {"context": self.page.context, "address": params["address"], "serviceUuid": params["serviceUuid"],
             "characteristicUuid": params["characteristicUuid"], "type": kind, "code": code}
        if data is not None:
            p["data"] = list(data)
        self.b.send("bluetooth.simulateCharacteristicResponse", p)

    def _on_event(self, method, params):
        if params.get("context") != self.page.context:
            return  # chromium reports each GATT event for a second context too: answer ours only
        if method == "bluetooth.requestDevicePromptUpdated":
            if params["prompt"] in self._answered:
                return  # the event comes twice per prompt; answer once
            self._answered.add(params["prompt"])
            dev = next((d["id"] for d in params["devices"]), None)
            self.b.send("bluetooth.handleRequestDevicePrompt", {
                "context": self.page.context, "prompt": params["prompt"],
                "accept": bool(self.accept_prompt and dev), "device": dev or ""})
        elif method == "bluetooth.gattConnectionAttempted":
            if self.in_range:
                self.gatt.connect()
            self.b.send("bluetooth.simulateGattConnectionResponse", {
                "context": self.page.context, "address": params["address"], "code": 0 if self.in_range else 0x3E})
        elif method == "bluetooth.characteristicEventGenerated":
            self._gatt_event(params)

    def _gatt_event(self, params):
        uuid, kind = params["characteristicUuid"], params["type"]
        data = bytes(params.get("data", []))
        try:
            if kind == "read":
                value = self.gatt.read(uuid)
                self.ops.append(("read", uuid, value))
                self._answer(params, "read", 0, value)
            elif kind == "write-with-response":
                self.ops.append(("write", uuid, data))
                self.gatt.write(uuid, data)
                self._answer(params, "write", 0)
            elif kind == "write-without-response":
                self.ops.append(("write-nr", uuid, data))
                self.gatt.write(uuid, data)
            elif kind in ("subscribe-to-notifications", "unsubscribe-from-notifications"):
                self.ops.append((kind, uuid, b""))
                self._answer(params, kind, 0)
        except Exception as e:  # e.g. the link dropped under it: the operation fails, as on a phone
            self.failed.append((kind, uuid, repr(e)))
            if kind != "write-without-response":
                self._answer(params, "write" if kind.startswith("write") else kind, 0x0E)

    def reappear(self, address):
        """The BMS is back in range. Chromium's fake peripheral keeps no GATT
        table after a simulated disconnection (and BiDi cannot add it again),
        so it comes back as a new emulated device with the same table."""
        self.address = address
        self.in_range = True
        self.install(reset_adapter=False)

    def notify(self, uuid, data):
        """Deliver a notification through the page's real listeners (shim)."""
        return self.page.js("window.__bleTestNotify(%s, %s)" % (json.dumps(uuid), json.dumps(list(data))))

    def drop_link(self, in_range=False):
        """The link breaks; with in_range False the BMS stays unreachable."""
        self.in_range = in_range
        self.b.send("bluetooth.simulateGattDisconnection", {"context": self.page.context, "address": self.address})
        self.gatt.disconnect()
