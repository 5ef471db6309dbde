"""The page by itself in a real browser: it loads from its own files,
is installable and offline-capable, and connects over the browser's
Bluetooth emulation with the chooser filtered on the BMS service."""
import json

import pytest

from webpaths import SCREENSHOTS, WEB
import bidi

SERVICE = "b45f0000-8c2e-4a71-9d3e-5c1a7e0b2f64"
CHARS = {"b45f%04x-8c2e-4a71-9d3e-5c1a7e0b2f64" % i: {"read": True, "write": i != 1, "notify": True}
         for i in range(1, 7)}


class NoGatt:
    """Connecting needs no characteristic traffic; any read or write fails the test."""

    def connect(self):
        pass

    def disconnect(self):
        pass

    def read(self, uuid):
        raise AssertionError("unexpected read of " + uuid)

    def write(self, uuid, data):
        raise AssertionError("unexpected write to " + uuid)


def test_page_loads_with_schema_form_and_no_errors(page):
    names = page.js("Array.from(document.querySelectorAll('#settings-form .field')).map(f => f.dataset.name)")
    schema = json.loads((WEB / "schema.json").read_text())
    assert names == [s["name"] for s in schema["settings"] if s["type"] != "pin"]
    assert page.js("!!navigator.bluetooth")
    assert not [c for c in page.console if c.startswith("error")], page.console


def test_manifest_and_service_worker_make_it_installable_offline(page):
    manifest = json.loads((WEB / "manifest.webmanifest").read_text())
    assert manifest["display"] == "standalone" and manifest["start_url"]
    for icon in manifest["icons"]:
        assert (WEB / icon["src"]).is_file(), icon
    page.wait("navigator.serviceWorker.ready.then(() => true)")
    cached = page.js("caches.keys().then(k => caches.open(k[0])).then(c => c.keys())"
                     ".then(r => r.map(x => new URL(x.url).pathname.slice(1)))")
    own = sorted(p.name for p in WEB.iterdir() if p.is_file() and p.name != "sw.js")
    assert sorted(x for x in cached if x) == own, "sw.js FILES must list every file in web/"


def test_no_network_outside_own_origin():
    for f in WEB.iterdir():
        if f.suffix in (".html", ".js", ".css", ".webmanifest"):
            text = f.read_text()
            assert "http://" not in text and "https://" not in text, f.name


def test_connect_filters_on_service_and_shows_pin_screen(page):
    periph = bidi.Peripheral(page, NoGatt(), SERVICE, CHARS)
    try:
        periph.install()
        page.click("#btn-connect")
        page.wait("!document.getElementById('pin-screen').hidden || document.getElementById('connect-error').textContent")
        assert page.text("#connect-error") == ""
        assert page.text("#link-state") == "connected"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(SCREENSHOTS / "pin.png")
    finally:
        periph.detach()


def test_cancelled_chooser_says_so(page):
    periph = bidi.Peripheral(page, NoGatt(), SERVICE, {})
    periph.accept_prompt = False
    try:
        periph.install()
        page.click("#btn-connect")
        page.wait("document.getElementById('connect-error').textContent !== ''")
        assert page.text("#connect-error") == "No BMS chosen."
        assert not page.js("document.getElementById('connect-screen').hidden")
    finally:
        periph.detach()


def _firmware_codec():
    import sys
    from webpaths import ROOT
    sys.path.insert(0, str(ROOT / "firmware"))
    from bms import client as P
    from bms import settings as S
    return P, S


def _version():
    from version import VERSION  # firmware/, put on the path by _firmware_codec
    return VERSION


def _in_page(page, body, arg):
    """Run `body` (JS, sees `m` = protocol.js, `schema`, `arg`) in the page; its value."""
    return page.js("""import('./protocol.js').then(async (m) => {
        const schema = m.indexSchema(await (await fetch('schema.json')).json());
        const arg = %s;
        %s
    })""" % (json.dumps(arg), body))


