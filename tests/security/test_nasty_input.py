"""No 500 from input: every hostile file is refused (or accepted) cleanly; numbers and text are bounded."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from processing.decode import DecodeLimits, decode
from processing.errors import ImageError
from registry.runtime import Runtime
from tests.api.helpers import blob_files, row_counts, upload
from tests.fixtures import nasty
from tests.fixtures.pictures import jpeg, product

LIMITS = DecodeLimits()


def _multipart(boundary: str) -> str:
    return f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("name", sorted(nasty.REFUSED))
def test_decoder_refuses_with_an_image_error(name: str) -> None:
    with pytest.raises(ImageError):
        decode(nasty.REFUSED[name](), LIMITS)


@pytest.mark.parametrize("name", sorted(nasty.TOLERATED))
def test_decoder_tolerates_or_refuses_cleanly(name: str) -> None:
    try:
        decoded = decode(nasty.TOLERATED[name](), LIMITS)
    except ImageError:
        return
    assert decoded.width > 0 and decoded.height > 0


def test_tiff_missing_dimensions_reached_a_type_error_before() -> None:
    # The fixture reproduces the crash class: Pillow itself raises TypeError, not an OSError.
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(nasty.tiff_second_frame_without_dimensions()))
    with pytest.raises(TypeError, match="Missing dimensions"):
        _ = image.n_frames  # type: ignore[attr-defined]


class TestUploadsOfNastyFiles:
    def test_every_nasty_file_gets_a_4xx_with_a_code_and_leaves_nothing(
        self, runtime: Runtime, client: TestClient, merchant: dict[str, str]
    ) -> None:
        before, blobs = row_counts(runtime), blob_files(runtime)
        for name, build in sorted(nasty.REFUSED.items()):
            response = upload(client, merchant, build(), name=f"{name}.bin", sku="NASTY-1", role="main")
            assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
            body = response.json()
            assert body["code"] and body["status"] == response.status_code, name
        assert row_counts(runtime) == before
        assert blob_files(runtime) == blobs
        for name, build in sorted(nasty.TOLERATED.items()):
            response = upload(client, merchant, build(), name=f"{name}.bin")
            assert response.status_code < 500, (name, response.text)

    def test_search_with_a_nasty_file_is_4xx(self, client: TestClient, merchant: dict[str, str]) -> None:
        response = client.post("/v1/media/search", headers=merchant, files={
            "file": ("t.tif", nasty.tiff_second_frame_without_dimensions(), "image/tiff")})
        assert response.status_code == 422
        assert response.json()["code"] == "image_corrupt"


class TestNumbersAndText:
    def test_a_4301_digit_position_is_422(self, client: TestClient, merchant: dict[str, str]) -> None:
        response = upload(client, merchant, jpeg(product(5, size=300)), sku="S-1", role="gallery",
                          position="9" * 4301)
        assert response.status_code == 422
        assert response.json()["details"]["field"] == "position"

    @pytest.mark.parametrize("query", ["limit=" + "9" * 5000, "limit=-1", "limit=1e9"])
    def test_numeric_query_fields_are_4xx(self, client: TestClient, merchant: dict[str, str], query: str) -> None:
        response = client.get(f"/v1/uploads?{query}", headers=merchant)
        assert response.status_code == 422

    def test_invalid_utf8_in_a_field_is_refused(self, runtime: Runtime, client: TestClient,
                                                merchant: dict[str, str]) -> None:
        boundary = "b0undary"
        picture = jpeg(product(6, size=300))
        body = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"sku\"\r\n\r\n".encode()
            + b"S\xe3o-Paulo-1"  # Latin-1 bytes, not UTF-8
            + f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
              "Content-Type: image/jpeg\r\n\r\n".encode()
            + picture + f"\r\n--{boundary}--\r\n".encode()
        )
        before = row_counts(runtime)
        response = client.post("/v1/media", headers={**merchant, "content-type": _multipart(boundary)}, content=body)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_utf8"
        assert row_counts(runtime) == before

    def test_invalid_utf8_in_a_file_name_is_refused(self, client: TestClient, merchant: dict[str, str]) -> None:
        boundary = "b0undary"
        body = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"".encode()
            + b"caf\xe9.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" + jpeg(product(6, size=300))
            + f"\r\n--{boundary}--\r\n".encode()
        )
        response = client.post("/v1/media", headers={**merchant, "content-type": _multipart(boundary)}, content=body)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_utf8"

    def test_utf8_fields_still_work(self, client: TestClient, merchant: dict[str, str]) -> None:
        response = upload(client, merchant, jpeg(product(7, size=300)), name="café.jpg", sku="São-Paulo-保温杯",
                          role="main")
        assert response.status_code == 201
        assert response.json()["sku"] == "São-Paulo-保温杯"

    def test_broken_multipart_is_400(self, client: TestClient, merchant: dict[str, str]) -> None:
        response = client.post("/v1/media", headers={**merchant, "content-type": "multipart/form-data"},
                               content=b"--x\r\n")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_multipart"
