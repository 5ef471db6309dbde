"""Demo mode: the page served by `bms-sim --web` uses the simulator transport
(web/transport-sim.js); the same page code logs in and shows live status from
the firmware on the simulated board."""
import threading

import pytest

import webpaths  # noqa: F401  (puts the project root on the path)
from tools import gatt_bridge, web_demo

if gatt_bridge.missing():
    pytest.skip(gatt_bridge.missing(), allow_module_level=True)


@pytest.fixture
def demo_url(tmp_path):
    server, demo = web_demo.serve(0, "idle", store_dir=tmp_path / "store")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d/" % server.server_address[1]
    server.shutdown()
    demo.gatt.close()
    print("\n".join(demo.gatt.stderr))


def test_demo_mode_logs_in_and_streams_status(browser, demo_url):
    import bidi

    page = getattr(browser, "page", None) or bidi.Page(browser)
    browser.page = page
    page.goto(demo_url + "index.html")
    page.wait("document.body.dataset.ready === '1' && !document.getElementById('btn-demo').hidden")
    page.click("#btn-demo")
    page.wait("!document.getElementById('pin-screen').hidden")
    page.type("#pin", "000000")
    page.click("#btn-unlock")
    page.wait("document.getElementById('st-pack').textContent !== '--'")
    first = page.js("window.bmsApp.status.uptime_ms")
    page.wait("window.bmsApp.status.uptime_ms !== %d" % first, timeout=5)  # pushed as events
    page.wait("document.querySelectorAll('#st-batteries tbody tr').length === 4")  # cells after the status