def test_page_codec_matches_the_firmware_codec(page):
    """protocol.js mirrors firmware/bms/protocol.py: the same bytes for every setting's record."""
    P, S = _firmware_codec()
    values = {e[1]: e[4] for e in S.SCHEMA if e[2] != S.PIN}
    values["device_name"] = "Van BMS"
    values["temp_discharge_low_dc"] = -255  # a negative value (temp_charge_low_dc stops at 0 now)
    got = _in_page(page, "return Object.entries(arg).map(([k, v]) => "
                         "Array.from(m.encodeSetRequest(schema, {[k]: v})));", values)
    assert [bytes(g) for g in got] == [P.encode_set_request({k: v}) for k, v in values.items()]
    page_reply = bytes(P.encode_settings_page(dict(values, pin="000000"), 0))
    decoded = _in_page(page, "return m.decodeSettingsPage(schema, Uint8Array.from(arg));", list(page_reply))
    assert decoded["values"] == {k: v for k, v in P.decode_settings_page(page_reply)[0].items()}


def test_page_constants_match_the_firmware(page):
    P, _ = _firmware_codec()
    got = _in_page(page, "return {service: m.SERVICE_UUID, chars: m.CHARS, status_len: m.STATUS_LEN, "
                         "counters: m.HISTORY_COUNTERS, event_len: m.EVENT_LEN, outputs: m.OUTPUT_BITS, "
                         "pack_bits: m.PACK_BITS, fields: m.STATUS_FIELDS, format: m.STATUS_FORMAT, len_2: m.STATUS_LEN_2, "
                         "unknown: [m.SOC_UNKNOWN, m.TTG_NONE], "
                         "max_write: m.MAX_WRITE, set: [m.SET_WRITE, m.SET_READ], commands: m.COMMANDS, "
                         "auth: [m.AUTH_HELLO, m.AUTH_PIN, m.AUTH_PUK, m.PIN_LABEL, m.PUK_LABEL], "
                         "cmd: [m.CMD_CHANGE_PIN, m.CMD_READ_READOUT_KEY, m.CMD_READ_PUK], errors: [m.E_MALFORMED, m.E_BAD_PROOF, m.E_LOCKED_OUT]};", 0)
    assert got == {
        "service": P.SERVICE_UUID,
        "chars": {"status": P.STATUS_UUID, "cells": P.CELLS_UUID, "settings": P.SETTINGS_UUID,
                  "command": P.COMMAND_UUID, "history": P.HISTORY_UUID, "auth": P.AUTH_UUID},
        "status_len": P.STATUS_LEN, "counters": list(P.HISTORY_COUNTERS), "event_len": P.EVENT_LEN,
        "outputs": list(P.OUTPUT_BITS), "pack_bits": list(P.PACK_BITS), "fields": list(P.STATUS_FIELDS),
        "format": P.STATUS_FORMAT, "max_write": P.MAX_WRITE, "len_2": P.STATUS_LEN_2,
        "unknown": [P.SOC_UNKNOWN, P.TTG_NONE], "set": [P.SET_WRITE, P.SET_READ],
        "commands": {P.COMMAND_NAMES[c]: c for c in (P.CMD_CLEAR_ALARMS, P.CMD_CLEAR_HISTORY, P.CMD_WAKE,
                                                     P.CMD_RESTART)},
        "auth": [P.AUTH_HELLO, P.AUTH_PIN, P.AUTH_PUK, P.PIN_LABEL.decode(), P.PUK_LABEL.decode()],
        "cmd": [P.CMD_CHANGE_PIN, P.CMD_READ_READOUT_KEY, P.CMD_READ_PUK],
        "errors": [P.E_MALFORMED, P.E_BAD_PROOF, P.E_LOCKED_OUT],
    }


