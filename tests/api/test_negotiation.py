"""One URL per profile that answers AVIF, WebP or JPEG by Accept; AVIF only once rendered in the background."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from PIL import Image

from api.hotlink import accepted_formats
from registry.runtime import Runtime
from registry.variants import service as variants
from tests.api.helpers import variant_paths
from tests.api.test_variants import _DroppedJobs
from tests.fixtures.pictures import jpeg, product

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
SAFARI_OLD = "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"
CRAWLER = "*/*"


def _format(answer: bytes) -> str:
    with Image.open(io.BytesIO(answer)) as image:
        return str(image.format)


def test_accept_headers_are_read_with_their_weights() -> None:
    assert accepted_formats(CHROME.encode()) >= {"AVIF", "WEBP"}
    assert accepted_formats(b"image/avif;q=0, image/webp;q=0.5, image/jpg") == {"WEBP", "JPEG"}
    assert accepted_formats(b"*/*") == set()
    assert accepted_formats(b"image/avif;q=x") == set()


def test_one_url_per_profile_negotiates_the_format(client: TestClient, merchant: dict[str, str],
                                                   runtime: Runtime) -> None:
    runtime.publisher = _DroppedJobs()
    asset_id, _path, _alias = variant_paths(client, merchant, jpeg(product(94, size=700)), "web_thumb")
    url = f"/v/{asset_id}/web_thumb"

    # Nothing rendered in the background yet: WebP (rendered now) even for AVIF-capable browsers.
    first = client.get(url, headers={"Accept": CHROME})
    assert first.status_code == 200 and first.headers["content-type"] == "image/webp"
    assert first.headers["vary"] == "Accept"
    assert first.headers["cache-control"] == "public, max-age=60"  # its answer changes once AVIF exists
    assert first.headers["content-location"].startswith(f"/v/{asset_id}/web_thumb/")

    variants.render_missing(runtime, asset_id)  # the background render, AVIF included
    client.app.hotlink.choices.forget()  # type: ignore[attr-defined]  # else seen within 5 s
    for accept, content_type, pillow in [(CHROME, "image/avif", "AVIF"), (SAFARI_OLD, "image/webp", "WEBP"),
                                         (CRAWLER, "image/webp", "WEBP"), ("image/avif", "image/avif", "AVIF")]:
        answer = client.get(url, headers={"Accept": accept})
        assert answer.status_code == 200, accept
        assert answer.headers["content-type"] == content_type, accept
        assert _format(answer.content) == pillow, accept
        assert answer.headers["vary"] == "Accept"
        # Revalidation works per representation.
        again = client.get(url, headers={"Accept": accept, "If-None-Match": answer.headers["etag"]})
        assert again.status_code == 304 and again.headers["vary"] == "Accept"
    # The AVIF sibling's own negotiated URL offers the same family.
    assert client.get(f"/v/{asset_id}/avif_thumb", headers={"Accept": SAFARI_OLD}).headers["content-type"] == \
        "image/webp"
    # A profile with no format siblings is not negotiated: no Vary.
    plain = client.get(f"/v/{asset_id}/swatch", headers={"Accept": CHROME})
    assert plain.status_code == 200 and plain.headers["content-type"] == "image/jpeg" and "vary" not in plain.headers
    # Explicit-format URLs stay as they were, and unknown profiles are 404s.
    assert client.get(f"/v/{asset_id}/avif_thumb.avif", follow_redirects=False).status_code == 302
    assert client.get(f"/v/{asset_id}/no_such_profile").status_code == 404
    assert client.get("/v/ast_00000000000000000000000000/web_thumb").status_code == 404
