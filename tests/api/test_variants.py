"""Variant URLs: immutable, cacheable, rendered on demand, and aliases that follow the master."""

from __future__ import annotations

import io

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from registry.runtime import Runtime
from tests.api.helpers import upload
from tests.fixtures.pictures import jpeg, product

PROFILE_FORMATS = {
    "amazon_main": ("image/jpeg", "JPEG", (2000, 2000)),
    "taobao_main": ("image/jpeg", "JPEG", (800, 800)),
    "shopify_square": ("image/jpeg", "JPEG", (2048, 2048)),
    "web_thumb": ("image/webp", "WEBP", (400, 400)),
    "swatch": ("image/jpeg", "JPEG", (100, 100)),
}


class _DroppedJobs:
    """A publisher that never runs anything: no worker has rendered a variant yet."""

    def publish(self, job_id: str, kind: str) -> None:
        """Drop the job."""


@pytest.fixture
def asset(client: TestClient, merchant: dict[str, str], runtime: Runtime) -> dict[str, object]:
    runtime.publisher = _DroppedJobs()
    # big enough for every profile without enlarging (marketplace profiles flag smaller pictures)
    created = upload(client, merchant, jpeg(product(81, size=3200)), sku="VAR-1", role="main").json()
    body: dict[str, object] = client.get(f"/v1/media/{created['asset_id']}", headers=merchant).json()
    return body


def _variant(asset: dict[str, object], profile: str) -> dict[str, object]:
    variants = asset["variants"]
    assert isinstance(variants, list)
    found: dict[str, object] = next(v for v in variants if v["profile"] == profile)
    return found


class TestImmutableUrls:
    def test_every_profile_is_listed_with_clean_urls(self, asset: dict[str, object]) -> None:
        variants = asset["variants"]
        assert isinstance(variants, list)
        assert {v["profile"] for v in variants} >= set(PROFILE_FORMATS)
        for variant in variants:
            url = httpx.URL(str(variant["url"]))
            assert not url.query
            assert url.path.rsplit(".", 1)[1] in ("jpg", "webp", "avif", "png")
            assert variant["rendered"] is False  # nothing has rendered it yet

    @pytest.mark.parametrize("profile", sorted(PROFILE_FORMATS))
    def test_first_request_renders_with_right_type_and_size(
        self, client: TestClient, asset: dict[str, object], profile: str
    ) -> None:
        content_type, pillow_format, size = PROFILE_FORMATS[profile]
        response = client.get(httpx.URL(str(_variant(asset, profile)["url"])).path)
        assert response.status_code == 200
        assert response.headers["content-type"] == content_type
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        with Image.open(io.BytesIO(response.content)) as image:
            assert image.format == pillow_format
            assert image.size == size
            assert not image.info.get("exif") and not image.info.get("icc_profile")

    def test_amazon_main_has_a_pure_white_background(self, client: TestClient, asset: dict[str, object]) -> None:
        response = client.get(httpx.URL(str(_variant(asset, "amazon_main")["url"])).path)
        with Image.open(io.BytesIO(response.content)) as image:
            rgb = image.convert("RGB")
            corners = [rgb.getpixel(p) for p in ((0, 0), (1999, 0), (0, 1999), (1999, 1999), (1000, 5))]
        assert all(pixel == (255, 255, 255) for pixel in corners)

    def test_etag_is_strong_and_304_answers_a_match(self, client: TestClient, asset: dict[str, object]) -> None:
        path = httpx.URL(str(_variant(asset, "web_thumb")["url"])).path
        first = client.get(path)
        etag = first.headers["etag"]
        assert etag.startswith('"') and not etag.startswith("W/")
        again = client.get(path)
        assert again.headers["etag"] == etag and again.content == first.content
        for header in (etag, f'W/{etag}', f'"other", {etag}', "*"):
            cached = client.get(path, headers={"If-None-Match": header})
            assert cached.status_code == 304, header
            assert cached.content == b""
            assert cached.headers["etag"] == etag
        assert client.get(path, headers={"If-None-Match": '"stale"'}).status_code == 200

    def test_head_matches_get_without_a_body(self, client: TestClient, asset: dict[str, object]) -> None:
        path = httpx.URL(str(_variant(asset, "swatch")["url"])).path
        got = client.get(path)
        head = client.head(path)
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["etag"] == got.headers["etag"]
        assert int(head.headers["content-length"]) == len(got.content)

    def test_variant_urls_need_no_key(self, client: TestClient, asset: dict[str, object]) -> None:
        path = httpx.URL(str(_variant(asset, "taobao_main")["url"])).path
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 200