def _status_sources(rnd):
    """Controllers for protocol.encode_status: every field its own value, at the
    edges of its type as well (negative currents and temperatures, high bits)."""
    from types import SimpleNamespace as NS
    out = []
    for k in range(12):
        edge = k % 2 == 0
        bit = lambda: rnd.random() < 0.5  # noqa: E731
        pack = NS(configured=rnd.randint(0, 64), seen=rnd.randint(0, 64),
                  pack_mv=65535 if edge else rnd.randint(0, 65535), min_cell_mv=rnd.randint(0, 65535),
                  min_cell_at=rnd.randint(0, 255), max_cell_mv=rnd.randint(0, 65535),
                  max_cell_at=rnd.randint(0, 255), min_temp_ddegc=-32768 if edge else rnd.randint(-400, 0),
                  max_temp_ddegc=32767 if edge else rnd.randint(0, 900), lost=rnd.randint(0, 65535),
                  data_ok=bit(), full_scan=bit(), battery_alarm=bit(), count_mismatch=bit())
        prot = NS(uv=NS(state=rnd.randint(0, 4)), block_chg=0xFFFFFFFF if edge else rnd.randint(0, 2 ** 32 - 1),
                  block_dsg=rnd.randint(0, 2 ** 32 - 1), warn=rnd.randint(0, 65535),
                  alt_limit_ma=rnd.randint(-2 ** 31, 2 ** 31 - 1),
                  **{name: bit() for name in ("atc", "atd", "chg_fet", "dsg_fet", "alt_allowed", "load_out",
                                              "charge_out", "prealarm_out")})
        alt = NS(state=rnd.randint(0, 6), limiter=NS(duty_cpct=rnd.randint(0, 10000)),
                 target=NS(ma=-2 ** 31 if edge else rnd.randint(0, 200000), reason=rnd.randint(0, 255)),
                 fault=rnd.randint(0, 255))
        meas = NS(alt_ma=-rnd.randint(1, 2 ** 31) if edge else rnd.randint(0, 2 ** 31 - 1),
                  sys_ma=rnd.randint(-2 ** 31, 2 ** 31 - 1), start_mv=rnd.randint(0, 65535))
        prot.block_alt = 0xFFFFFFFF if edge else rnd.randint(0, 2 ** 32 - 1)
        prot.block_sys = rnd.randint(0, 65535)
        decoder = NS(**{name: (2 ** 32 - 1 if edge else rnd.randint(0, 2 ** 30 - 1))
                        for name in ("frames_ok", "crc_errors", "rejected", "garbage_bytes")})
        ctl = NS(pack=pack, protection=prot, alternator=alt, meas=meas, decoder=decoder,
                 remote=NS(on=bit(), mode=rnd.randint(0, 3)), now_ms=rnd.randint(0, 2 ** 32 - 1))
        ttg = rnd.choice([-1, 0, 123, 70000])  # the controller's count: seeded, or not yet (unknown)
        ctl.soc = NS(known=k % 3 == 1, soc_pm=1000 if edge else rnd.randint(0, 1000),
                     consumed_mah=rnd.randint(0, 2 ** 32 - 1), ttg_min=lambda cur, t=ttg: t)
        out.append(ctl)
    return out


def test_page_status_decoder_matches_the_firmware(page):
    import random
    P, _ = _firmware_codec()
    values = [P.encode_status(ctl) for ctl in _status_sources(random.Random(8))]
    got = _in_page(page, "return arg.map((b) => m.decodeStatus(Uint8Array.from(b)));", [list(v) for v in values])
    assert got == [P.decode_status(v) for v in values]
    assert {d["soc_pm"] for d in got} > {P.SOC_UNKNOWN} and {d["ttg_min"] for d in got} > {P.TTG_NONE}
    # format 2 (older firmware, 80 bytes) still reads, in both
    old = [bytes((2,)) + v[1:P.STATUS_LEN_2] for v in values[:3]]
    got = _in_page(page, "return arg.map((b) => m.decodeStatus(Uint8Array.from(b)));", [list(v) for v in old])
    assert got == [P.decode_status(v) for v in old] and got[0]["soc_pm"] is None
    versions = _in_page(page, "return arg.map((b) => m.firmwareVersion(m.decodeStatus(Uint8Array.from(b))));",
                        [list(values[0]), list(old[0])])
    from bms.protocol import _version_numbers  # the device's side
    assert versions == ["%d.%d.%d" % tuple(_version_numbers(_version())), None]
    # what the firmware's decoder refuses, the page refuses too
    other_format = bytes((P.STATUS_FORMAT + 1,)) + values[0][1:]
    bad = [values[0][:-1], values[0] + b"\0", other_format, b"\x01" + values[0][1:58], b"",
           bytes((2,)) + values[0][1:], bytes((3,)) + values[0][1:P.STATUS_LEN_2]]
    for b in bad:
        with pytest.raises(ValueError):
            P.decode_status(b)
    refused = _in_page(page, "return arg.map((b) => { try { m.decodeStatus(Uint8Array.from(b)); return false; } "
                             "catch (e) { return true; } });", [list(b) for b in bad])
    assert refused == [True] * len(bad)


