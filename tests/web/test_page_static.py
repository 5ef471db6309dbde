"""The page by itself in a real browser: it loads from its own files,
is installable and offline-capable, and connects over the browser's
Bluetooth emulation with the chooser filtered on the BMS service."""
import json

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


def test_page_codec_matches_the_firmware_codec(page):
    """protocol.js mirrors firmware/bms/protocol.py: the same bytes for every setting's record."""
    import sys
    from webpaths import ROOT
    sys.path.insert(0, str(ROOT / "firmware"))
    from bms import protocol as P
    from bms import settings as S

    values = {e[1]: e[4] for e in S.SCHEMA if e[2] != S.PIN}
    values["device_name"] = "Van BMS"
    values["temp_charge_low_dc"] = -55
    got = page.js("""import('./protocol.js').then(async (m) => {
        const schema = m.indexSchema(await (await fetch('schema.json')).json());
        const vals = %s;
        return Object.entries(vals).map(([k, v]) => Array.from(m.encodeSetRequest(schema, {[k]: v})));
    })""" % json.dumps(values))
    assert [bytes(g) for g in got] == [P.encode_set_request({k: v}) for k, v in values.items()]
    page_reply = bytes(P.encode_settings_page(dict(values, pin="000000"), 0))
    decoded = page.js("""import('./protocol.js').then(async (m) => {
        const schema = m.indexSchema(await (await fetch('schema.json')).json());
        return m.decodeSettingsPage(schema, Uint8Array.from(%s));
    })""" % json.dumps(list(page_reply)))
    assert decoded["values"] == {k: v for k, v in P.decode_settings_page(page_reply)[0].items()}


def test_page_uses_only_the_non_deprecated_gatt_writes():
    """The deprecated writeValue() is invisible to BiDi and stalls on some phones."""
    for f in WEB.glob("*.js"):
        assert ".writeValue(" not in f.read_text(), f.name
