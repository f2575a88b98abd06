"""The web console in a real headless Chromium, driven over the Chrome DevTools Protocol.

A `skupix serve` subprocess on a temporary data dir gets two uploads (a product shot and a near copy of
it); the browser signs in through the key form, then the recent-uploads grid, the asset view with every
variant, the SKU listing, the upload panel, search by picture and the error display are checked, with
the pictures actually decoded (naturalWidth > 0) and no script error or CSP violation in the page.
Screenshots go to $SKUPIX_SCREENSHOT_DIR, or to the test's temporary directory.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.pictures import encode, jpeg, product
from tests.services import unavailable

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
SKU = "茶叶-绿茶-250g"
WAIT = 25.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from api.cli import main; main()", *args]


def clean_env(data_dir: Path) -> dict[str, str]:
    """Embedded mode on a fresh data dir, whatever SKUPIX_* the caller's shell has.

    The server imports the installed package from another working directory, as `skupix serve` does.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKUPIX_")}
    env["SKUPIX_DATA_DIR"] = str(data_dir)
    env["SKUPIX_USAGE_FLUSH_SECONDS"] = "1"  # hotlink hits reach the usage dashboard within a second
    return env


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class DevTools:
    """A minimal synchronous Chrome DevTools Protocol client for one page."""

    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self.stack = ExitStack()
        self.ws = self.stack.enter_context(connect(ws_url, max_size=None, open_timeout=10))
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + 30
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if "method" in message:
                self.events.append(message)
            elif message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def js(self, expression: str) -> Any:
        """Evaluate an expression in the page (promises awaited) and return its JSON value."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}\n{expression}")
        return result["result"].get("value")

    def wait(self, expression: str, what: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.js(f"Boolean({expression})"):
                return
            if time.monotonic() > deadline:
                errors = self.js("[...document.querySelectorAll('#errors .error')].map(e => e.innerText)")
                raise AssertionError(f"timed out waiting for {what}; errors shown: {errors}")
            time.sleep(0.15)

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait("document.readyState === 'complete' && location.href !== 'about:blank'", f"{url} to load")

    def set_files(self, selector: str, paths: list[Path]) -> None:
        """Pick files in an <input type=file>, as the file chooser would (fires its change event)."""
        found = self.call("Runtime.evaluate", expression=f"document.querySelector({json.dumps(selector)})")
        self.call("DOM.setFileInputFiles", files=[str(p) for p in paths], objectId=found["result"]["objectId"])

    def screenshot(self, path: Path) -> Path:
        """A full-page PNG, once every loaded picture is decoded and painted."""
        self.js("Promise.all([...document.images].filter(i => i.complete && i.naturalWidth > 0)"
                ".map(i => i.decode().catch(() => null)))"
                ".then(() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))))"
                ".then(() => true)")
        height = int(self.js("Math.ceil(document.documentElement.scrollHeight)"))
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": 1280, "height": max(height, 200), "scale": 1})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def take_errors(self) -> list[str]:
        """Script exceptions and console errors (CSP violations included) since the last call.

        Failed requests are left out: the console shows API errors on purpose.
        """
        self.js("true")  # drain pending events
        errors = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                errors.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
            elif event["method"] == "Log.entryAdded":
                entry = params.get("entry", {})
                if entry.get("level") == "error" and entry.get("source") != "network":
                    errors.append(f"{entry.get('source')}: {entry.get('text')}")
        self.events.clear()
        return errors

    def close(self) -> None:
        self.stack.close()


def wait_serving(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until `skupix serve` answers /healthz; fail with its log if it exits or takes too long."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("skupix serve did not start:\n" + log.read_text()[-3000:])
        time.sleep(0.2)


def open_chromium(profile_dir: Path) -> tuple[subprocess.Popen[bytes], DevTools]:
    """A headless Chromium and a DevTools client on its page (1280×900, page/runtime/log events on)."""
    browser = subprocess.Popen(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1280,900",
         f"--user-data-dir={profile_dir}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    active = profile_dir / "DevToolsActivePort"
    deadline = time.monotonic() + 20
    while not (active.exists() and len(active.read_text().splitlines()) >= 2):
        if browser.poll() is not None or time.monotonic() > deadline:
            stop(browser)
            raise AssertionError("Chromium did not open its DevTools port")
        time.sleep(0.1)
    devtools = f"http://127.0.0.1:{active.read_text().splitlines()[0].strip()}"
    targets = httpx.get(devtools + "/json/list", timeout=10).json()
    target = next(t for t in targets if t.get("type") == "page")
    page = DevTools(target["webSocketDebuggerUrl"])
    page.call("Page.enable")
    page.call("Runtime.enable")
    page.call("Log.enable")
    page.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
    return browser, page


@dataclass
class Session:
    base: str
    key: str
    page: DevTools
    shots: Path
    files: Path
    profiles: list[str]
    uploads: list[dict[str, Any]]


def first_picture() -> Any:
    return product(11, size=900, colour=(180, 40, 40), label="AURORA", line="500 ml")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    if not CHROMIUM.exists():
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    root = tmp_path_factory.mktemp("console-browser")
    data_dir = root / "data"
    env = clean_env(data_dir)
    created = subprocess.run(cli("keys", "create", "--tenant", "loja-são-paulo", "--kind", "merchant"),
                             env=env, capture_output=True, text=True, timeout=60, check=True, cwd=root)
    key = created.stdout.strip().splitlines()[-1]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_log = (root / "server.log").open("wb")
    server = subprocess.Popen(cli("serve", "--port", str(port)), env=env, stdout=server_log,
                              stderr=subprocess.STDOUT, cwd=root)
    profile_dir = root / "chromium-profile"
    browser: subprocess.Popen[bytes] | None = None
    page: DevTools | None = None
    try:
        wait_serving(base, server, root / "server.log")

        auth = {"Authorization": f"Bearer {key}"}
        picture = first_picture()
        uploads = []
        for name, data, content_type, role in [
            ("绿茶-正面.jpg", jpeg(picture, 95), "image/jpeg", "main"),
            ("緑茶_コピー.png", encode(picture, "PNG"), "image/png", "gallery"),
        ]:
            response = httpx.post(base + "/v1/media", headers=auth, timeout=60,
                                  files={"file": (name, data, content_type)}, data={"sku": SKU, "role": role})
            assert response.status_code in (200, 201), response.text
            uploads.append(response.json())
        assert [u["dedup"] for u in uploads] == ["new", "near"]
        profiles = [p["name"] for p in httpx.get(base + "/v1/profiles", timeout=10).json()]
        served = httpx.get(base + "/console", timeout=10)
        assert served.status_code == 200, f"/console answered {served.status_code}: {served.text[:500]}"

        browser, page = open_chromium(profile_dir)

        # sign in through the key form, as a user would
        page.goto(base + "/console")
        page.wait("document.body.dataset.view === 'gate'", "the key form")
        page.js(f"document.getElementById('key-input').value = {json.dumps(key)};"
                "document.getElementById('key-save').click(); true")
        page.wait("document.body.dataset.view === 'uploads'", "the uploads view after signing in")
        assert page.js(f"localStorage.getItem('skupix.apiKey') === {json.dumps(key)}")

        shots = Path(os.environ.get("SKUPIX_SCREENSHOT_DIR") or root / "screenshots")
        files = root / "files"
        files.mkdir()
        yield Session(base=base, key=key, page=page, shots=shots, files=files, profiles=profiles, uploads=uploads)
    finally:
        if page is not None:
            page.close()
        if browser is not None:
            stop(browser)
        stop(server)
        server_log.close()
        shutil.rmtree(profile_dir, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_page_errors(session: Session) -> Iterator[None]:
    session.page.take_errors()
    yield
    assert session.page.take_errors() == []


LOADED_IMAGES = """(sel) => {
  const imgs = [...document.querySelectorAll(sel)];
  return {count: imgs.length, loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
          broken: imgs.filter(i => i.complete && i.naturalWidth === 0).map(i => i.currentSrc || i.src)};
}"""


def images(page: DevTools, selector: str) -> dict[str, Any]:
    result: dict[str, Any] = page.js(f"({LOADED_IMAGES})({json.dumps(selector)})")
    return result


def test_recent_uploads_show_the_near_match_as_pictures(session: Session) -> None:
    page = session.page
    page.goto(session.base + "/console#/uploads")
    page.wait("document.querySelector('#recent-grid').dataset.state === 'ready'"
              " && document.querySelectorAll('#recent-grid [data-upload-id]').length === 2", "two upload cards")
    cards = page.js("[...document.querySelectorAll('#recent-grid [data-upload-id]')].map(c => ({"
                    "id: c.dataset.uploadId, dedup: c.dataset.dedup, badge: c.querySelector('.badge').textContent,"
                    "text: c.innerText, match: !!c.querySelector('[data-role=match]')}))")
    near, new = cards
    assert (near["id"], new["id"]) == (session.uploads[1]["upload_id"], session.uploads[0]["upload_id"])
    assert (near["dedup"], near["badge"].lower()) == ("near", "near")
    assert (new["dedup"], new["badge"].lower()) == ("new", "new")
    assert near["match"] and not new["match"]
    assert "緑茶_コピー.png" in near["text"] and "绿茶-正面.jpg" in new["text"]
    detail = near["text"].lower()
    assert all(word in detail for word in ("near copy of", "score", "hash", "structure", "colour", "master"))
    page.wait(f"({LOADED_IMAGES})('#recent-grid img').loaded === 2", "both thumbnails to load")
    state = images(page, "#recent-grid img")
    assert state == {"count": 2, "loaded": 2, "broken": []}
    thumbs = page.js("[...document.querySelectorAll('#recent-grid img')].map(i => i.src)")
    assert all("/web_thumb/" in src for src in thumbs)
    path = page.screenshot(session.shots / "console-uploads.png")
    print(f"screenshot: {path}")


def test_asset_view_shows_one_loaded_picture_per_profile(session: Session) -> None:
    page = session.page
    page.goto(session.base + "/console#/uploads")
    page.wait("document.querySelector('#recent-grid [data-dedup=near]')", "the near card")
    page.js("document.querySelector('#recent-grid [data-dedup=near]').click(); true")
    page.wait("document.body.dataset.view === 'asset' && document.querySelector('#variant-grid')"
              " && document.querySelector('#variant-grid').dataset.state === 'ready'", "every variant to settle")
    assert page.js("location.hash") == f"#/asset/{session.uploads[0]['asset_id']}"
    shown = page.js("[...document.querySelectorAll('#variant-grid img[data-profile]')].map(i => i.dataset.profile)")
    assert sorted(shown) == sorted(session.profiles)
    # a profile the 900 px picture is too small for is flagged with a badge and not loaded at all
    flagged = page.js("[...document.querySelectorAll('#variant-grid img[data-flagged=true]')].length")
    badges = page.js("[...document.querySelectorAll('#variant-grid [data-compliance=fail]')].length")
    assert 0 < flagged == badges < len(session.profiles)
    assert images(page, "#variant-grid img[data-flagged=false]") == {
        "count": len(session.profiles) - flagged, "loaded": len(session.profiles) - flagged, "broken": []}
    text = page.js("document.querySelector('#view-asset').innerText")
    assert session.uploads[0]["asset_id"] in text and "SHA-256" in text
    asset = httpx.get(f"{session.base}/v1/media/{session.uploads[0]['asset_id']}", timeout=10,
                      headers={"Authorization": f"Bearer {session.key}"}).json()
    links = set(page.js("[...document.querySelectorAll('#variant-grid a')].map(a => a.href)"))
    assert {v["url"] for v in asset["variants"]} | {v["alias_url"] for v in asset["variants"]} <= links
    path = page.screenshot(session.shots / "console-asset.png")
    print(f"screenshot: {path}")


def test_sku_listing_shows_slots_as_pictures_with_file_names(session: Session) -> None:
    page = session.page
    page.goto(f"{session.base}/console#/skus/{SKU}/amazon")
    page.wait("document.querySelector('#listing-grid') && document.querySelector('#listing-grid').dataset.state"
              " === 'ready'", "the amazon listing")
    names = page.js("[...document.querySelectorAll('#listing-grid .filename')].map(e => e.textContent)")
    assert names == [f"{SKU}.MAIN.jpg", f"{SKU}.PT01.jpg"]
    # the 900 px main picture is below Amazon's 1000 px minimum: shown as rejected, not as a broken image
    flagged = page.js("[...document.querySelectorAll('#listing-grid img[data-flagged=true]')]"
                      ".map(i => i.closest('article').dataset.slotRole)")
    assert flagged == ["main"]
    assert page.js("document.querySelectorAll('#listing-grid [data-compliance=fail]').length") == 1
    assert images(page, "#listing-grid img[data-flagged=false]") == {"count": 1, "loaded": 1, "broken": []}
    assert page.js("document.querySelector('#sku-items a.active').dataset.sku") == SKU
    path = page.screenshot(session.shots / "console-sku.png")
    print(f"screenshot: {path}")


def test_upload_panel_shows_each_result_and_the_grid_follows(session: Session) -> None:
    page = session.page
    page.goto(session.base + "/console#/uploads")
    page.wait("document.querySelector('#recent-grid').dataset.state === 'ready'", "the recent grid")
    copy = session.files / "绿茶-正面 (副本).jpg"
    copy.write_bytes(jpeg(first_picture(), 95))
    other = session.files / "sabonete-ação.jpg"
    other.write_bytes(jpeg(product(5, size=800, colour=(40, 140, 70), label="SABONETE", line="90 g"), 90))
    page.set_files("#file-input", [copy, other])
    page.wait("[...document.querySelectorAll('#upload-results .result')].filter(r => r.dataset.state !== 'uploading')"
              ".length === 2", "both upload results")
    rows = page.js("[...document.querySelectorAll('#upload-results .result')].map(r => ({state: r.dataset.state,"
                   " text: r.innerText}))")
    assert [r["state"] for r in rows] == ["new", "exact"], rows  # newest first
    assert "sabonete-ação.jpg" in rows[0]["text"] and "byte-identical" in rows[1]["text"]
    page.wait(f"({LOADED_IMAGES})('#upload-results img').loaded === 4", "file previews and asset thumbnails")
    page.wait("document.querySelector('#recent-grid').dataset.state === 'ready'"
              " && document.querySelectorAll('#recent-grid [data-upload-id]').length === 4"
              " && !!document.querySelector('#recent-grid [data-dedup=exact] img[data-role=your-file]')",
              "the grid with the new uploads")
    page.wait(f"({LOADED_IMAGES})('#recent-grid img').loaded === 5", "thumbnails and the 'yours' inset")
    exact = page.js("document.querySelector('#recent-grid [data-dedup=exact]').innerText")
    assert "byte-identical" in exact and "绿茶-正面.jpg" in exact  # first seen as
    path = page.screenshot(session.shots / "console-uploads-after.png")
    print(f"screenshot: {path}")


def test_search_by_picture_shows_matches_as_pictures(session: Session) -> None:
    page = session.page
    page.goto(session.base + "/console#/search")
    page.wait("document.body.dataset.view === 'search'", "the search view")
    query = session.files / "small-copy.jpg"
    small = first_picture().resize((480, 480))
    query.write_bytes(jpeg(small, 80))
    page.set_files("#search-input", [query])
    page.wait("document.querySelector('#search-results').dataset.state === 'ready'", "search results")
    hits = page.js("[...document.querySelectorAll('#search-grid [data-asset-id]')].map(c => c.dataset.assetId)")
    assert hits[:1] == [session.uploads[0]["asset_id"]]
    page.wait(f"({LOADED_IMAGES})('#search-grid img').loaded === {len(hits)}", "hit thumbnails")
    assert "score" in page.js("document.querySelector('#search-grid').innerText")
    path = page.screenshot(session.shots / "console-search.png")
    print(f"screenshot: {path}")


def test_api_errors_are_shown_with_their_code_and_message(session: Session) -> None:
    page = session.page
    page.goto(session.base + "/console#/asset/ast_does_not_exist")
    page.wait("document.querySelector('#errors .error[data-code=not_found]')", "the not_found error")
    text = page.js("document.querySelector('#errors .error').innerText")
    assert "not_found" in text and "ast_does_not_exist" in text and "404" in text


def test_a_stray_percent_in_the_address_is_shown_as_a_miss_not_a_script_error(session: Session) -> None:
    page = session.page
    page.goto(session.base + "/console#/asset/ast_%zz")
    page.wait("document.querySelector('#errors .error[data-code=not_found]')", "the not_found error")
    # the autouse fixture asserts no script exception (URIError) was raised on the way


def test_usage_dashboard_charts_hotlink_hits(session: Session) -> None:
    page = session.page
    auth = {"Authorization": f"Bearer {session.key}"}
    asset = httpx.get(f"{session.base}/v1/media/{session.uploads[0]['asset_id']}", headers=auth, timeout=10).json()
    url = next(v["url"] for v in asset["variants"] if v["profile"] == "swatch")
    for _ in range(3):
        assert httpx.get(url, headers={"Referer": "https://loja.example.com.br/p/1"}, timeout=30).status_code == 200
    deadline = time.monotonic() + WAIT
    while True:
        found = httpx.get(f"{session.base}/v1/stats", headers=auth, timeout=10).json()
        if "loja.example.com.br" in {site for a in found["assets"] for site in a["sites"]}:
            break
        assert time.monotonic() < deadline, f"hits never reached /v1/stats: {found}"
        time.sleep(0.3)

    page.goto(session.base + "/console#/uploads")
    page.wait("document.getElementById('usage-link')", "the console's usage link")
    page.js("document.getElementById('usage-link').click(); true")
    page.wait("location.pathname === '/console/usage' && document.querySelectorAll('#chart rect.bar').length === 30",
              "the usage chart")
    bars = page.js("[...document.querySelectorAll('#chart rect.bar')].map(b => ({day: b.dataset.day,"
                   " hits: Number(b.dataset.hits), height: Number(b.getAttribute('height'))}))")
    today = bars[-1]
    assert today["day"] == found["by_day"][-1]["day"] and today["hits"] >= 3
    assert today["height"] == 150  # the tallest bar: all hits are today's
    assert all(bar["hits"] == 0 and bar["height"] == 0 for bar in bars[:-1])
    page.wait("document.getElementById('hits').textContent !== '0'", "the totals")
    shown = int(page.js("document.getElementById('hits').textContent").replace(",", ""))
    assert shown >= found["hits"]
    table = page.js("document.getElementById('assets').innerText")
    assert session.uploads[0]["asset_id"] in table and "loja.example.com.br" in table and SKU in table
    assert "minutes" in page.js("document.getElementById('assumption').textContent")
    path = page.screenshot(session.shots / "console-usage.png")
    print(f"screenshot: {path}")
