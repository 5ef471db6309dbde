"""bmsctl: talk to the BMS configuration service from a computer.

    bmsctl scan
    bmsctl [--address ADDR | --sim MODULE] [--pin PIN] status|cells|history
    bmsctl ... settings get [NAME ...]
    bmsctl ... settings set NAME=VALUE [NAME=VALUE ...]
    bmsctl ... command clear-alarms|clear-history|wake|restart|read-readout-key|read-puk
    bmsctl ... command change-pin NEWPIN
    bmsctl ... puk-reset PUK

The byte layout comes from firmware/bms/protocol.py, the same module the
firmware runs. --sim MODULE runs the firmware's BLE service on the simulated
radio (boards/sim/ble_bridge.py) with MODULE.make_app() as the app, so the tool
is tested end to end without a radio. Exit status: 0 ok, 1 refused by the
device, 2 bad input (nothing sent).
"""
import argparse
import asyncio
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "firmware"))
sys.path.insert(0, str(ROOT))
from bms import auth as A  # noqa: E402
from bms import client as P  # noqa: E402
from bms import reasons as R  # noqa: E402
from bms import settings as S  # noqa: E402


class DeviceError(Exception):
    """The device refused a request (its code is in .code)."""

    def __init__(self, code, what, detail=""):
        super().__init__("%s: %s%s" % (what, P.error_name(code), detail))
        self.code = code


class BridgeLink:
    """The simulated board over JSON lines (see boards/sim/ble_bridge.py)."""

    def __init__(self, module, extra_path=()):
        from tools import mpy
        self.proc = subprocess.Popen(
            mpy.command() + [str(ROOT / "boards" / "sim" / "ble_bridge.py"), module],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=mpy.env(*extra_path), cwd=str(ROOT))
        self._recv()

    def _recv(self):
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise ConnectionError("the simulated board stopped (exit %s)" % self.proc.poll())
            if line.startswith("{"):  # other lines are the simulator's own output
                break
        ans = json.loads(line)
        if not ans.pop("ok"):
            raise ConnectionError(ans["error"])
        return ans

    def call(self, op, **kw):
        kw["op"] = op
        self.proc.stdin.write(json.dumps(kw) + "\n")
        self.proc.stdin.flush()
        return self._recv()

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

    async def close(self):
        try:
            self.call("disconnect")
        finally:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)


class BleakLink:
    """A real BMS over the computer's Bluetooth adapter."""

    def __init__(self, address):
        self.address = address
        self.client = None

    async def scan(self):
        from bleak import BleakScanner
        found = await BleakScanner.discover(timeout=5.0, return_adv=True)
        out = []
        for dev, adv in found.values():
            if P.SERVICE_UUID in [u.lower() for u in adv.service_uuids] or 0x02E1 in adv.manufacturer_data:
                out.append({"name": adv.local_name or dev.name, "address": dev.address,
                            "rssi": adv.rssi,
                            "manufacturer": [[k, v.hex()] for k, v in adv.manufacturer_data.items()]})
        return out

    async def connect(self):
        from bleak import BleakClient
        self.client = BleakClient(self.address)
        await self.client.connect()

    async def request(self, uuid, data):
        await self.client.write_gatt_char(uuid, bytes(data), response=True)
        return bytes(await self.client.read_gatt_char(uuid))

    async def read(self, uuid):
        return bytes(await self.client.read_gatt_char(uuid))

    async def close(self):
        if self.client is not None:
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
        data = P.encode_set_request(values)
        code, _op, payload = P.parse_response(await self.link.request(P.SETTINGS_UUID, data))
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


