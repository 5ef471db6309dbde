# The requests of the BLE configuration service (docs/ble-protocol.md): one
# write's bytes in, the response bytes out, through bms.protocol and bms.auth
# and the seam (drivers/ble_service.py lists what it offers). The service
# checks length and login before a handler runs, and answers a handler's
# exception with E_INTERNAL. A bad request gets an error code and changes
# nothing.
from bms import protocol as P
from bms import settings as S


class BleRequests:
    """The request handlers, one per characteristic: BleService inherits
    them and maps its characteristics to them. `rand(n)` gives n random
    bytes, `clock()` the ms ticks (None: the seam's, the app's clock);
    `status` is the characteristic a login fills at once."""

    def __init__(self, seam, rand, clock, status):
        self.seam = seam
        self.rand = rand
        self.clock = clock  # a test may hold its own
        self.status = status
        self.errors = 0  # requests that raised inside the firmware
        self.last_error = None
        self._parts = b""  # SET_PART bytes of the settings write being sent

    def _fault(self, e):
        self.errors += 1
        self.last_error = repr(e)

    def _now(self):
        return (self.clock or self.seam.clock)()

    def _commit(self):
        return self.seam.save_auth() is True

    def _auth(self, data):
        auth, now = self.seam.auth, self._now()
        op = data[0]
        nonce = b""
        if op == P.AUTH_HELLO and len(data) == 1:
            nonce = self.rand(P.NONCE_LEN)
            code = auth.hello(now, nonce)
            if code:
                nonce = b""
        elif op == P.AUTH_PIN and len(data) == 1 + P.MAC_LEN:
            code = auth.prove_pin(now, bytes(data[1:]), self._commit)
        elif op == P.AUTH_PUK and len(data) == 1 + P.MAC_LEN:
            code = auth.prove_puk(now, bytes(data[1:]), self.rand(16), self._commit)
        elif op == P.AUTH_STATE and len(data) == 1:
            code = P.OK
        elif op in (P.AUTH_HELLO, P.AUTH_PIN, P.AUTH_PUK, P.AUTH_STATE):
            code = P.E_MALFORMED
        else:
            code = P.E_UNKNOWN_OP
        authed, fails, wait_s = auth.state(now)
        if authed and op != P.AUTH_STATE:  # a new session: status readable at once
            try:
                self.status.write(self.seam.status_bytes())
            except Exception as e:  # the login stands; the notifier fills it later
                self._fault(e)
        return P.encode_auth(code, op, authed, fails, wait_s, nonce)

    def _settings(self, data):
        op = data[0]
        if op == P.SET_READ:
            if len(data) != 2:
                return P.response(P.E_MALFORMED, op)
            return P.encode_settings_page(self.seam.settings, data[1])
        if op == P.SET_PART:  # a write too long for a small MTU comes in parts
            parts = self._parts + bytes(data[1:])
            if 1 + len(parts) > P.MAX_WRITE:
                self._parts = b""
                return P.response(P.E_MALFORMED, op)
            self._parts = parts
            return P.response(P.OK, op)
        if op != P.SET_WRITE:
            return P.response(P.E_UNKNOWN_OP, op)
        if self._parts:
            data, self._parts = bytes((op,)) + self._parts + bytes(data[1:]), b""
            if len(data) > P.MAX_WRITE:
                return P.response(P.E_MALFORMED, op)
        values, code, wid = P.decode_records(data, 1)
        if code:
            return P.response(code, op, bytes((wid, code)))
        if not values:
            return P.response(P.E_MALFORMED, op)
        if "pin" in values:  # only the change-PIN command also renews the key
            return P.response(P.E_REFUSED, op, bytes((S.entry("pin")[0], P.E_REFUSED)))
        errors = self.seam.apply_settings(values)
        if errors:
            return P.response(errors[0][1], op, P.encode_set_errors(errors))
        return P.response(P.OK, op)

    def _command(self, data):
        op, arg = data[0], bytes(data[1:])
        auth = self.seam.auth
        if op == P.CMD_CHANGE_PIN:
            if len(arg) != 6:
                return P.response(P.E_MALFORMED, op)
            try:
                pin = arg.decode()
            except UnicodeError:
                return P.response(P.E_MALFORMED, op)
            return P.response(auth.change_pin(pin, self.rand(16), self._commit), op)
        if arg:
            return P.response(P.E_MALFORMED, op)
        if op == P.CMD_READ_READOUT_KEY:
            return P.response(P.OK, op, auth.readout_key)
        if op == P.CMD_READ_PUK:
            return P.response(P.OK, op, auth.puk.encode())
        if op in (P.CMD_CLEAR_ALARMS, P.CMD_CLEAR_HISTORY, P.CMD_WAKE, P.CMD_RESTART):
            return P.response(self.seam.command(op), op)
        return P.response(P.E_UNKNOWN_OP, op)

    def _cells(self, data):
        if len(data) != 1:
            return P.response(P.E_MALFORMED, data[0])
        return self.seam.cells_bytes(data[0])

    def _history(self, data):
        if len(data) != 1:
            return P.response(P.E_MALFORMED, data[0])
        page = self.seam.history_page(data[0])
        if page is None:
            return P.response(P.E_RANGE, data[0])
        body, more = page
        return P.response(P.OK, data[0], bytes((1 if more else 0,)) + body)
