"""Fixtures for the phone-page browser tests: one chromium per module, the
page served from web/ on 127.0.0.1 (a secure context for WebCrypto)."""
import functools
import http.server
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from webpaths import WEB  # noqa: E402
import bidi  # noqa: E402


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".webmanifest": "application/manifest+json",
                      ".json": "application/json", ".svg": "image/svg+xml"}

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def web_url():
    handler = functools.partial(_QuietHandler, directory=str(WEB))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d/" % server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    reason = bidi.browser_missing()
    if reason:
        pytest.skip(reason)
    b = bidi.Browser()
    yield b
    b.close()


@pytest.fixture
def page(browser, web_url):
    p = bidi.Page(browser) if not hasattr(browser, "page") else browser.page
    browser.page = p
    p.console.clear()
    browser.errors.clear()
    p.goto(web_url + "index.html")
    p.wait("document.body.dataset.ready === '1'")
    return p