class TestAliases:
    def test_alias_redirects_briefly_to_the_immutable_url(self, client: TestClient, asset: dict[str, object]) -> None:
        variant = _variant(asset, "shopify_square")
        response = client.get(httpx.URL(str(variant["alias_url"])).path, follow_redirects=False)
        assert response.status_code == 302
        assert response.headers["location"] == variant["url"]
        assert response.headers["cache-control"] == "public, max-age=60"


class TestBadVariantUrls:
    @pytest.mark.parametrize(
        "path",
        [
            "/v/ast_missing/amazon_main/abc.jpg",
            "/v/{asset}/no_such_profile/abc.jpg",
            "/v/{asset}/amazon_main/0000000000.jpg",
            "/v/{asset}/amazon_main/{version}.png",
            "/v/{asset}/amazon_main/{version}.JPG",  # one immutable URL per stored bytes
            "/v/{asset}/amazon_main/noextension",
            "/v/{asset}/no_such_profile.jpg",
            "/v/{asset}/amazon_main.webp",
        ],
    )
    def test_unknown_variants_are_json_404s(self, client: TestClient, asset: dict[str, object], path: str) -> None:
        url = httpx.URL(str(_variant(asset, "amazon_main")["url"]))
        version = url.path.rsplit("/", 1)[1].split(".")[0]
        response = client.get(path.format(asset=asset["asset_id"], version=version))
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


class TestQuarantine:
    def test_a_quarantined_master_is_not_rendered_on_request(
        self, client: TestClient, asset: dict[str, object], runtime: Runtime
    ) -> None:
        from sqlalchemy import update

        from registry.models import Job

        with runtime.db.unit_of_work() as session:
            session.execute(update(Job).where(Job.subject == asset["asset_id"]).values(status="quarantined"))
        response = client.get(httpx.URL(str(_variant(asset, "web_large")["url"])).path)
        assert response.status_code == 422
        assert response.json()["code"] == "variant_unavailable"


def test_avif_is_never_rendered_on_request_the_next_best_format_serves_meanwhile(
    client: TestClient, asset: dict[str, object], runtime: Runtime
) -> None:
    avif = _variant(asset, "avif_thumb")
    response = client.get(httpx.URL(str(avif["url"])).path, follow_redirects=False)
    assert response.status_code == 307 and response.headers["cache-control"] == "no-store"
    assert httpx.URL(response.headers["location"]).path == httpx.URL(str(_variant(asset, "web_thumb")["url"])).path
    from registry.variants import service as variants

    variants.render_missing(runtime, str(asset["asset_id"]), [runtime.catalog.profile("avif_thumb")])
    rendered = client.get(httpx.URL(str(avif["url"])).path)
    assert rendered.status_code == 200 and rendered.headers["content-type"] == "image/avif"
    with Image.open(io.BytesIO(rendered.content)) as image:
        assert image.format == "AVIF" and image.size == (400, 400)


class _KeptJobs:
    """A publisher that keeps what it was asked to run, for the test to run or inspect."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str]] = []

    def publish(self, job_id: str, kind: str) -> None:
        """Keep the job."""
        self.published.append((job_id, kind))


def test_a_missing_avif_queues_one_background_render_when_no_job_will_make_it(
    client: TestClient, asset: dict[str, object], runtime: Runtime
) -> None:
    from registry.jobs import service as jobs
    from workers.jobs import run_job

    kept = runtime.publisher = _KeptJobs()
    avif_path = httpx.URL(str(_variant(asset, "avif_thumb")["url"])).path
    # The upload's render job is still pending (its worker has not run): it will make the AVIF.
    assert client.get(avif_path, follow_redirects=False).status_code == 307
    assert kept.published == []
    # That job ended without the AVIF (e.g. the profile changed since): the next request queues one
    # render, and the requests after it reuse that pending job.
    with runtime.db.unit_of_work() as session:
        from registry.jobs.repository import JobRepository

        job = JobRepository(session).latest_for(jobs.JobKind.RENDER_ASSET.value, str(asset["asset_id"]))
        assert job is not None and job.status == jobs.JobStatus.PENDING.value
        job.status = jobs.JobStatus.DONE.value
    for _ in range(5):
        assert client.get(avif_path, follow_redirects=False).status_code == 307
    assert [kind for _, kind in kept.published] == ["render_asset"]
    run_job(runtime, kept.published[0][0])
    rendered = client.get(avif_path)
    assert rendered.status_code == 200 and rendered.headers["content-type"] == "image/avif"
