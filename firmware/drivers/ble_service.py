# The BLE configuration service on aioble: registers the GATT service of
# docs/ble-protocol.md (and beside it the standard Device Information
# service), advertises, and serves one central at a time: its tasks, the
# login gate and the status notifications are here; the request handlers
# (bytes in, response out) it inherits from drivers/ble_requests.py. It
# reaches the rest of the firmware only through `seam` (ble_seam.py BleSeam
# on the board, a test double in the tests):
#
#   seam.settings                 bms.settings.Settings (read for settings pages)
#   seam.auth                     bms.auth.Auth
#   seam.clock()                  the app's ms ticks (lockouts and challenges run on it)
#   seam.status_bytes()           protocol.encode_status(controller)
#   seam.cells_bytes(first)       protocol.encode_cells(pack, first)
#   seam.history_page(page)       (bytes, more) or None past the end
#   seam.apply_settings(changes)  Settings.update semantics + persisting
#   seam.command(code)            result code for clear alarms/history, wake, restart
#   seam.save_auth()              persist the PIN/PUK/key/failure count: True once stored
#   seam.adv_payload()            optional: (adv_data, resp_data) to advertise
#
# Every request is answered in the characteristic's value; a bad request gets
# an error code and changes nothing; an exception in the seam is answered with
# E_INTERNAL and counted, never allowed to end a task.
import asyncio
import os
import sys
import time

import aioble
import bluetooth

from bms import protocol as P
from drivers.ble_requests import BleRequests
from version import VERSION

_ADV_INTERVAL_US = 250000
_ADV_REFRESH_MS = 1000  # the advertised payload is rebuilt this often
_POLL_MS = 100
_LOGIN_GRACE_MS = 60000  # a central that has not logged in by then is sent away
_UUID = bluetooth.UUID


def device_info_service():
    """The standard Device Information service (Bluetooth SIG 0x180A): fixed
    text, readable by any central before login, as on any BLE product."""
    svc = aioble.Service(_UUID(0x180A))
    for uuid, text in (
        (0x2A29, "mpy-smartbms"),  # Manufacturer Name String
        (0x2A24, "SmartBMS 12 V"),  # Model Number String
        (0x2A26, VERSION),  # Firmware Revision String
        (0x2A28, "MicroPython %d.%d.%d" % sys.implementation.version[:3]),  # Software Revision
    ):
        aioble.Characteristic(svc, _UUID(uuid), read=True, initial=text.encode())
    return svc