def test_page_cells_decoder_matches_the_firmware(page):
    """Every page of a 20-battery pack (two pages), from protocol.encode_cells."""
    import random
    from types import SimpleNamespace as NS
    P, _ = _firmware_codec()
    rnd = random.Random(2)
    n = 20
    pack = NS(configured=n, flags=[rnd.randint(0, 255) for _ in range(n)],
              temp_ddegc=[rnd.randint(-32768, 32767) for _ in range(n)],
              cell_mv=[rnd.randint(0, 65535) for _ in range(n * P.CELLS_PER_BATTERY)])
    pages, first = [], 0
    while first < n:
        pages.append(P.encode_cells(pack, first))
        first += len(P.decode_cells(pages[-1])["batteries"])
    assert len(pages) == 2
    got = _in_page(page, "return arg.map((b) => m.decodeCells(Uint8Array.from(b)));", [list(p) for p in pages])
    assert got == [P.decode_cells(p) for p in pages]
    # an error response (first past the end) and a truncated page are refused by both
    bad = [P.encode_cells(pack, n), pages[0][:-1]]
    for b in bad:
        with pytest.raises(ValueError):
            P.decode_cells(b)
    codes = _in_page(page, "return arg.map((b) => { try { m.decodeCells(Uint8Array.from(b)); return 'ok'; } "
                           "catch (e) { return e.code || 0; } });", [list(b) for b in bad])
    assert codes == [P.E_RANGE, 0]


def test_page_history_decoder_matches_the_firmware(page):
    """History responses as drivers/ble_service.py builds them from
    protocol.encode_history_page: the counters page and 30 events (three pages)."""
    import random
    from types import SimpleNamespace as NS
    P, _ = _firmware_codec()
    rnd = random.Random(5)
    events = [(rnd.randint(-2 ** 31, 2 ** 31 - 1), rnd.randint(0, 34), rnd.randint(0, 2 ** 32 - 1),
               rnd.randint(-2 ** 31, 2 ** 31 - 1)) for _ in range(30)]
    counters = {name: rnd.randint(-2 ** 31, 2 ** 31 - 1) for name in P.HISTORY_COUNTERS}
    history = NS(events=lambda: events, counters=lambda: tuple(counters[n] for n in P.HISTORY_COUNTERS))
    responses, bodies, page_no = [], [], 0
    while True:
        page_bytes = P.encode_history_page(history, page_no)
        if page_bytes is None:
            break
        body, more = page_bytes
        responses.append(P.response(P.OK, page_no, bytes((1 if more else 0,)) + body))
        bodies.append(body)
        page_no += 1
    assert page_no == 4
    got = _in_page(page, """const pages = arg.map((b) => m.decodeHistoryPage(Uint8Array.from(b)));
        return { heads: pages.map((p) => [p.code, p.page, p.more]),
                 history: m.decodeHistory(pages.map((p) => p.body)) };""", [list(r) for r in responses])
    assert got["heads"] == [[P.OK, i, i < page_no - 1] for i in range(page_no)]
    want_counters, want_events = P.decode_history(bodies)
    assert got["history"]["counters"] == want_counters
    assert [(e["time_ms"], e["code"], e["mask"], e["value"]) for e in got["history"]["events"]] == want_events
    assert want_events == [(t, c, m & 0xFFFFFFFF, v) for t, c, m, v in events]


