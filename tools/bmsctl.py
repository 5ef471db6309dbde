"""bmsctl: talk to the BMS configuration service from a computer.

    bmsctl scan [--key KEY]                      find BMSes, decode Instant Readout
    bmsctl [--address ADDR | --sim-port PORT] info      model and firmware (no PIN)
    bmsctl ... [--pin PIN] status|cells|history
    bmsctl ... settings get [NAME ...]
    bmsctl ... settings set NAME=VALUE [NAME=VALUE ...]   (3650 or 3.65V for a mV setting)
    bmsctl ... command clear-alarms|clear-history|wake|restart|read-readout-key|read-puk
    bmsctl ... command change-pin NEWPIN
    bmsctl ... puk-reset PUK
    --json before the command: JSON for scripts instead of text

Run it as `./bms ctl ...` (that installs bleak). The byte layout comes from
firmware/bms/protocol.py, the same module the firmware runs; the words and
units from web/schema.json (tools/bmsview.py). Without a BMS: `./bms sim
--serve PORT` keeps one simulated BMS running and --sim-port PORT talks to it,
call after call; --sim MODULE starts a fresh simulated board for one call
(boards/sim/ble_bridge.py, MODULE.make_app() as the app: the tests use it).
Exit status: 0 ok, 1 refused by the device, 2 bad input (nothing sent),
3 no Bluetooth or no simulator to talk to.
"""
import argparse
import asyncio
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, "") and sys.path[0] == str(ROOT / "tools"):
    del sys.path[0]  # run as a script: tools/packaging.py must not shadow the real packaging
sys.path.insert(0, str(ROOT / "firmware"))
sys.path.insert(0, str(ROOT))
from bms import auth as A  # noqa: E402
from bms import client as P  # noqa: E402
from bms import settings as S  # noqa: E402
from tools import bmsview as V  # noqa: E402
from tools import readout_decode as R  # noqa: E402


class DeviceError(Exception):
    """The device refused a request (its code is in .code)."""

    def __init__(self, code, what, detail=""):
        super().__init__("%s: %s%s" % (what, P.error_name(code), detail))
        self.code = code


class NoLink(Exception):
    """No way to the BMS: no Bluetooth, no simulator. One sentence for the user."""


# The Device Information service (0x180A), as bleak names characteristics
DEVICE_INFO = (("manufacturer", "00002a29-0000-1000-8000-00805f9b34fb"),
               ("model", "00002a24-0000-1000-8000-00805f9b34fb"),
               ("firmware", "00002a26-0000-1000-8000-00805f9b34fb"),
               ("software", "00002a28-0000-1000-8000-00805f9b34fb"))


class _JsonLink:
    """A simulated BMS over JSON lines: connect, read, request, scan."""

    def call(self, op, **kw):
        kw["op"] = op
        self._send(json.dumps(kw) + "\n")
        return self._recv()

    def _recv(self):
        while True:
            line = self._readline()
            if not line:
                raise ConnectionError("the simulated board stopped")
            if line.startswith("{"):  # other lines are the simulator's own output
                ans = json.loads(line)
                if "event" not in ans:  # pushed notifications are not answers
                    break
        if not ans.pop("ok"):
            raise ConnectionError(ans["error"])
        return ans

    async def scan(self):
        adv = self.call("scan")["adv"]
        return [adv] if adv else []

    async def connect(self):
        self.call("connect", mtu=247)

    async def request(self, uuid, data):
        return bytes.fromhex(self.call("request", uuid=uuid, data=bytes(data).hex())["data"])

    async def read(self, uuid):
        return bytes.fromhex(self.call("read", uuid=uuid)["data"])

    async def reconnect(self):
        """Drop the link and connect again (a phone walking away and back)."""
        self.call("disconnect")
        self.call("connect", mtu=247)


