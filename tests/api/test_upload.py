"""Uploads: new, exact and near resolution, SKU slots, and every input guard."""

from __future__ import annotations

import io
import threading

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from registry.runtime import Runtime
from tests.api.helpers import blob_files, row_counts, upload
from tests.conftest import wait_for_jobs
from tests.fixtures.pictures import encode, jpeg, product


@pytest.fixture
def picture() -> Image.Image:
    return product(11, size=700, colour=(180, 40, 40), label="AURORA", line="500 ml")


class TestResolution:
    def test_first_upload_creates_an_asset(self, client: TestClient, merchant: dict[str, str],
                                           picture: Image.Image) -> None:
        response = upload(client, merchant, jpeg(picture))
        assert response.status_code == 201
        body = response.json()
        assert body["dedup"] == "new" and body["created"] is True
        assert body["asset_id"].startswith("ast_") and body["upload_id"].startswith("upl_")

    def test_same_bytes_from_another_tenant_resolve_exactly(
        self, client: TestClient, merchant: dict[str, str], other_merchant: dict[str, str], picture: Image.Image
    ) -> None:
        data = jpeg(picture)
        first = upload(client, merchant, data).json()
        second = upload(client, other_merchant, data, name="同じ写真.jpg")
        assert second.status_code == 200
        assert second.json()["dedup"] == "exact"
        assert second.json()["asset_id"] == first["asset_id"]
        assert second.json()["upload_id"] != first["upload_id"]

    @pytest.mark.parametrize("edit", ["png", "webp", "resized", "padded", "recompressed", "cmyk", "exif_rotated"])
    def test_near_copies_resolve_to_the_same_asset(
        self, client: TestClient, merchant: dict[str, str], picture: Image.Image, edit: str
    ) -> None:
        first = upload(client, merchant, jpeg(picture, 95)).json()
        if edit == "png":
            data, name = encode(picture, "PNG"), "copy.png"
        elif edit == "webp":
            data, name = encode(picture, "WEBP", quality=80), "copy.webp"
        elif edit == "resized":
            data, name = jpeg(picture.resize((420, 420), Image.Resampling.LANCZOS), 85), "small.jpg"
        elif edit == "padded":
            canvas = Image.new("RGB", (1000, 860), (255, 255, 255))
            canvas.paste(picture, (150, 80))
            data, name = jpeg(canvas, 90), "padded.jpg"
        elif edit == "recompressed":
            data, name = jpeg(picture, 50), "q50.jpg"
        elif edit == "cmyk":
            data, name = encode(picture.convert("CMYK"), "JPEG", quality=90), "cmyk.jpg"
        else:
            exif = Image.Exif()
            exif[0x0112] = 6
            data = encode(picture.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=90, exif=exif.tobytes())
            name = "rotated.jpg"
        response = upload(client, merchant, data, name=name)
        assert response.status_code == 200, response.json()
        assert response.json()["dedup"] == "near"
        assert response.json()["asset_id"] == first["asset_id"]

    @pytest.mark.parametrize("variant", ["colour", "label_line", "other_product"])
    def test_look_alike_products_stay_distinct(
        self, client: TestClient, merchant: dict[str, str], picture: Image.Image, variant: str
    ) -> None:
        first = upload(client, merchant, jpeg(picture)).json()
        if variant == "colour":
            other = product(11, size=700, colour=(40, 150, 60), label="AURORA", line="500 ml")
        elif variant == "label_line":
            other = product(11, size=700, colour=(180, 40, 40), label="AURORA", line="750 ml")
        else:
            other = product(99, size=700)
        response = upload(client, merchant, jpeg(other))
        assert response.status_code == 201, response.json()
        assert response.json()["dedup"] == "new"
        assert response.json()["asset_id"] != first["asset_id"]

    def test_concurrent_uploads_of_one_picture_make_one_asset(
        self, client: TestClient, merchant: dict[str, str], runtime: Runtime, picture: Image.Image
    ) -> None:
        data = jpeg(picture)
        results: list[dict[str, object]] = []
        lock = threading.Lock()

        def send() -> None:
            answer = upload(client, merchant, data).json()
            with lock:
                results.append(answer)

        threads = [threading.Thread(target=send) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({r["asset_id"] for r in results}) == 1
        assert sorted(str(r["dedup"]) for r in results) == ["exact"] * 5 + ["new"]
        assert row_counts(runtime)["assets"] == 1


class TestSkuSlots:
    def test_upload_with_sku_creates_the_sku_and_slot(self, client: TestClient, merchant: dict[str, str],
                                                      picture: Image.Image) -> None:
        body = upload(client, merchant, jpeg(picture), sku="運動鞋-黑-42", role="main").json()
        assert (body["sku"], body["role"], body["position"]) == ("運動鞋-黑-42", "main", 0)
        skus = client.get("/v1/skus", headers=merchant).json()
        assert skus == [{"sku": "運動鞋-黑-42", "slots": 1}]

    def test_gallery_positions_append_in_order(self, client: TestClient, merchant: dict[str, str]) -> None:
        positions = [
            upload(client, merchant, jpeg(product(seed, size=400)), sku="SKU-1", role="gallery").json()["position"]
            for seed in (1, 2, 3)
        ]
        assert positions == [0, 1, 2]

    def test_a_position_typed_in_full_width_digits_is_read(self, client: TestClient,
                                                          merchant: dict[str, str]) -> None:
        body = upload(client, merchant, jpeg(product(4, size=400)), sku="靴-1", role="gallery", position="１２").json()
        assert body["position"] == 12

    def test_sku_is_unicode_normalised(self, client: TestClient, merchant: dict[str, str],
                                       picture: Image.Image) -> None:
        decomposed = "cafe\u0301-açaí"  # typed on a keyboard that sends combining accents
        upload(client, merchant, jpeg(picture), sku=decomposed, role="main")
        assert client.get("/v1/skus", headers=merchant).json()[0]["sku"] == "café-açaí"

    def test_skus_belong_to_their_tenant(self, client: TestClient, merchant: dict[str, str],
                                         other_merchant: dict[str, str], picture: Image.Image) -> None:
        upload(client, merchant, jpeg(picture), sku="SHARED-CODE", role="main")
        assert client.get("/v1/skus", headers=other_merchant).json() == []
        response = client.get("/v1/skus/SHARED-CODE/listing", params={"platform": "amazon"}, headers=other_merchant)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


class TestGuards:
    @pytest.mark.parametrize(
        ("fields", "code"),
        [
            ({"sku": "A1", "role": "hero"}, "invalid_input"),
            ({"sku": "A1", "position": "-1"}, "invalid_input"),
            ({"sku": "A1", "position": "two"}, "invalid_input"),
            ({"sku": "A1", "position": "1_0"}, "invalid_input"),
            ({"sku": "A1", "position": "+1"}, "invalid_input"),
            ({"sku": "A1", "position": "1000"}, "invalid_input"),
            ({"role": "main"}, "invalid_input"),
            ({"sku": "   "}, "invalid_input"),
            ({"sku": "x" * 201}, "invalid_input"),
            ({"sku": "bad\u0000code"}, "invalid_input"),
            ({"sku": ".."}, "invalid_input"),
            ({"sku": "."}, "invalid_input"),
            ({"colour": "red"}, "unknown_field"),
        ],
    )
    def test_bad_fields_are_422_and_store_nothing(
        self, client: TestClient, merchant: dict[str, str], runtime: Runtime, picture: Image.Image,
        fields: dict[str, str], code: str,
    ) -> None:
        before_rows, before_blobs = row_counts(runtime), blob_files(runtime)
        response = upload(client, merchant, jpeg(picture), **fields)
        assert response.status_code == 422
        assert response.json()["code"] == code
        assert row_counts(runtime) == before_rows
        assert blob_files(runtime) == before_blobs

    @pytest.mark.parametrize(
        ("data", "name", "status", "code"),
        [
            (b"", "empty.jpg", 400, "image_empty"),
            (b"just some text, not a picture", "notes.txt", 415, "image_unsupported_format"),
            (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "x.svg", 415,
             "image_unsupported_format"),
            (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "x.pdf", 415, "image_unsupported_format"),
            (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40, "broken.jpg", 422, "image_corrupt"),
        ],
    )
    def test_bad_files_get_a_clear_error_and_leave_nothing(
        self, client: TestClient, merchant: dict[str, str], runtime: Runtime, data: bytes, name: str,
        status: int, code: str,
    ) -> None:
        before_rows, before_blobs = row_counts(runtime), blob_files(runtime)
        response = upload(client, merchant, data, name=name)
        assert response.status_code == status, response.json()
        assert response.json()["code"] == code
        assert response.json()["message"]
        assert row_counts(runtime) == before_rows
        assert blob_files(runtime) == before_blobs

    def test_truncated_jpeg_is_rejected_without_orphans(
        self, client: TestClient, merchant: dict[str, str], runtime: Runtime, picture: Image.Image
    ) -> None:
        data = jpeg(picture)
        before_rows, before_blobs = row_counts(runtime), blob_files(runtime)
        response = upload(client, merchant, data[: len(data) // 2])
        assert response.status_code == 422
        assert response.json()["code"] == "image_corrupt"
        assert row_counts(runtime) == before_rows
        assert blob_files(runtime) == before_blobs

    def test_oversized_file_is_413(self, client: TestClient, merchant: dict[str, str], runtime: Runtime) -> None:
        runtime.limits = type(runtime.limits)(**{**runtime.limits.__dict__, "max_bytes": 10_000})
        response = upload(client, merchant, b"\xff\xd8\xff" + b"\x00" * 20_000)
        assert response.status_code == 413
        assert response.json()["code"] == "file_too_large"

    def test_too_many_pixels_is_422(self, client: TestClient, merchant: dict[str, str], runtime: Runtime) -> None:
        # JPEGs have their own (higher) limit, as they decode at reduced scale: lower both
        runtime.limits = type(runtime.limits)(**{**runtime.limits.__dict__, "max_pixels": 100_000,
                                                 "max_pixels_reducible": 100_000})
        response = upload(client, merchant, jpeg(Image.new("RGB", (400, 400), "white")))
        assert response.status_code == 422
        assert response.json()["code"] == "image_too_large"
        runtime.limits = type(runtime.limits)(**{**runtime.limits.__dict__, "max_pixels_reducible": 200_000})
        png = upload(client, merchant, encode(Image.new("RGB", (400, 400), "white"), "PNG"))
        assert (png.status_code, png.json()["code"]) == (422, "image_too_large")  # PNG keeps max_pixels
        assert upload(client, merchant, jpeg(Image.new("RGB", (400, 400), "white"))).status_code == 201

    def test_missing_file_field(self, client: TestClient, merchant: dict[str, str]) -> None:
        response = client.post("/v1/media", headers=merchant, files={"picture": ("a.jpg", b"x", "image/jpeg")})
        assert response.status_code == 422
        assert response.json()["code"] in ("file_missing", "unknown_field")

    def test_json_body_is_415(self, client: TestClient, merchant: dict[str, str]) -> None:
        response = client.post("/v1/media", headers=merchant, json={"file": "aGVsbG8="})
        assert response.status_code == 415
        assert response.json()["code"] == "multipart_required"

    def test_malformed_multipart_is_400(self, client: TestClient, merchant: dict[str, str]) -> None:
        response = client.post(
            "/v1/media",
            headers={**merchant, "Content-Type": "multipart/form-data; boundary=xyz"},
            content=b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\nabc",
        )
        assert 400 <= response.status_code < 500
        assert "code" in response.json()

    def test_failure_midway_rolls_back_rows_and_blobs(
        self, client: TestClient, merchant: dict[str, str], runtime: Runtime, picture: Image.Image,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from registry.media import uploads as service

        def explode(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("database went away mid-upload")

        monkeypatch.setattr(service, "_finish_slot", explode)
        before_rows, before_blobs = row_counts(runtime), blob_files(runtime)
        quiet = TestClient(client.app, raise_server_exceptions=False)
        response = upload(quiet, merchant, jpeg(picture), sku="S-1", role="main")
        assert response.status_code == 500
        assert response.json()["code"] == "internal_error"
        assert row_counts(runtime) == before_rows
        assert blob_files(runtime) == before_blobs


class TestUploadExplanation:
    def test_upload_detail_shows_how_it_matched(self, client: TestClient, merchant: dict[str, str],
                                                runtime: Runtime, picture: Image.Image) -> None:
        upload(client, merchant, jpeg(picture, 95))
        near = upload(client, merchant, encode(picture, "PNG"), name="copy.png").json()
        detail = client.get(f"/v1/uploads/{near['upload_id']}", headers=merchant).json()
        assert detail["dedup"] == "near"
        assert detail["filename"] == "copy.png"
        match = detail["match"]
        assert match["matched_asset_id"] == near["asset_id"]
        assert match["verification"]["accepted"] is True
        assert isinstance(match["hash_distance"], int)
        wait_for_jobs(runtime)

    def test_other_tenants_cannot_read_an_upload(self, client: TestClient, merchant: dict[str, str],
                                                 other_merchant: dict[str, str], picture: Image.Image) -> None:
        mine = upload(client, merchant, jpeg(picture)).json()
        response = client.get(f"/v1/uploads/{mine['upload_id']}", headers=other_merchant)
        assert response.status_code == 404


def _png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


class TestTimestamps:
    def test_times_carry_a_zone_on_every_database(self, client: TestClient, merchant: dict[str, str]) -> None:
        body = upload(client, merchant, jpeg(product(3, size=300))).json()
        detail = client.get(f"/v1/uploads/{body['upload_id']}", headers=merchant).json()
        assert detail["created_at"].endswith(("+00:00", "Z"))
        assert detail["thumb_url"].endswith(f"/v/{body['asset_id']}/web_thumb.webp")