def parse_assignments(items):
    """NAME=VALUE strings -> {name: value}, checked against the schema here,
    so a typo never reaches the device. Raises ValueError with every problem."""
    values, problems = {}, []
    for item in items:
        name, sep, text = item.partition("=")
        entry = S.BY_NAME.get(name)
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
                value = int(text)
            except ValueError:
                problems.append("%s: %r is not a number%s" % (
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


def show_value(name, value):
    entry = S.BY_NAME[name]
    if entry[2] == S.ENUM:
        return "%s (%d)" % (entry[8][value], value)
    return "%s %s" % (value, entry[3]) if entry[3] else str(value)


_COMMANDS = {"clear-alarms": P.CMD_CLEAR_ALARMS, "clear-history": P.CMD_CLEAR_HISTORY,
             "wake": P.CMD_WAKE, "restart": P.CMD_RESTART, "change-pin": P.CMD_CHANGE_PIN,
             "read-readout-key": P.CMD_READ_READOUT_KEY, "read-puk": P.CMD_READ_PUK}


def build_parser():
    ap = argparse.ArgumentParser(prog="bmsctl", description=__doc__.split("\n")[0])
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--address", help="Bluetooth address of the BMS")
    where.add_argument("--sim", metavar="MODULE", help="use the simulated board with this app module")
    ap.add_argument("--sim-path", action="append", default=[],
                    help="extra MicroPython module path for --sim")
    ap.add_argument("--pin", default="000000")
    sub = ap.add_subparsers(dest="what", required=True)
    sub.add_parser("scan")
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


async def run(args, out):
    """Execute one bmsctl command; returns the exit status."""
    to_set = None
    if args.what == "settings" and args.action == "set":
        try:
            to_set = parse_assignments(args.items)
            if not to_set:
                raise ValueError("nothing to set: give NAME=VALUE")
            P.encode_set_request(to_set)
        except ValueError as e:
            print("not sent:\n" + str(e), file=out)
            return 2
    if args.what == "command" and args.name == "change-pin":
        if args.arg is None or S.check_value(S.BY_NAME["pin"], args.arg)[0]:
            print("not sent: the new PIN must be six digits", file=out)
            return 2
    link = BridgeLink(args.sim, args.sim_path) if args.sim else BleakLink(args.address)
    try:
        if args.what == "scan":
            for dev in await link.scan():
                print(json.dumps(dev), file=out)
            return 0
        if not args.sim and not args.address:
            print("give --address (see `bmsctl scan`) or --sim", file=out)
            return 2
        await link.connect()
        client = Client(link)
        if args.what == "puk-reset":
            await client.puk_reset(args.puk)
            print("PIN reset to 000000; set a new one with `command change-pin`", file=out)
            return 0
        await client.login(args.pin)
        if args.what == "status":
            for k, v in (await client.status()).items():
                if k.startswith("block_"):
                    v = ", ".join(R.names(v)) or "-"
                elif k == "warn":
                    v = ", ".join(R.warn_names(v)) or "-"
                print("%-18s %s" % (k, v), file=out)
        elif args.what == "cells":
            for i, b in enumerate(await client.cells()):
                print("battery %2d  %s mV  %.1f C  flags %02x" % (
                    i + 1, " ".join(str(c) for c in b["cell_mv"]), b["temp_dc"] / 10, b["flags"]),
                    file=out)
        elif args.what == "history":
            counters, events = P.decode_history(await client.history())
            for name in P.HISTORY_COUNTERS:
                print("%-18s %s" % (name, counters[name]), file=out)
            for t, code, mask, value in events:
                print("event at %10d ms  code %3d  reasons %08x  value %d" % (t, code, mask, value),
                      file=out)
        elif args.what == "settings" and args.action == "get":
            values = await client.settings()
            for name in args.items or values:
                if name not in values:
                    print("%s: unknown setting" % name, file=out)
                    return 2
                print("%-24s %s" % (name, show_value(name, values[name])), file=out)
        elif args.what == "settings":
            await client.set_settings(to_set)
            print("ok: " + ", ".join(to_set), file=out)
        else:
            op = _COMMANDS[args.name]
            arg = args.arg.encode() if op == P.CMD_CHANGE_PIN else b""
            payload = await client.command(op, arg)
            if op == P.CMD_READ_READOUT_KEY:
                print(payload.hex(), file=out)
            elif op == P.CMD_READ_PUK:
                print(payload.decode(), file=out)
            else:
                print("ok", file=out)
        return 0
    except DeviceError as e:
        print("refused: %s" % e, file=out)
        return 1
    finally:
        await link.close()


def main(argv=None):
    args = build_parser().parse_args(argv)
    return asyncio.run(run(args, sys.stdout))


if __name__ == "__main__":
    sys.exit(main())
