"""Shared steps of the brand tests: a catalogue, official pictures and a published pack."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.fixtures.pictures import jpeg, product

# Valid GTINs: a GTIN-13, a UPC-12 and a GTIN-8 (normalised to 14 digits by the registry).
GTIN_TEA = "4006381333931"
GTIN_TEA_14 = "04006381333931"
GTIN_SOAP = "036000291452"
GTIN_SOAP_14 = "00036000291452"
GTIN_PEN = "96385074"
BRAND_NAME = "品牌官方"


def register(client: TestClient, headers: dict[str, str], sku: str, gtin: str, title: str = "") -> Any:
    """POST a product."""
    return client.post("/v1/catalog/products", headers=headers, json={"sku": sku, "gtin": gtin, "title": title})


def official(client: TestClient, headers: dict[str, str], gtin: str, data: bytes, name: str = "p.jpg",
             **fields: str) -> Any:
    """POST an official picture of a product."""
    return client.post(f"/v1/catalog/products/{gtin}/media", headers=headers,
                       files={"file": (name, data, "image/jpeg")}, data=fields)


# Large enough for every marketplace profile: they refuse to enlarge (Walmart's minimum is 1500 px).
MARKETPLACE_SIZE = 1800
# Walmart's main image must reach 1500 px on a canvas where the product fills 85%.
WALMART_SIZE = 2400


def picture(seed: int, size: int = MARKETPLACE_SIZE) -> bytes:
    """A distinct product shot."""
    return jpeg(product(seed, size=size, label=f"P{seed}"))


def published_pack(client: TestClient, brand: dict[str, str], name: str = "spring", *,
                   size: int = MARKETPLACE_SIZE, **terms: Any) -> Any:
    """Two products with pictures in a pack, published as version 1; returns the version JSON."""
    assert register(client, brand, "茶-绿-250g", GTIN_TEA, "Chá verde 250 g").status_code == 200
    assert register(client, brand, "SOAP-1", GTIN_SOAP, "Sabonete").status_code == 200
    assert official(client, brand, GTIN_TEA, picture(11, size), facet="C1N1").status_code == 201
    gallery = official(client, brand, GTIN_TEA, picture(12, size), facet="C7N1", role="gallery", position="0")
    assert gallery.status_code == 201
    assert official(client, brand, GTIN_SOAP, picture(13, size), facet="C1N1").status_code == 201
    saved = client.put(f"/v1/packs/{name}", headers=brand, json={"title": "Spring", "gtins": [GTIN_TEA, GTIN_SOAP]})
    assert saved.status_code == 200, saved.text
    published = client.post(f"/v1/packs/{name}/publish", headers=brand, json={"changelog": "first", **terms})
    assert published.status_code == 201, published.text
    return published.json()