class BleService(BleRequests):
    def __init__(self, seam, rand=os.urandom, clock=None):
        svc = aioble.Service(_UUID(P.SERVICE_UUID))
        status = aioble.Characteristic(svc, _UUID(P.STATUS_UUID), read=True, notify=True)
        super().__init__(seam, rand, clock, status)
        self.conn = None
        self.login_grace_ms = _LOGIN_GRACE_MS
        self.login_timeouts = 0  # centrals sent away for not logging in
        self.mtu_refused = 0  # MTU exchanges that failed (the connection stays at 23)
        self.handlers = {}  # characteristic -> request handler
        self.chars = {}  # UUID string -> characteristic
        for uuid, fn in ((P.CELLS_UUID, self._cells), (P.SETTINGS_UUID, self._settings),
                         (P.COMMAND_UUID, self._command), (P.HISTORY_UUID, self._history),
                         (P.AUTH_UUID, self._auth)):
            # one byte more than the longest request, so an overlong one shows
            ch = aioble.BufferedCharacteristic(svc, _UUID(uuid), read=True, write=True,
                                               notify=True, capture=True,
                                               max_len=P.MAX_WRITE + 1)
            self.handlers[ch] = fn
            self.chars[uuid] = ch
        self.auth_ch = self.chars[P.AUTH_UUID]
        aioble.register_services(svc, device_info_service())
        try:  # the MTU the stack offers in an exchange (their defaults differ)
            aioble.config(mtu=P.PREFERRED_MTU)
        except (ValueError, OSError) as e:  # a stack that refuses: values still read whole
            self._fault(e)

    def answer(self, ch, data):
        """The response to one write on `ch` (also used by the tests)."""
        fn = self.handlers[ch]
        if not data:
            return P.response(P.E_MALFORMED, 0)
        if len(data) > P.MAX_WRITE:
            return P.response(P.E_MALFORMED, data[0])
        if ch is not self.auth_ch and not self.seam.auth.authenticated:
            return P.response(P.E_NOT_AUTHENTICATED, data[0])
        try:
            return fn(data)  # bms.auth stores what it changes before it answers
        except Exception as e:  # a firmware fault must not end the service
            self._fault(e)
            return P.response(P.E_INTERNAL, data[0])

    # -- tasks --------------------------------------------------------------
    async def _serve_writes(self, ch):
        while True:
            conn, data = await ch.written()
            if conn is None or not conn.is_connected():
                continue  # a write from a connection that is already gone
            try:
                resp = self.answer(ch, data)
                ch.write(resp)
                self._notify(ch, conn, resp)
            except Exception as e:  # e.g. disconnected meanwhile: the task lives on
                self._fault(e)

    def _notify(self, ch, conn, value):
        """Notify the value if it fits the connection's MTU, else an empty
        one ("changed: read it"): the stacks would cut it to MTU - 3 bytes."""
        mtu = getattr(conn, "mtu", None) or P.MIN_MTU  # None until an MTU exchange
        ch.notify(conn, value if len(value) + 3 <= mtu else b"")

    async def _notify_status(self):
        # paced in real time, as the radio and asyncio's sleeps are
        last, sent_ms, session = None, time.ticks_ms(), None
        while True:
            await asyncio.sleep_ms(_POLL_MS)
            conn = self.conn
            if conn is None or not self.seam.auth.authenticated:
                continue
            if session is not conn:  # a new session starts with a notification
                session, last = conn, None
            if last is not None and time.ticks_diff(time.ticks_ms(), sent_ms) < P.STATUS_NOTIFY_MS:
                continue
            try:
                value = self.seam.status_bytes()
            except Exception as e:
                self._fault(e)
                continue
            if value == last:
                continue
            self.status.write(value)
            try:
                self._notify(self.status, conn, value)
            except OSError:
                pass  # disconnected meanwhile
            last, sent_ms = value, time.ticks_ms()

    def _clear(self):
        self.status.write(b"")
        for ch in self.handlers:
            ch.write(b"")
        self._parts = b""

    async def _advertise(self, connectable):
        """Advertise for up to _ADV_REFRESH_MS; the connection or None.

        The seam's payload (Instant Readout) when it offers one; if that
        payload fails, the plain name + service payload, so the BMS always
        stays reachable."""
        name = self.seam.settings.device_name
        fn = getattr(self.seam, "adv_payload", None)
        payload = None
        try:
            payload = fn() if fn is not None else None
        except Exception as e:  # whatever the readout's fault, stay discoverable
            self._fault(e)
        try:
            if payload:
                try:
                    return await aioble.advertise(_ADV_INTERVAL_US, adv_data=payload[0],
                                                  resp_data=payload[1], connectable=connectable,
                                                  timeout_ms=_ADV_REFRESH_MS)
                except (ValueError, OSError, TypeError, IndexError) as e:  # refused by the stack
                    self._fault(e)
            return await aioble.advertise(_ADV_INTERVAL_US, name=name, connectable=connectable,
                                          services=[_UUID(P.SERVICE_UUID)],
                                          timeout_ms=_ADV_REFRESH_MS)
        except asyncio.TimeoutError:
            return None

    async def _evict_if_silent(self, conn):
        """A central that has not logged in within login_grace_ms is
        disconnected: the service has one connection, and a stranger must not
        keep the owner out of it. (A task of its own: timing out aioble's
        disconnected() would cancel the task that waits on the connection.)"""
        await asyncio.sleep_ms(self.login_grace_ms)
        if conn.is_connected() and not self.seam.auth.authenticated:
            self.login_timeouts += 1
            await conn.disconnect()

    async def _exchange_mtu(self, conn):
        """Ask the central for the larger MTU: many never ask (Chrome on
        older Android), and at 23 bytes a status notification is empty."""
        try:
            await conn.exchange_mtu(P.PREFERRED_MTU)
        except Exception:  # timed out, disconnected, refused: it stays at 23, which works
            self.mtu_refused += 1

    async def _beacon(self):
        # while a central is connected: keep the readout advertisements going,
        # not connectable, so a second central cannot come in
        while self.conn is not None:
            try:
                await self._advertise(False)
            except Exception as e:
                self._fault(e)
                await asyncio.sleep_ms(_ADV_REFRESH_MS)

    async def run(self):
        self.seam.auth.end_session()
        self._clear()
        tasks = [asyncio.create_task(self._serve_writes(ch)) for ch in self.handlers]
        tasks.append(asyncio.create_task(self._notify_status()))
        try:
            while True:
                try:
                    conn = await self._advertise(True)
                except Exception as e:  # the stack refused: try again shortly
                    self._fault(e)
                    await asyncio.sleep_ms(_ADV_REFRESH_MS)
                    continue
                if conn is None:
                    continue
                self.conn = conn
                beacon = asyncio.create_task(self._beacon())
                evict = asyncio.create_task(self._evict_if_silent(conn))
                mtu = asyncio.create_task(self._exchange_mtu(conn))
                try:
                    await conn.disconnected(timeout_ms=None)
                finally:
                    self.conn = None
                    mtu.cancel()
                    evict.cancel()
                    beacon.cancel()
                    try:
                        await beacon  # its advertising must stop before ours starts
                    except BaseException:  # cancelled, as asked  # noqa: B036
                        pass
                    self.seam.auth.end_session()
                    self._clear()
        finally:
            for t in tasks:
                t.cancel()


async def run(seam):
    """Serve `seam` over BLE until cancelled."""
    await BleService(seam).run()