class BridgeLink(_JsonLink):
    """A simulated board of its own for this call (boards/sim/ble_bridge.py)."""

    def __init__(self, module, extra_path=()):
        from tools import mpy
        self.proc = subprocess.Popen(
            mpy.command() + [str(ROOT / "boards" / "sim" / "ble_bridge.py"), module],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=mpy.env(*extra_path), cwd=str(ROOT), start_new_session=True)  # Ctrl-C: ours to handle
        self._recv()

    def _send(self, text):
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def _readline(self):
        return self.proc.stdout.readline()

    async def close(self):
        try:
            self.call("disconnect")
        finally:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)


class SessionLink(_JsonLink):
    """The simulated BMS that `./bms sim --serve PORT` keeps running
    (tools/sim_session.py): settings stay from one call to the next."""

    def __init__(self, port, host="127.0.0.1"):
        import socket
        try:
            self.sock = socket.create_connection((host, port), timeout=30)
        except OSError:
            raise NoLink("no simulated BMS on %s:%d: start one with `./bms sim --serve %d`"
                         % (host, port, port)) from None
        self.file = self.sock.makefile("rw", encoding="utf-8", newline="\n")

    def _send(self, text):
        self.file.write(text)
        self.file.flush()

    def _readline(self):
        return self.file.readline()

    async def close(self):
        try:
            self.call("disconnect")
        except (OSError, ConnectionError):
            pass
        finally:
            self.file.close()
            self.sock.close()


def bluetooth_problem(e, address=None):
    """One sentence for what bleak or BlueZ raised; None for other errors."""
    import bleak.exc as X

    hint = "; without a BMS: `./bms sim --serve PORT`, then bmsctl --sim-port PORT"
    if isinstance(e, X.BleakDeviceNotFoundError):
        return "no BMS answers at %s: out of range, switched off, or connected to a phone" % address
    if isinstance(e, getattr(X, "BleakBluetoothNotAvailableError", ())):
        return "no Bluetooth: %s%s" % (str(e.args[0]).rstrip("."), hint)
    if isinstance(e, X.BleakDBusError):
        if "ServiceUnknown" in e.dbus_error:
            return "no Bluetooth: BlueZ (bluetoothd) is not running" + hint
        return "Bluetooth refused: %s" % e
    if isinstance(e, X.BleakError):
        return "Bluetooth: %s" % e
    if isinstance(e, (FileNotFoundError, ConnectionRefusedError, PermissionError)):
        return ("no Bluetooth: cannot reach BlueZ, no D-Bus system bus (%s)%s"
                % (e.strerror or e, hint))
    return None


def _bleak():
    try:
        import bleak
    except ImportError:
        raise NoLink("bleak is not installed: run bmsctl as `./bms ctl ...`, which installs it") from None
    return bleak


class BleakLink:
    """A real BMS over the computer's Bluetooth adapter. What bleak or BlueZ
    raise about the adapter becomes NoLink with one sentence."""

    def __init__(self, address):
        self.address = address
        self.client = None

    async def _guard(self, coro):
        try:
            return await coro
        except Exception as e:
            why = bluetooth_problem(e, self.address)
            if why is None:
                raise
            raise NoLink(why) from None

    async def scan(self):
        bleak = _bleak()
        found = await self._guard(bleak.BleakScanner.discover(timeout=5.0, return_adv=True))
        out = []
        for dev, adv in found.values():
            services = [u.lower() for u in adv.service_uuids]
            if P.SERVICE_UUID in services or 0x02E1 in adv.manufacturer_data:
                out.append({"name": adv.local_name or dev.name, "address": dev.address,
                            "rssi": adv.rssi, "services": services,
                            "manufacturer": [[k, v.hex()] for k, v in adv.manufacturer_data.items()]})
        return out

    async def connect(self):
        bleak = _bleak()
        self.client = bleak.BleakClient(self.address)
        await self._guard(self.client.connect())

    async def request(self, uuid, data):
        await self._guard(self.client.write_gatt_char(uuid, bytes(data), response=True))
        return bytes(await self._guard(self.client.read_gatt_char(uuid)))

    async def read(self, uuid):
        return bytes(await self._guard(self.client.read_gatt_char(uuid)))

    async def close(self):
        if self.client is not None and self.client.is_connected:
            await self.client.disconnect()


