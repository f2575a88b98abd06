"""Done-when of issue 13, over real HTTP and the real CLI, on SQLite and PostgreSQL.

A brand imports its catalogue CSV, ingests a GS1-named folder (bad names reported per file, nothing
uploaded without a product) and publishes a pack; a seller subscribes, links its SKU, pulls a
marketplace-ready folder (checksummed, a second run downloads nothing, damage is repaired), and its
listing follows the brand's next version.
"""

from __future__ import annotations

import csv
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select
from typer.testing import CliRunner

from api.cli import cli
from registry.models import Upload
from registry.runtime import Runtime
from tests.brand.helpers import MARKETPLACE_SIZE, picture
from tests.conftest import make_key, wait_for_jobs
from tests.fixtures.pictures import jpeg, product

BRAND = "Marca Açaí 巴西"
TEA, SOAP = "04006381333931", "00036000291452"


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[str]:
    """The app on a free 127.0.0.1 port, sharing the test's runtime."""
    from api.app import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(create_app(runtime=runtime), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def _run(*args: str) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(cli, list(args))
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, (json.loads(lines[-1]) if lines else {})


def _uploads(runtime: Runtime) -> int:
    with runtime.db.read_only() as session:
        return int(session.scalar(select(func.count()).select_from(Upload)) or 0)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_brand_folder_to_pack_to_seller_zip_and_a_listing_that_follows(
        live_server: str, runtime: Runtime, tmp_path: Path) -> None:
    brand_key = make_key(runtime, BRAND, "brand")
    seller_key = make_key(runtime, "Loja São João", "merchant")
    server = ["--server", live_server]
    # 1. the catalogue, from CSV
    catalogue = tmp_path / "catálogo.csv"
    catalogue.write_text("sku,gtin,title,sabor\n茶-绿-250g,4006381333931,Chá verde 绿茶,menta\n"
                         "SABONETE-1,036000291452,Sabonete de açaí,\n", encoding="utf-8")
    code, report = _run("catalog", "import", str(catalogue), *server, "--key", brand_key)
    assert (code, report) == (0, {"created": 2, "updated": 0})
    # 2. official pictures from a GS1-named folder, with three files that must not be uploaded
    folder = tmp_path / "gs1"
    folder.mkdir()
    for seed, name in enumerate([f"{TEA}_C1N1.jpg", f"{TEA}_C7N1.jpg", f"{TEA}_C2N1_s02.jpg", f"{SOAP}_C1N0.jpg"]):
        (folder / name).write_bytes(picture(100 + seed))
    (folder / "04006381333932_C1N1.jpg").write_bytes(picture(200))  # wrong check digit
    (folder / "front.jpg").write_bytes(picture(201))  # not a GS1 name
    (folder / "00000096385074_C1N1.jpg").write_bytes(picture(202))  # a GTIN not in the catalogue
    code, report = _run("ingest", str(folder), "--gs1", *server, "--key", brand_key)
    assert code == 1
    assert report == {"uploaded": 4, "failed": 3}
    assert _uploads(runtime) == 4
    brand_http = httpx.Client(base_url=live_server, headers={"Authorization": f"Bearer {brand_key}"}, timeout=60)
    tea = brand_http.get(f"/v1/catalog/products/{TEA}").json()
    assert [(s["role"], s["position"], s["facet"]) for s in tea["slots"]] == [
        ("main", 0, "C1N1"), ("gallery", 0, "C7N1"), ("gallery", 1, "C2N1")]
    # 3. the pack, published with terms
    assert brand_http.put("/v1/packs/verão", json={"title": "Verão", "gtins": [TEA, SOAP]}).status_code == 200
    published = brand_http.post("/v1/packs/verão/publish", json={
        "changelog": "primeira versão", "licence": "Marketplaces only", "platforms": ["amazon", "walmart"]})
    assert published.status_code == 201, published.text
    wait_for_jobs(runtime)
    # 4. the seller subscribes, links its SKU and pulls an Amazon-ready folder
    seller_http = httpx.Client(base_url=live_server, headers={"Authorization": f"Bearer {seller_key}"}, timeout=60)
    assert seller_http.post(f"/v1/packs/{BRAND}/verão/subscribe", json={}).status_code == 200
    assert seller_http.post("/v1/links", json={"sku": "LOJA-CHÁ-01", "gtin": "4006381333931", "brand": BRAND,
                                               "pack": "verão"}).status_code == 200
    out = tmp_path / "amazon"
    pull = ("pull", "--pack", f"{BRAND}/verão", "--platform", "amazon", "--out", str(out), *server,
            "--key", seller_key)
    code, report = _run(*pull)
    assert (code, report) == (0, {"downloaded": 4, "skipped": 0, "failed": 0})
    rows = list(csv.DictReader((out / "manifest.csv").open(encoding="utf-8")))
    assert {r["file"] for r in rows} == {f"{TEA}.MAIN.jpg", f"{TEA}.PT01.jpg", f"{TEA}.PT02.jpg", f"{SOAP}.MAIN.jpg"}
    assert all(_sha(out / r["file"]) == r["sha256"] for r in rows)
    assert _run(*pull) == (0, {"downloaded": 0, "skipped": 4, "failed": 0})  # idempotent
    (out / f"{TEA}.PT01.jpg").unlink()
    (out / f"{SOAP}.MAIN.jpg").write_bytes(b"damaged")
    (out / f"{TEA}.PT02.jpg").unlink()
    (out / f"{TEA}.PT02.jpg.part").write_bytes(b"half a download")  # an interrupted run: resumed, then checked
    assert _run(*pull) == (0, {"downloaded": 3, "skipped": 1, "failed": 0})
    assert all(_sha(out / r["file"]) == r["sha256"] for r in rows)
    assert not list(out.glob("*.part"))
    # a platform outside the licence is refused
    refused = _run("pull", "--pack", f"{BRAND}/verão", "--platform", "taobao", "--out", str(tmp_path / "t"),
                   *server, "--key", seller_key)
    assert refused[0] == 1
    # 5. the seller's own SKU as a ZIP, and its listing following the brand's next version
    zipped = seller_http.get("/v1/skus/LOJA-CHÁ-01/zip", params={"platform": "walmart"})
    assert zipped.status_code == 200
    listing = seller_http.get("/v1/skus/LOJA-CHÁ-01/listing", params={"platform": "amazon"}).json()
    alias = next(s["alias_url"] for s in listing["slots"] if s["role"] == "main")
    first_target = httpx.get(alias, follow_redirects=False).headers["location"]
    new_front = tmp_path / f"{TEA}_C1N1.jpg"
    new_front.write_bytes(jpeg(product(999, size=MARKETPLACE_SIZE, label="NOVO")))
    brand_http.post(f"/v1/catalog/products/{TEA}/media", data={"facet": "C1N1"},
                    files={"file": (new_front.name, new_front.read_bytes(), "image/jpeg")})
    assert brand_http.post("/v1/packs/verão/publish", json={"changelog": "nova frente",
                                                            "platforms": ["amazon", "walmart"]}).status_code == 201
    second_target = httpx.get(alias, follow_redirects=False).headers["location"]
    assert second_target != first_target
    assert httpx.get(second_target).status_code == 200
    code, report = _run(*pull)
    assert (code, report["downloaded"], report["skipped"]) == (0, 1, 3)
    brand_http.close()
    seller_http.close()
