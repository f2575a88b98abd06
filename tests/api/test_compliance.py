"""GET /v1/media/{id}/compliance: which of a platform's slots would reject the asset, and why."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from tests.api.helpers import upload
from tests.fixtures.pictures import jpeg, product


def _asset(client: TestClient, headers: dict[str, str], size: int, seed: int) -> str:
    asset_id: str = upload(client, headers, jpeg(product(seed, size=size))).json()["asset_id"]
    return asset_id


def test_big_picture_passes_and_small_picture_is_rejected_with_reasons(
    client: TestClient, merchant: dict[str, str]
) -> None:
    big = _asset(client, merchant, 3200, 61)
    body = client.get(f"/v1/media/{big}/compliance", params={"platform": "amazon"}, headers=merchant).json()
    assert body["rejected_roles"] == [] and body["verdict"] in ("pass", "warn")
    main = next(p for p in body["profiles"] if p["profile"] == "amazon_main")
    assert main["roles"] == ["main"] and main["verdict"] == "pass" and "G9FUUH87RBNXGKB7" in main["source"]
    assert {c["name"] for c in main["checks"]} == {"pixel_size", "upscale", "background", "fill", "bytes", "format",
                                                  "colour_space"}
    assert client.get(httpx.URL(main["url"]).path).status_code == 200

    small = _asset(client, merchant, 500, 62)
    body = client.get(f"/v1/media/{small}/compliance", params={"platform": "amazon"}, headers=merchant).json()
    assert body["verdict"] == "fail" and "main" in body["rejected_roles"]
    main = next(p for p in body["profiles"] if p["profile"] == "amazon_main")
    assert main["rejected"] and main["url"] is None  # reported, never produced
    assert any("too small" in str(c["rule"]) for c in main["checks"])


def test_bad_requests_get_clear_errors(client: TestClient, merchant: dict[str, str]) -> None:
    asset_id = _asset(client, merchant, 400, 63)
    unknown_platform = client.get(f"/v1/media/{asset_id}/compliance", params={"platform": "nowhere"},
                                  headers=merchant)
    assert unknown_platform.status_code == 422 and unknown_platform.json()["code"] == "invalid_input"
    missing = client.get("/v1/media/ast_01m8xp0bzrs6t1kr4eh968zzt0/compliance", params={"platform": "amazon"},
                         headers=merchant)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert client.get(f"/v1/media/{asset_id}/compliance", params={"platform": "amazon"}).status_code == 401
    assert client.get(f"/v1/media/{asset_id}/compliance", headers=merchant).status_code == 422  # no platform


def test_asset_json_and_listing_say_which_slots_would_be_rejected(
    client: TestClient, merchant: dict[str, str]
) -> None:
    created = upload(client, merchant, jpeg(product(64, size=500)), sku="TÊNIS-7", role="main").json()
    asset = client.get(f"/v1/media/{created['asset_id']}", headers=merchant).json()
    by_profile = {v["profile"]: v for v in asset["variants"]}
    assert by_profile["amazon_main"]["compliance"] == "fail"
    assert any("too small" in problem for problem in by_profile["amazon_main"]["problems"])
    assert by_profile["web_thumb"]["compliance"] is None  # servable, not rendered yet
    assert client.get(httpx.URL(by_profile["amazon_main"]["url"]).path).json()["code"] == \
        "image_too_small_for_profile"
    amazon = client.get("/v1/skus/TÊNIS-7/listing", params={"platform": "amazon"}, headers=merchant).json()
    assert [(s["role"], s["rejected"], s["compliance"]) for s in amazon["slots"]] == [("main", True, "fail")]
    web = client.get("/v1/skus/TÊNIS-7/listing", params={"platform": "web"}, headers=merchant).json()
    assert web["slots"][0]["rejected"] is False


def test_a_69_megapixel_jpeg_is_accepted_with_its_true_size(client: TestClient, merchant: dict[str, str]) -> None:
    # over the 50 MP full-decode limit: a JPEG decodes at 1/2 scale, the asset keeps the file's size
    from tests.fixtures.render_inputs import by_name

    huge = by_name("huge_jpeg")
    created = upload(client, merchant, huge.data)
    assert created.status_code == 201, created.text
    master = client.get(f"/v1/media/{created.json()['asset_id']}", headers=merchant).json()["master"]
    assert (master["width"], master["height"]) == huge.size
    variants = client.get(f"/v1/media/{created.json()['asset_id']}", headers=merchant).json()["variants"]
    # the fingerprint was taken at 1/2 scale, yet the 6336 px product is big enough for every profile
    assert all(v["compliance"] != "fail" for v in variants), [v for v in variants if v["compliance"] == "fail"]


def test_verdicts_of_a_reduced_upload_count_the_files_pixels(client: TestClient, merchant: dict[str, str]) -> None:
    # a 1584 px product in a 69 MP frame: fingerprinted at 1/2 scale (792 px, too small for Amazon's
    # 1000 px) but the file has the pixels, and the renderer uses them
    from PIL import Image

    from tests.fixtures import media

    frame = Image.new("RGB", (7200, 9600), (255, 255, 255))
    frame.paste(media.product_on_white((2000, 2400)), (2600, 3600))
    created = upload(client, merchant, media.jpeg(frame, quality=80)).json()
    variants = client.get(f"/v1/media/{created['asset_id']}", headers=merchant).json()["variants"]
    main = next(v for v in variants if v["profile"] == "amazon_main")
    assert main["compliance"] != "fail", main
    assert client.get(httpx.URL(main["url"]).path).status_code == 200