class Client:
    def __init__(self, link):
        self.link = link

    async def _ok(self, uuid, data, what):
        code, op, payload = P.parse_response(await self.link.request(uuid, data))
        if code:
            raise DeviceError(code, what)
        return payload

    async def login(self, pin):
        hello = P.decode_auth(await self.link.request(P.AUTH_UUID, bytes((P.AUTH_HELLO,))))
        if hello["code"]:
            raise DeviceError(hello["code"], "login", ", wait %d s" % hello["wait_s"])
        mac = A.proof(pin, P.PIN_LABEL, hello["nonce"])
        r = P.decode_auth(await self.link.request(P.AUTH_UUID, bytes((P.AUTH_PIN,)) + mac))
        if r["code"]:
            raise DeviceError(r["code"], "login", " (%d failures, wait %d s)"
                              % (r["failures"], r["wait_s"]))

    async def puk_reset(self, puk):
        hello = P.decode_auth(await self.link.request(P.AUTH_UUID, bytes((P.AUTH_HELLO,))))
        if hello["code"]:
            raise DeviceError(hello["code"], "PUK reset", ", wait %d s" % hello["wait_s"])
        mac = A.proof(puk, P.PUK_LABEL, hello["nonce"])
        r = P.decode_auth(await self.link.request(P.AUTH_UUID, bytes((P.AUTH_PUK,)) + mac))
        if r["code"]:
            raise DeviceError(r["code"], "PUK reset")

    async def status(self):
        return P.decode_status(await self.link.read(P.STATUS_UUID))

    async def cells(self):
        out, first = [], 0
        while True:
            page = P.decode_cells(await self.link.request(P.CELLS_UUID, bytes((first,))))
            out += page["batteries"]
            first += len(page["batteries"])
            if first >= page["total"] or not page["batteries"]:
                return out

    async def settings(self):
        values, nxt = {}, 0
        while True:
            v, nxt = P.decode_settings_page(
                await self.link.request(P.SETTINGS_UUID, bytes((P.SET_READ, nxt))))
            values.update(v)
            if nxt == 0:
                return values

    async def set_settings(self, values):
        writes = P.split_write(P.encode_set_request(values))  # parts fit any MTU
        for part in writes[:-1]:
            await self._ok(P.SETTINGS_UUID, part, "settings")
        code, _op, payload = P.parse_response(await self.link.request(P.SETTINGS_UUID, writes[-1]))
        if code:
            errs = P.decode_set_errors(payload)
            raise DeviceError(code, "settings refused", "".join(
                "\n  %s: %s" % (n, P.error_name(c)) for n, c in errs))

    async def history(self):
        pages, page = [], 0
        while True:
            code, _p, payload = P.parse_response(
                await self.link.request(P.HISTORY_UUID, bytes((page,))))
            if code == P.E_RANGE and page:
                return pages
            if code:
                raise DeviceError(code, "history")
            pages.append(payload[1:])
            if not payload[0]:
                return pages
            page += 1

    async def command(self, op, arg=b""):
        return await self._ok(P.COMMAND_UUID, bytes((op,)) + arg, P.COMMAND_NAMES[op])

    async def device_info(self):
        """The Device Information service: readable without login."""
        return {name: (await self.link.read(uuid)).decode("utf-8", "replace")
                for name, uuid in DEVICE_INFO}