def test_page_uses_only_the_non_deprecated_gatt_writes():
    """The deprecated writeValue() is invisible to BiDi and stalls on some phones."""
    for f in WEB.glob("*.js"):
        assert ".writeValue(" not in f.read_text(), f.name


def test_reasons_of_every_path_in_plain_words(page):
    """Format 2's alternator-path and System+ masks are told apart from the charge reasons."""
    import sys
    from webpaths import ROOT
    sys.path.insert(0, str(ROOT / "firmware"))
    from bms import reasons as R
    status = {"block_chg": R.CELL_OV, "block_dsg": 0, "block_alt": R.CELL_OV | R.BMS_OVERTEMP,
              "block_sys": R.OVERCURRENT, "warn": 0, "min_cell_at": 0, "min_cell_mv": 3300,
              "max_cell_at": 6, "max_cell_mv": 3650, "min_temp_dc": 200, "max_temp_dc": 210}
    lines = page.js("""import('./reasons.js').then(async (m) => {
        const schema = await (await fetch('schema.json')).json();
        return m.describe(%s, schema.names).map((l) => l.kind + ' ' + l.text);
    })""" % json.dumps(status))
    assert lines == ["stop charging stopped: cell 3 of battery 2 at 3.65 V",
                     "stop alternator stopped: BMS too hot",
                     "stop System+ off: overcurrent, retrying"]


def _module(page, name, body, arg):
    """Run `body` with `m` = web/<name> and the indexed schema; its value."""
    return page.js("""Promise.all([import('./%s'), import('./protocol.js')]).then(async ([m, p]) => {
        const schema = p.indexSchema(await (await fetch('schema.json')).json());
        const arg = %s;
        %s
    })""" % (name, json.dumps(arg), body))


def test_settings_are_typed_and_checked_in_human_units(page):
    got = _module(page, "settings-view.js", """return arg.map(([n, text]) => {
        const r = m.checkValue(schema.byName[n], text, schema);
        return r.error ? 'error: ' + r.error : r.value; });""", [
        ["cell_ov_mv", "3.65"], ["cell_ov_mv", "3.8"], ["cell_ov_mv", "3.6505"], ["cell_ov_mv", "3650"],
        ["temp_discharge_low_dc", "-2.5"], ["temp_charge_low_dc", "abc"], ["alt_on_delay_ms", "2.5"],
        ["uv_disconnect_delay_s", "90"], ["uv_disconnect_delay_s", "90.5"], ["alt_fuse_a", "60"],
        ["alt_fuse_a", "61"], ["lowpower_delay_min", "30"]])
    assert got == [3650, "error: must be 3.500 … 3.750 V", "error: at most 3 decimals",
                   "error: must be 3.500 … 3.750 V", -25, "error: a number is needed", 2500, 90,
                   "error: a whole number is needed", 60, "error: not one of 20, 25, 30, 35, 40, 50, 60, 70, 80, "
                   "100, 125", 30]
    # issue 16 item 3: no charging below 0 degC, so -2.5 is refused for the charge limit
    got = _module(page, "settings-view.js", """const r = m.checkValue(schema.byName.temp_charge_low_dc, '-0.1', schema);
        return r.error || r.value;""", None)
    assert got == "must be 0.0 … 15.0 °C"
    shown = _module(page, "settings-view.js", "return arg.map(([n, v]) => m.showValue(schema.byName[n], schema, v));",
                    [["cell_uv_mv", 2800], ["temp_hyst_dc", 30], ["scan_period_ms", 100], ["battery_count", 4]])
    assert shown == ["2.800", "3.0", "0.100", "4"]


