"""The attacks of issue 12 on a shared registry, each reproduced and shown to do no harm; the best
copy wins whatever the order and size ratio (issue 13); official media and master history."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from registry.media.trust import make_official_master
from registry.runtime import Runtime
from tests.api.helpers import upload
from tests.conftest import make_key
from tests.fixtures.pictures import _font, jpeg, product


def _asset(client: TestClient, headers: dict[str, str], asset_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/media/{asset_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _listing(client: TestClient, headers: dict[str, str], sku: str) -> dict[str, Any]:
    response = client.get(f"/v1/skus/{sku}/listing", params={"platform": "amazon"}, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _alias_target(client: TestClient, asset_id: str) -> str:
    response = client.get(f"/v/{asset_id}/web_thumb.webp", follow_redirects=False)
    assert response.status_code == 302
    return str(response.headers["location"])


def _with_advert(picture: Image.Image) -> Image.Image:
    # Small grey text on the product: small enough that verification still merges the copy (the
    # attack of issue 12: `near`, then promoted over the victim's master before the stricter tier).
    edited = picture.copy()
    ImageDraw.Draw(edited).text((1000, 1700), "buy cheaper at fake-shop.example", fill=(160, 160, 160),
                                font=_font(20))
    return edited


class TestMergeTakeover:
    def test_merging_a_shared_asset_changes_nothing_another_tenant_shows(
        self, client: TestClient, merchant: dict[str, str], other_merchant: dict[str, str], brand: dict[str, str]
    ) -> None:
        attacker, victim = other_merchant, merchant
        picture_y = jpeg(product(201, size=500))
        y = upload(client, attacker, picture_y).json()
        victims = upload(client, victim, picture_y, sku="VICTIM-1", role="main").json()
        assert victims["asset_id"] == y["asset_id"]
        before_listing = _listing(client, victim, "VICTIM-1")
        before_alias = _alias_target(client, y["asset_id"])
        z = upload(client, attacker, jpeg(product(202, size=500))).json()

        response = client.post(f"/v1/media/{z['asset_id']}/merge", headers=attacker,
                               json={"duplicate_asset_id": y["asset_id"]})

        assert response.status_code in (200, 403)
        assert _listing(client, victim, "VICTIM-1") == before_listing
        assert _alias_target(client, y["asset_id"]) == before_alias
        assert _asset(client, victim, y["asset_id"])["asset_id"] == y["asset_id"]
        later = upload(client, brand, picture_y).json()  # anyone's exact-bytes lookup
        assert (later["asset_id"], later["dedup"]) == (y["asset_id"], "exact")

    def test_a_merge_still_moves_the_callers_own_references(
        self, client: TestClient, merchant: dict[str, str], other_merchant: dict[str, str]
    ) -> None:
        owner = other_merchant
        picture_y = jpeg(product(203, size=500))
        y = upload(client, owner, picture_y).json()
        upload(client, merchant, picture_y, sku="KEEP-1", role="main")
        z = upload(client, owner, jpeg(product(204, size=500))).json()
        mine = upload(client, owner, picture_y, sku="MINE-1", role="main").json()
        assert mine["asset_id"] == y["asset_id"]
        assert client.post(f"/v1/media/{z['asset_id']}/merge", headers=owner,
                           json={"duplicate_asset_id": y["asset_id"]}).status_code == 200
        assert _listing(client, owner, "MINE-1")["slots"][0]["asset_id"] == z["asset_id"]
        assert _listing(client, merchant, "KEEP-1")["slots"][0]["asset_id"] == y["asset_id"]


class TestEditedCopyNeverBecomesTheMaster:
    def test_a_larger_copy_with_added_text_is_not_promoted(
        self, client: TestClient, merchant: dict[str, str], other_merchant: dict[str, str]
    ) -> None:
        original = product(211, size=2400)
        victim = upload(client, merchant, jpeg(original.resize((1200, 1200), Image.Resampling.LANCZOS), 88),
                        sku="VICTIM-3", role="main").json()
        before = _listing(client, merchant, "VICTIM-3")
        attack = upload(client, other_merchant, jpeg(_with_advert(original), 92)).json()
        # merged as a copy (it does show the product) but stopped at the stricter promotion tier
        assert (attack["asset_id"], attack["dedup"], attack["promoted"]) == (victim["asset_id"], "near", False)
        assert _listing(client, merchant, "VICTIM-3") == before
        assert _asset(client, merchant, victim["asset_id"])["master"]["width"] == 1200

    @pytest.mark.parametrize("edit", ["badge", "frame", "watermark", "logo"])
    def test_a_badge_frame_watermark_or_logo_is_not_promoted(
        self, client: TestClient, merchant: dict[str, str], other_merchant: dict[str, str], edit: str
    ) -> None:
        original = product(212, size=1600)
        victim = upload(client, merchant, jpeg(original.resize((800, 800), Image.Resampling.LANCZOS), 88)).json()
        edited = original.copy()
        draw = ImageDraw.Draw(edited)
        if edit == "badge":
            draw.ellipse([1250, 120, 1500, 370], fill=(220, 30, 30))
        elif edit == "frame":
            draw.rectangle([8, 8, 1591, 1591], outline=(30, 30, 30), width=20)
        elif edit == "watermark":
            layer = Image.new("L", edited.size, 0)
            ImageDraw.Draw(layer).text((350, 760), "fake-shop.example", fill=90, font=_font(110))
            edited.paste((120, 120, 120), (0, 0), layer)
        else:
            draw.rectangle([1300, 1420, 1560, 1540], fill=(20, 60, 160))
            draw.text((1320, 1450), "SHOP", fill=(255, 255, 255), font=_font(60))
        attack = upload(client, other_merchant, jpeg(edited, 92)).json()
        assert attack["promoted"] is False
        assert _asset(client, merchant, victim["asset_id"])["master"]["width"] == 800


class TestBestCopyWins:
    @pytest.mark.parametrize("ratio", [2, 6, 10])
    @pytest.mark.parametrize("order", ["small_first", "original_first"])
    def test_the_original_is_the_master_whatever_the_order(
        self, client: TestClient, merchant: dict[str, str], brand: dict[str, str], ratio: int, order: str
    ) -> None:
        original = product(220 + ratio, size=2400)
        small = original.resize((2400 // ratio, 2400 // ratio), Image.Resampling.LANCZOS)
        sends = [(merchant, jpeg(small, 85)), (brand, jpeg(original, 92))]
        if order == "original_first":
            sends.reverse()
        first = upload(client, sends[0][0], sends[0][1], sku="BEST-1", role="main").json()
        second = upload(client, sends[1][0], sends[1][1]).json()
        assert second["asset_id"] == first["asset_id"]
        assert second["promoted"] is (order == "small_first")
        assert _asset(client, merchant, first["asset_id"])["master"]["width"] == 2400


class TestMasterHistoryAndRestore:
    def test_the_owner_restores_the_previous_master(
        self, client: TestClient, merchant: dict[str, str], other_merchant: dict[str, str]
    ) -> None:
        original = product(231, size=1800)
        first = upload(client, merchant, jpeg(original.resize((300, 300), Image.Resampling.LANCZOS), 85),
                       sku="REST-1", role="main").json()
        better = upload(client, other_merchant, jpeg(original, 92)).json()
        assert better["promoted"] is True
        history = client.get(f"/v1/media/{first['asset_id']}/master-history", headers=merchant).json()
        assert [(h["reason"], h["previous_upload_id"]) for h in history] == [("better_copy", first["upload_id"])]
        assert client.post(f"/v1/media/{first['asset_id']}/restore-master", headers=other_merchant).status_code == 403
        restored = client.post(f"/v1/media/{first['asset_id']}/restore-master", headers=merchant)
        assert restored.status_code == 200
        assert restored.json()["master"]["width"] == 300
        assert restored.json()["master"]["upload_id"] == first["upload_id"]
        reasons = [h["reason"] for h in client.get(f"/v1/media/{first['asset_id']}/master-history",
                                                    headers=merchant).json()]
        assert reasons == ["restore", "better_copy"]


class TestOfficialMedia:
    def test_the_brands_picture_becomes_the_official_master_even_when_smaller(
        self, runtime: Runtime, client: TestClient, merchant: dict[str, str]
    ) -> None:
        brand_key = make_key(runtime, "Marca Nova", "brand")
        brand = {"Authorization": f"Bearer {brand_key}"}
        original = product(241, size=1600)
        sellers = upload(client, merchant, jpeg(original, 92), sku="OFF-1", role="main").json()
        brands = upload(client, brand, jpeg(original.resize((900, 900), Image.Resampling.LANCZOS), 90)).json()
        assert brands["asset_id"] == sellers["asset_id"]
        me = client.get("/v1/me", headers=brand).json()
        with runtime.db.unit_of_work() as session:
            change = make_official_master(session, runtime, asset_id=sellers["asset_id"],
                                          upload_id=brands["upload_id"], brand_tenant_id=me["tenant_id"],
                                          brand_name="Marca Nova")
        assert change is not None and change.reason == "official"
        seen = _asset(client, merchant, sellers["asset_id"])
        assert seen["provenance"]["official"] == "Marca Nova"
        assert seen["master"]["width"] == 900 and seen["master"]["upload_id"] is None
        # nobody's better copy replaces an official master, and the merchant owner cannot undo it
        bigger = upload(client, merchant, jpeg(product(241, size=2400), 95)).json()
        assert bigger["promoted"] is False
        assert client.post(f"/v1/media/{sellers['asset_id']}/restore-master", headers=merchant).status_code == 403

    def test_a_merchant_cannot_be_made_official(self, runtime: Runtime, client: TestClient,
                                                merchant: dict[str, str]) -> None:
        sent = upload(client, merchant, jpeg(product(242, size=600))).json()
        me = client.get("/v1/me", headers=merchant).json()
        with pytest.raises(Exception, match="brand"), runtime.db.unit_of_work() as session:
            make_official_master(session, runtime, asset_id=sent["asset_id"], upload_id=sent["upload_id"],
                                 brand_tenant_id=me["tenant_id"], brand_name="fake")


class TestDisclosure:
    def test_another_tenant_sees_only_public_facts(
        self, client: TestClient, merchant: dict[str, str], other_merchant: dict[str, str]
    ) -> None:
        picture = product(251, size=1000)
        mine = upload(client, merchant, jpeg(picture, 90), ai="edited").json()
        theirs_view = _asset(client, other_merchant, mine["asset_id"])
        assert theirs_view["owner_tenant_id"] is None and theirs_view["yours"] is False
        assert theirs_view["master"]["upload_id"] is None and theirs_view["master"]["sha256"] is None
        assert theirs_view["provenance"] == {"official": None, "ai_content": "edited"}
        my_view = _asset(client, merchant, mine["asset_id"])
        assert my_view["master"]["upload_id"] == mine["upload_id"] and my_view["yours"] is True

        near = upload(client, other_merchant, jpeg(picture.resize((700, 700), Image.Resampling.LANCZOS), 80)).json()
        assert near["asset_id"] == mine["asset_id"]
        detail = client.get(f"/v1/uploads/{near['upload_id']}", headers=other_merchant).json()
        text = str(detail["match"])
        assert mine["upload_id"] not in text and "score" not in text and "structure_diff" not in text
        exact = upload(client, other_merchant, jpeg(picture, 90)).json()
        exact_detail = client.get(f"/v1/uploads/{exact['upload_id']}", headers=other_merchant).json()
        assert mine["upload_id"] not in str(exact_detail["match"])

        found = client.post("/v1/media/search", headers=other_merchant,
                            files={"file": ("q.jpg", jpeg(picture.resize((600, 600)), 75), "image/jpeg")}).json()
        hit = next(m for m in found["matches"] if m["asset_id"] == mine["asset_id"])
        assert hit["score"] is None and hit["hash_distance"] is None and hit["verification"] == {}
        own = client.post("/v1/media/search", headers=merchant,
                          files={"file": ("q.jpg", jpeg(picture.resize((600, 600)), 75), "image/jpeg")}).json()
        assert next(m for m in own["matches"] if m["asset_id"] == mine["asset_id"])["score"] is not None

    def test_asset_ids_do_not_follow_from_upload_ids(self, client: TestClient, merchant: dict[str, str]) -> None:
        sent = upload(client, merchant, jpeg(product(252, size=400))).json()
        upload_part, asset_part = sent["upload_id"].split("_", 1)[1], sent["asset_id"].split("_", 1)[1]
        assert upload_part[:8] != asset_part[:8]  # a ULID's first characters are its time

    def test_invalid_ai_flag_is_422(self, client: TestClient, merchant: dict[str, str]) -> None:
        response = upload(client, merchant, jpeg(product(253, size=300)), ai="maybe")
        assert response.status_code == 422 and response.json()["details"]["field"] == "ai"