def parse_assignments(items):
    """NAME=VALUE strings -> {name: value}, checked against the schema here,
    so a typo never reaches the device. VALUE is the firmware's integer unit
    or the shown one (cell_ov_mv=3650 or cell_ov_mv=3.65V; temp_charge_low_dc=5C).
    Raises ValueError with every problem."""
    values, problems = {}, []
    for item in items:
        name, sep, text = item.partition("=")
        entry = S.entry(name)
        if not sep or entry is None:
            problems.append("%s: unknown setting (see `settings get`)" % name)
            continue
        kind = entry[2]
        if kind == S.PIN:
            problems.append("pin: use `command change-pin NEWPIN`")
            continue
        if kind == S.TEXT:
            value = text
        elif kind == S.ENUM and text in entry[8]:
            value = entry[8].index(text)
        else:
            try:
                value = V.parse_value(V.schema()["by_name"][name], text)
            except ValueError as e:
                problems.append(str(e) if str(e).startswith(name) else "%s: %r is not a number%s" % (
                    name, text, " or one of " + ", ".join(entry[8]) if kind == S.ENUM else ""))
                continue
        code, msg = S.check_value(entry, value)
        if code:
            problems.append(msg)
        else:
            values[name] = value
    if problems:
        raise ValueError("\n".join(problems))
    return values


_COMMANDS = {"clear-alarms": P.CMD_CLEAR_ALARMS, "clear-history": P.CMD_CLEAR_HISTORY,
             "wake": P.CMD_WAKE, "restart": P.CMD_RESTART, "change-pin": P.CMD_CHANGE_PIN,
             "read-readout-key": P.CMD_READ_READOUT_KEY, "read-puk": P.CMD_READ_PUK}


def build_parser():
    ap = argparse.ArgumentParser(prog="bmsctl", description=__doc__.split("\n")[0])
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--address", help="Bluetooth address of the BMS")
    where.add_argument("--sim-port", type=int, metavar="PORT",
                       help="the simulated BMS of `./bms sim --serve PORT` (lasts across calls)")
    where.add_argument("--sim", metavar="MODULE",
                       help="a fresh simulated board for this call, MODULE.make_app() as the app")
    ap.add_argument("--sim-path", action="append", default=[],
                    help="extra MicroPython module path for --sim")
    ap.add_argument("--pin", default="000000")
    ap.add_argument("--json", action="store_true", help="JSON for scripts instead of text")
    sub = ap.add_subparsers(dest="what", required=True)
    sc = sub.add_parser("scan", help="find BMSes; with --key, decode their Instant Readout")
    sc.add_argument("--key", help="Instant Readout key, 32 hex digits (command read-readout-key)")
    sub.add_parser("info", help="manufacturer, model and firmware version (no PIN needed)")
    sub.add_parser("status")
    sub.add_parser("cells")
    sub.add_parser("history")
    st = sub.add_parser("settings")
    st.add_argument("action", choices=("get", "set"))
    st.add_argument("items", nargs="*")
    cm = sub.add_parser("command")
    cm.add_argument("name", choices=sorted(_COMMANDS))
    cm.add_argument("arg", nargs="?")
    pk = sub.add_parser("puk-reset")
    pk.add_argument("puk")
    return ap


def _table(rows, out):
    for label, text in rows:
        print("%-18s %s" % (label, text), file=out)


def _scan_rows(dev, key):
    name = dev.get("name") or "(no name)"
    where = " ".join(str(x) for x in (dev.get("address"), "%s dBm" % dev["rssi"] if "rssi" in dev
                                      else None) if x)
    rows = [("device", "%s %s" % (name, where) if where else name)]
    readout = [bytes.fromhex(d) for cid, d in dev["manufacturer"] if cid == R.COMPANY_ID]
    if not readout:
        rows.append(("instant readout", "none (off, or no data yet)"))
    elif key is None:
        rows.append(("instant readout", "encrypted: give --key to decode it"))
    else:
        try:
            rows += R.lines(R.decode(readout[0], key))
        except R.ReadoutError as e:
            rows.append(("instant readout", str(e)))
    return rows


def _scan_json(dev, key):
    out = dict(dev)
    for cid, d in dev["manufacturer"]:
        if cid == R.COMPANY_ID and key is not None:
            try:
                out["readout"] = R.decode(bytes.fromhex(d), key)
            except R.ReadoutError as e:
                out["readout"] = {"error": str(e)}
    return out