def test_cell_colours_mean_something(page):
    """Equal cells: no colour and no lowest/highest mark (it used to paint the
    highest red whatever the voltages); past a limit red, near one amber."""
    limits = {"cell_uv_mv": 2800, "cell_prealarm_mv": 3100, "cell_ov_release_mv": 3600, "cell_ov_mv": 3750}
    body = """
        const box = document.createElement('table'); box.id = 'st-batteries'; box.createTBody();
        document.getElementById('st-batteries').replaceWith(box);
        m.renderCells(arg.batteries, arg.status, arg.limits);
        return Array.from(box.querySelectorAll('tbody td')).filter((td, i) => i % 5 < 4)
            .map((td) => [td.textContent, td.className]);"""
    equal = {"batteries": [{"cell_mv": [3300] * 4, "temp_dc": 200}] * 2,
             "status": {"min_cell_at": 0, "max_cell_at": 7}, "limits": limits}
    assert _module(page, "status-view.js", body, equal) == [["3.300", ""]] * 8
    close = dict(equal, batteries=[{"cell_mv": [3300, 3305, 3301, 3309], "temp_dc": 200}],
                 status={"min_cell_at": 0, "max_cell_at": 3})
    assert [c for _t, c in _module(page, "status-view.js", body, close)] == [""] * 4  # 9 mV apart
    mixed = dict(equal, batteries=[{"cell_mv": [3090, 3300, 2790, 3650], "temp_dc": 200},
                                   {"cell_mv": [3750, 3320, 3300, 3300], "temp_dc": 200}],
                 status={"min_cell_at": 2, "max_cell_at": 4})
    assert [c for _t, c in _module(page, "status-view.js", body, mixed)] == [
        "warn-low", "", "min alarm-low", "warn-high", "max alarm-high", "", "", ""]


def test_active_alarms_once_each_with_their_paths(page):
    import sys
    from webpaths import ROOT
    sys.path.insert(0, str(ROOT / "firmware"))
    from bms import reasons as R
    status = {"block_chg": R.DATA_LOST | R.TEMP_LOW_CHARGE, "block_dsg": R.DATA_LOST,
              "block_alt": R.DATA_LOST | R.TEMP_LOW_CHARGE | R.REMOTE_OFF, "block_sys": 0, "warn": R.PREALARM,
              "min_cell_at": 5, "min_cell_mv": 3050, "max_cell_at": 0, "max_cell_mv": 3100,
              "min_temp_dc": -31, "max_temp_dc": 20}
    got = page.js("""import('./reasons.js').then(async (m) => {
        const schema = await (await fetch('schema.json')).json();
        return m.activeAlarms(%s, schema.names).map((a) => [a.key, a.level, a.text]);
    })""" % json.dumps(status))
    assert got == [
        ["data_lost", "alarm", "battery data lost: check the BMS cable (charging stopped, loads off)"],
        ["temp_low_charge", "alarm", "battery too cold (-3.1 °C) (charging stopped)"],
        ["remote_off", "warning", "remote on/off is off (alternator stopped)"],
        ["warn:prealarm", "warning", "pre-alarm: cell 2 of battery 2 at 3.05 V"]]


def test_a_battery_count_mismatch_in_words(page):
    # issue 16 item 5: its own reason, in words, on both paths
    import sys
    from webpaths import ROOT
    sys.path.insert(0, str(ROOT / "firmware"))
    from bms import reasons as R
    both = R.BOOT | R.COUNT_MISMATCH
    status = {"block_chg": both, "block_dsg": both, "block_alt": both, "block_sys": 0, "warn": 0,
              "configured": 4, "min_cell_at": 0, "min_cell_mv": 0, "max_cell_at": 0, "max_cell_mv": 0,
              "min_temp_dc": 0, "max_temp_dc": 0}
    got = page.js("""import('./reasons.js').then(async (m) => {
        const schema = await (await fetch('schema.json')).json();
        return m.activeAlarms(%s, schema.names).map((a) => [a.key, a.text]);
    })""" % json.dumps(status))
    assert ["count_mismatch", "battery count wrong: 4 set, the BMS cable says otherwise (check battery_count) "
            "(charging stopped, loads off)"] in got, got


