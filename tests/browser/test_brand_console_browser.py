"""The brand-pack console in headless Chromium: a brand composes, previews and publishes a pack with
terms; a seller browses packs, subscribes and downloads a platform ZIP. Screenshots go to
$SKUPIX_SCREENSHOT_DIR, or to the test's temporary directory.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.brand.helpers import WALMART_SIZE
from tests.browser.test_console_browser import (
    CHROMIUM,
    DevTools,
    clean_env,
    cli,
    free_port,
    images,
    open_chromium,
    stop,
    wait_serving,
)
from tests.fixtures.pictures import jpeg, product
from tests.services import unavailable

pytestmark = pytest.mark.slow

BRAND = "Marca Açaí"
TEA, SOAP = "04006381333931", "00036000291452"


def _key(env: dict[str, str], root: Path, tenant: str, kind: str) -> str:
    created = subprocess.run(cli("keys", "create", "--tenant", tenant, "--kind", kind), env=env, capture_output=True,
                             text=True, timeout=60, check=True, cwd=root)
    return created.stdout.strip().splitlines()[-1]


def _sign_in(page: DevTools, base: str, key: str, view: str) -> None:
    page.goto(base + "/console/brands")
    page.js(f"localStorage.setItem('skupix.apiKey', {json.dumps(key)}); location.reload(); true")
    page.wait(f"document.body && document.body.dataset.view === {json.dumps(view)}", f"the {view} view")


def test_brand_publishes_and_seller_downloads_a_zip(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    env = clean_env(tmp_path / "data")
    brand_key = _key(env, tmp_path, BRAND, "brand")
    seller_key = _key(env, tmp_path, "Loja São João", "merchant")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    shots = Path(os.environ.get("SKUPIX_SCREENSHOT_DIR") or tmp_path / "screenshots")
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(cli("serve", "--port", str(port)), env=env, stdout=log, stderr=subprocess.STDOUT,
                              cwd=tmp_path)
    profile_dir = tmp_path / "chromium-profile"
    browser: subprocess.Popen[bytes] | None = None
    page: DevTools | None = None
    try:
        wait_serving(base, server, tmp_path / "server.log")
        auth = {"Authorization": f"Bearer {brand_key}"}
        csv_text = "sku,gtin,title\n茶-绿-250g,4006381333931,Chá verde\nSABONETE,036000291452,Sabonete\n"
        assert httpx.post(base + "/v1/catalog/import", headers=auth, content=csv_text.encode()).status_code == 200
        for seed, (gtin, facet) in enumerate([(TEA, "C1N1"), (TEA, "C7N1"), (SOAP, "C1N1")]):
            sent = httpx.post(f"{base}/v1/catalog/products/{gtin}/media", headers=auth, data={"facet": facet},
                              files={"file": (f"{gtin}_{facet}.jpg",
                                              jpeg(product(60 + seed, size=WALMART_SIZE)), "image/jpeg")},
                              timeout=60)
            assert sent.status_code == 201, sent.text

        browser, page = open_chromium(profile_dir)

        # the brand composes, previews for Amazon and publishes with terms
        _sign_in(page, base, brand_key, "brand")
        page.wait("document.querySelectorAll('#products tr').length === 2", "the two catalogue products")
        page.js("document.getElementById('pack-title').value = 'Verão';"
                "document.getElementById('pack-save').click(); true")
        page.wait("document.getElementById('pack-saved').dataset.count === '2'", "the saved draft")
        page.js("document.getElementById('preview-platform').value = 'amazon';"
                "document.getElementById('preview').click(); true")
        page.wait("document.getElementById('preview-grid').dataset.state === 'ready'", "the Amazon preview")
        page.wait("[...document.images].filter(i => i.complete && i.naturalWidth > 0).length === 3", "three pictures")
        assert images(page, "#preview-grid img") == {"count": 3, "loaded": 3, "broken": []}
        # Amazon's square: as large as the picture allows without enlarging, never under its 1000 px minimum
        width = page.js("document.querySelector('#preview-grid img').naturalWidth")
        assert 1000 <= width <= 2000
        assert page.js("document.querySelector('#preview-grid img').naturalHeight") == width
        page.screenshot(shots / "brands-preview.png")
        page.js("document.getElementById('changelog').value = 'primeira versão';"
                "document.getElementById('licence').value = 'Marketplaces only';"
                "document.querySelector('#publish-platforms input[value=walmart]').checked = true;"
                "document.querySelector('#publish-platforms input[value=amazon]').checked = true;"
                "document.getElementById('publish').click(); true")
        page.wait("document.getElementById('publish-result').dataset.version === '1'", "the published version")
        page.screenshot(shots / "brands-published.png")
        assert page.take_errors() == []

        # the seller browses, subscribes and downloads a Walmart ZIP
        _sign_in(page, base, seller_key, "seller")
        card = f"document.querySelector('[data-pack=\"{BRAND}/spring\"]')"
        page.wait(card, "the brand's pack card")
        assert "Marketplaces only" in page.js(f"{card}.innerText")
        page.js(f"{card}.querySelector('.subscribe').click(); true")
        page.wait(f"{card}.querySelector('.subscribe').disabled", "the subscription")
        page.js(f"{card}.querySelector('.zip-platform').value = 'walmart';"
                f"{card}.querySelector('.download').click(); true")
        page.wait(f"{card}.dataset.zipBytes", "the ZIP download")
        assert page.js(f"{card}.dataset.zipMagic") == "PK"
        page.screenshot(shots / "brands-seller.png")
        assert page.take_errors() == []
        zipped = httpx.get(f"{base}/v1/packs/{BRAND}/spring/versions/latest/zip", params={"platform": "walmart"},
                           headers={"Authorization": f"Bearer {seller_key}"}, timeout=120)
        assert int(page.js(f"{card}.dataset.zipBytes")) == len(zipped.content)
        names = set(zipfile.ZipFile(io.BytesIO(zipped.content)).namelist())
        assert names == {f"{TEA}.jpg", f"{TEA}_1.jpg", f"{SOAP}.jpg", "manifest.json", "manifest.csv"}
        subscriptions = httpx.get(base + "/v1/subscriptions", headers={"Authorization": f"Bearer {seller_key}"}).json()
        assert [s["pack"] for s in subscriptions] == ["spring"]

        # the seller shows the tea through a pack link and its shop page hotlinks the picture; the brand's
        # usage dashboard charts the hits and counts the shop without naming it
        seller = {"Authorization": f"Bearer {seller_key}"}
        linked = httpx.post(base + "/v1/links", headers=seller, timeout=30,
                            json={"sku": "LOJA-CHÁ", "gtin": TEA, "brand": BRAND, "pack": "spring"})
        assert linked.status_code == 200, linked.text
        listing = httpx.get(base + "/v1/skus/LOJA-CHÁ/listing", params={"platform": "web"}, headers=seller,
                            timeout=30).json()
        url = listing["slots"][0]["url"]
        for _ in range(3):
            assert httpx.get(url, headers={"Referer": "https://loja.example.com.br/cha"}, timeout=60).status_code == 200
        deadline = time.monotonic() + 30
        while (found := httpx.get(base + "/v1/stats", headers=auth, timeout=10).json())["brand"]["hits"] < 3:
            assert time.monotonic() < deadline, f"hits never reached the brand's /v1/stats: {found}"
            time.sleep(0.3)
        page.goto(base + "/console/usage")
        page.js(f"localStorage.setItem('skupix.apiKey', {json.dumps(brand_key)}); location.reload(); true")
        # the page reloads: until the new document is there, the section does not exist yet
        page.wait("document.getElementById('brand-box')?.dataset.state === 'ready'", "the brand section")
        bars = page.js("[...document.querySelectorAll('#brand-chart rect.bar')].map(b => ({day: b.dataset.day,"
                       " hits: Number(b.dataset.hits), height: Number(b.getAttribute('height'))}))")
        assert len(bars) == 30 and bars[-1]["day"] == found["brand"]["by_day"][-1]["day"]
        assert bars[-1]["hits"] >= 3 and bars[-1]["height"] == 150
        assert page.js("document.getElementById('brand-shops').textContent") == "1"
        products = page.js("[...document.querySelectorAll('#brand-products tr')].map(r => r.innerText)")
        assert TEA in products[0] and "Chá verde" in products[0]  # the hotlinked product first
        assert "spring" in page.js("document.getElementById('brand-packs').innerText")
        page.wait("document.getElementById('assets').rows.length > 0", "the brand's own pictures")
        shown = page.js("document.body.innerText")
        assert "Loja São João" not in shown  # counted, never named
        # the shop's page showing the shared picture is a count, never its host (docs/security.md)
        assert "loja.example.com.br" not in shown and "1 other site(s)" in shown
        page.screenshot(shots / "usage-brand.png")
        assert page.take_errors() == []
    finally:
        if page is not None:
            page.close()
        if browser is not None:
            stop(browser)
        stop(server)
        log.close()
        shutil.rmtree(profile_dir, ignore_errors=True)