def _link(args):
    if args.sim_port is not None:
        return SessionLink(args.sim_port)
    if args.sim:
        return BridgeLink(args.sim, args.sim_path)
    if not args.address and args.what != "scan":
        raise NoLink("give --address (see `bmsctl scan`), or --sim-port PORT for the simulator")
    return BleakLink(args.address)


async def run(args, out):
    """Execute one bmsctl command; returns the exit status."""
    to_set = key = None
    try:
        if args.what == "settings" and args.action == "set":
            to_set = parse_assignments(args.items)
            if not to_set:
                raise ValueError("nothing to set: give NAME=VALUE")
            P.encode_set_request(to_set)
        if args.what == "command" and args.name == "change-pin":
            if args.arg is None or S.check_value(S.entry("pin"), args.arg)[0]:
                raise ValueError("the new PIN must be six digits")
        if args.what == "scan" and args.key is not None:
            key = R.parse_key(args.key)
    except (ValueError, R.ReadoutError) as e:
        print("not sent:\n" + str(e), file=out)
        return 2
    try:
        link = _link(args)
    except NoLink as e:
        print("bmsctl: %s" % e, file=out)
        return 3
    try:
        return await _run(args, link, to_set, key, out)
    except DeviceError as e:
        print("refused: %s" % e, file=out)
        return 1
    except NoLink as e:
        print("bmsctl: %s" % e, file=out)
        return 3
    finally:
        await link.close()


async def _run(args, link, to_set, key, out):
    emit = (lambda obj: print(json.dumps(obj), file=out)) if args.json else None
    if args.what == "scan":
        for dev in await link.scan():
            if emit:
                emit(_scan_json(dev, key))
            else:
                _table(_scan_rows(dev, key), out)
        return 0
    await link.connect()
    client = Client(link)
    if args.what == "info":
        info = await client.device_info()
        if emit:
            emit(info)
        else:
            _table(info.items(), out)
        return 0
    if args.what == "puk-reset":
        await client.puk_reset(args.puk)
        print("PIN reset to 000000 and a new Instant Readout key made; set a new PIN with "
              "`command change-pin`", file=out)
        return 0
    await client.login(args.pin)
    if args.what == "status":
        st = await client.status()
        if emit:
            emit(V.status_json(st))
        else:
            _table(V.status_lines(st), out)
    elif args.what == "cells":
        batteries = await client.cells()
        if emit:
            emit(V.cells_json(batteries))
        else:
            for line in V.cells_lines(batteries):
                print(line, file=out)
    elif args.what == "history":
        counters, events = P.decode_history(await client.history())
        if emit:
            emit(V.history_json(counters, events))
        else:
            for line in V.history_lines(counters, events):
                print(line, file=out)
    elif args.what == "settings" and args.action == "get":
        values = await client.settings()
        for name in args.items:
            if name not in values:
                print("%s: unknown setting" % name, file=out)
                return 2
        chosen = {n: values[n] for n in (args.items or values)}
        if emit:
            emit(chosen)
        else:
            for name, value in chosen.items():
                print("%-24s %s" % (name, V.setting_text(name, value)), file=out)
    elif args.what == "settings":
        await client.set_settings(to_set)
        print("ok: " + ", ".join("%s = %s" % (n, V.setting_text(n, v)) for n, v in to_set.items()),
              file=out)
    else:
        op = _COMMANDS[args.name]
        if op == P.CMD_CHANGE_PIN:
            print("note: a new PIN also makes a new Instant Readout key: Home Assistant needs "
                  "the new key (command read-readout-key)", file=sys.stderr)
        arg = args.arg.encode() if op == P.CMD_CHANGE_PIN else b""
        payload = await client.command(op, arg)
        if op == P.CMD_READ_READOUT_KEY:
            print(payload.hex(), file=out)
        elif op == P.CMD_READ_PUK:
            print(payload.decode(), file=out)
        else:
            print("ok", file=out)
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(run(args, sys.stdout))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `bmsctl history | head`
        sys.stdout = None
        return 0


if __name__ == "__main__":
    sys.exit(main())