def test_a_refused_save_is_a_warning_not_a_stop(page):
    # the flash_fault status bit: the BMS runs on, the owner is told its
    # flash holds older settings or history than it runs on
    status = {"block_chg": 0, "block_dsg": 0, "block_alt": 0, "block_sys": 0, "warn": 0,
              "flash_fault": True}
    got = page.js("""import('./reasons.js').then(async (m) => {
        const schema = await (await fetch('schema.json')).json();
        return [m.activeAlarms(%s, schema.names).map((a) => [a.key, a.level]),
                m.describe(%s, schema.names).map((r) => r.kind)];
    })""" % (json.dumps(status), json.dumps(status)))
    assert got == [[["flash_fault", "warning"]], ["warn"]]
    status["flash_fault"] = False
    got = page.js("""import('./reasons.js').then(async (m) => {
        const schema = await (await fetch('schema.json')).json();
        return [m.activeAlarms(%s, schema.names).length, m.describe(%s, schema.names)[0].kind];
    })""" % (json.dumps(status), json.dumps(status)))
    assert got == [0, "ok"]


def test_trends_and_state_of_charge_texts(page):
    got = _module(page, "trend-view.js", """
        const samples = [];
        for (const [t, mv] of arg) m.addSample(samples, {pack_mv: mv, alt_ma: 0, sys_ma: -1000, min_cell_mv: 3300}, t);
        return {n: samples.length, first: samples[0].t,
                pts: m.points(samples.map((s) => [s.t, s.pack_mv]), 7200000),
                young: m.points([[1000, 1], [6000, 2], [11000, 3]], 11000), one: m.points([[5, 7]], 5)};""",
        [[0, 13000], [3600000, 13100], [5400000, 13200], [7200000, 13300]])
    # older than an hour is dropped; the newest is at the right edge, the highest at the top
    assert got["n"] == 3 and got["first"] == 3600000
    assert got["pts"] == "0.0,58.0 150.0,30.0 300.0,2.0"
    # ten seconds of samples fill the width too: a trend is readable from the start
    assert got["young"] == "0.0,58.0 150.0,30.0 300.0,2.0" and got["one"] == "300.0,30.0"
    soc = _module(page, "status-view.js", "return arg.map((s) => m.socTexts(s));", [
        {"soc_pm": 625, "consumed_mah": 75000, "ttg_min": 750},
        {"soc_pm": 1000, "consumed_mah": 0, "ttg_min": 65535},
        {"soc_pm": 65535, "consumed_mah": 0, "ttg_min": 65535},
        {"soc_pm": None, "consumed_mah": None, "ttg_min": None},
        {"soc_pm": 10, "consumed_mah": 1, "ttg_min": 4000}])
    assert soc == [{"soc": "62.5 %", "consumed": "75.0 Ah", "ttg": "12 h 30 min"},
                   {"soc": "100.0 %", "consumed": "0.0 Ah", "ttg": "not discharging"},
                   {"soc": "--", "consumed": "--", "ttg": "not counted yet"},
                   {"soc": "--", "consumed": "--", "ttg": "not in this firmware"},
                   {"soc": "1.0 %", "consumed": "0.0 Ah", "ttg": "2 d 18 h"}]


def test_page_splits_long_settings_writes_as_the_firmware_does(page):
    """At MTU 23 a write carries 20 bytes: longer settings writes go in SET_PART parts."""
    P, _S = _firmware_codec()
    changes = [{"battery_count": 3}, {"device_name": "Van battery bank 123"},
               {"device_name": "Van battery bank 1"},
               {"battery_count": 3, "cell_ov_mv": 3700, "cell_prealarm_mv": 3150,
                "uv_disconnect_delay_s": 90, "device_name": "Boat"}]
    reqs = [list(P.encode_set_request(c)) for c in changes]
    got = _in_page(page, "return arg.map((r) => m.splitWrite(Uint8Array.from(r)).map((w) => Array.from(w)));",
                   reqs)
    assert [[bytes(w) for w in ws] for ws in got] == [P.split_write(bytes(r)) for r in reqs]
    assert [len(ws) for ws in got] == [1, 2, 2, 2]
