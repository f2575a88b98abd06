"""Catalogue: products by SKU and GTIN, CSV import all-or-nothing with errors per line, official pictures."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from registry.catalog.gtin import InvalidGtin, check_digit, normalise_gtin, parse_gs1_name, slots_for
from registry.errors import InvalidInput
from registry.models import Product, ProductSlot, Upload
from registry.runtime import Runtime
from tests.brand.helpers import GTIN_PEN, GTIN_SOAP, GTIN_TEA, GTIN_TEA_14, official, picture, register


class TestGtin:
    @pytest.mark.parametrize(("raw", "expected"), [
        ("96385074", "00000096385074"), ("036000291452", "00036000291452"),
        ("4006381333931", "04006381333931"), ("10614141000415", "10614141000415"),
        (" 400-6381 333931 ", "04006381333931"),
    ])
    def test_every_length_normalises_to_14_digits(self, raw: str, expected: str) -> None:
        assert normalise_gtin(raw) == expected

    @pytest.mark.parametrize("raw", ["4006381333932", "1234567", "123456789012345", "40063813339３1", "abc", ""])
    def test_wrong_check_digit_length_or_characters_are_refused(self, raw: str) -> None:
        with pytest.raises(InvalidGtin):
            normalise_gtin(raw)

    def test_check_digit(self) -> None:
        assert check_digit("0001234567890") == 5

    def test_gs1_names_map_front_to_main_then_back_and_sides(self) -> None:
        names = [parse_gs1_name(s) for s in ("00012345678905_C2N1_s02", "00012345678905_C7N1",
                                              "00012345678905_C1N1", "00012345678905_C8N1_150ml_Front")]
        assert [(n.facet, role, pos) for n, role, pos in slots_for(names)] == [
            ("C1N1", "main", 0), ("C7N1", "gallery", 0), ("C2N1", "gallery", 1), ("C8N1", "gallery", 2)]

    @pytest.mark.parametrize("stem", ["00012345678906_C1N1", "front", "00012345678905-C1N1", "00012345678905_C5N1"])
    def test_bad_gs1_names_are_refused(self, stem: str) -> None:
        with pytest.raises(InvalidInput):
            parse_gs1_name(stem)


def test_brand_registers_products_in_any_script(client: TestClient, brand: dict[str, str]) -> None:
    made = register(client, brand, "茶叶-绿茶-250g", GTIN_TEA, "Chá verde — 绿茶 250 g")
    assert made.status_code == 200, made.text
    assert made.json()["gtin"] == GTIN_TEA_14
    again = client.post("/v1/catalog/products", headers=brand, json={
        "sku": "茶叶-绿茶-250g", "gtin": GTIN_TEA_14, "title": "Chá verde", "attributes": {"peso": "250 g"}})
    assert again.json()["attributes"] == {"peso": "250 g"}
    listed = client.get("/v1/catalog/products", headers=brand).json()
    assert [p["title"] for p in listed] == ["Chá verde"]
    assert client.get(f"/v1/catalog/products/{GTIN_TEA}", headers=brand).json()["sku"] == "茶叶-绿茶-250g"


def test_merchants_cannot_keep_a_catalogue(client: TestClient, merchant: dict[str, str]) -> None:
    answer = register(client, merchant, "X", GTIN_TEA)
    assert answer.status_code == 403
    assert answer.json()["code"] == "forbidden"


def test_a_bad_gtin_is_a_clear_422(client: TestClient, brand: dict[str, str]) -> None:
    answer = register(client, brand, "X", "4006381333932")
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_gtin"
    assert "should be 1" in answer.json()["message"]


def _count(runtime: Runtime, model: type) -> int:
    with runtime.db.read_only() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_csv_import_is_all_or_nothing_with_errors_by_line(client: TestClient, brand: dict[str, str],
                                                          runtime: Runtime) -> None:
    bad = ("\ufeffsku,gtin,title,cor\n"
           "茶-1,4006381333931,Chá verde,verde\n"
           "SOAP,036000291453,Sabonete,branco\n"
           "PEN,12345,Caneta,azul\n"
           "茶-1,96385074,Dup,\n")
    answer = client.post("/v1/catalog/import", headers={**brand, "Content-Type": "text/csv"},
                         content=bad.encode())
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["code"] == "import_rejected"
    assert [(e["line"], e["field"]) for e in body["details"]["errors"]] == [(3, "gtin"), (4, "gtin"), (5, "sku")]
    assert _count(runtime, Product) == 0
    good = ("sku,gtin,title,cor\n茶-1,4006381333931,Chá verde,verde\nSOAP,036000291452,Sabonete,branco\n"
            f"PEN,{GTIN_PEN},Caneta,\n")
    answer = client.post("/v1/catalog/import", headers={**brand, "Content-Type": "text/csv"}, content=good.encode())
    assert answer.json() == {"created": 3, "updated": 0}
    tea = client.get(f"/v1/catalog/products/{GTIN_TEA}", headers=brand).json()
    assert tea["attributes"] == {"cor": "verde"}
    assert tea["title"] == "Chá verde"


def test_csv_import_without_the_columns_or_utf8_is_refused(client: TestClient, brand: dict[str, str]) -> None:
    missing = client.post("/v1/catalog/import", headers=brand, content=b"name,code\nx,y\n")
    assert missing.status_code == 422
    assert missing.json()["details"]["errors"][0]["field"] == "sku"
    latin1 = client.post("/v1/catalog/import", headers=brand, content="sku,gtin\nChá,96385074\n".encode("latin-1"))
    assert latin1.status_code == 422
    assert latin1.json()["code"] == "invalid_encoding"


def test_a_sku_held_by_another_gtin_rolls_back_the_whole_import(client: TestClient, brand: dict[str, str],
                                                                runtime: Runtime) -> None:
    register(client, brand, "TAKEN", GTIN_SOAP)
    csv_text = f"sku,gtin\nNEW,{GTIN_PEN}\nTAKEN,{GTIN_TEA}\n"
    answer = client.post("/v1/catalog/import", headers=brand, content=csv_text.encode())
    assert answer.status_code == 422
    assert answer.json()["details"]["errors"][0]["line"] == 3
    assert _count(runtime, Product) == 1


def test_official_picture_goes_into_the_product_slot(client: TestClient, brand: dict[str, str]) -> None:
    register(client, brand, "TEA", GTIN_TEA)
    front = official(client, brand, GTIN_TEA, picture(1), facet="C1N1")
    assert front.status_code == 201, front.text
    assert (front.json()["role"], front.json()["position"], front.json()["facet"]) == ("main", 0, "C1N1")
    back = official(client, brand, GTIN_TEA, picture(2), facet="C7N1")
    assert (back.json()["role"], back.json()["position"]) == ("gallery", 0)
    slots = client.get(f"/v1/catalog/products/{GTIN_TEA}", headers=brand).json()["slots"]
    assert [(s["role"], s["facet"]) for s in slots] == [("main", "C1N1"), ("gallery", "C7N1")]


def test_no_picture_is_uploaded_for_a_product_not_in_the_catalogue(client: TestClient, brand: dict[str, str],
                                                                   runtime: Runtime) -> None:
    answer = official(client, brand, GTIN_TEA, picture(3), facet="C1N1")
    assert answer.status_code == 404
    bad = official(client, brand, "4006381333932", picture(3))
    assert bad.status_code == 422
    assert _count(runtime, Upload) == 0
    assert _count(runtime, ProductSlot) == 0


def test_the_brand_copy_becomes_the_master_of_a_merchant_asset(client: TestClient, brand: dict[str, str],
                                                               merchant: dict[str, str]) -> None:
    from tests.api.helpers import upload
    from tests.fixtures.pictures import jpeg, product

    image = product(41, size=1200, label="OFFICIAL")
    small = upload(client, merchant, jpeg(image.resize((400, 400)))).json()
    register(client, brand, "TEA", GTIN_TEA)
    made = official(client, brand, GTIN_TEA, jpeg(image), facet="C1N1").json()
    assert made["asset_id"] == small["asset_id"]
    asset = client.get(f"/v1/media/{made['asset_id']}", headers=merchant).json()
    assert asset["master"]["width"] == 1200


def test_a_concurrent_create_of_the_same_gtin_is_a_409_not_a_500(client: TestClient, brand: dict[str, str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from registry.catalog.repository import CatalogRepository

    assert register(client, brand, "TEA", GTIN_TEA).status_code == 200
    # the other request's row is invisible to this one until it tries to insert
    monkeypatch.setattr(CatalogRepository, "by_gtin", lambda self, brand_tenant_id, gtin: None)
    monkeypatch.setattr(CatalogRepository, "by_sku", lambda self, brand_tenant_id, sku: None)
    answer = register(client, brand, "TEA-2", GTIN_TEA)
    assert answer.status_code == 409
    assert answer.json()["code"] == "conflict"


def test_gs1_folder_plan_reports_bad_names_and_duplicate_facets(tmp_path: Path) -> None:
    from api.cli import plan_gs1

    names = ["00012345678905_C1N1.jpg", "00012345678905_C7N1.png", "00012345678905_C1N1_s02.jpg",
             "00012345678905_C7N1.jpg", "00012345678906_C1N1.jpg", "photo.jpg"]
    planned, errors = plan_gs1([tmp_path / name for name in names])
    # a sequence suffix is another picture of the same facet; the same name twice is an error
    assert [(p.path.name, p.role, p.position) for p in planned] == [
        ("00012345678905_C1N1.jpg", "main", 0), ("00012345678905_C1N1_s02.jpg", "gallery", 0),
        ("00012345678905_C7N1.png", "gallery", 1)]
    assert len(errors) == 3
    assert any("check digit" in e for e in errors)
    assert any("same facet" in e for e in errors)
