"""Profile catalogue parsing: the shipped file is sound, broken files are refused, digests are honest."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from processing import profiles
from processing.profiles import (
    Catalog,
    Fit,
    Gravity,
    Profile,
    ProfileError,
    is_tenant_name,
    load_catalog,
    parse_catalog,
    parse_profile,
    profile_fields,
)

GOOD = """
[profiles.main]
description = "Main image"
width = 1000
height = 1000
fit = "pad"
trim = true
fill = 0.85
upscale = true
background = "#ffffff"
format = "JPEG"
quality = 90

[profiles.thumb]
width = 200
height = 200
format = "webp"

[platforms.shop]
main = "main"
thumb = "thumb"
"""

BASE: dict[str, Any] = {
    "width": 1000,
    "height": 1000,
    "fit": "pad",
    "trim": True,
    "fill": 0.85,
    "upscale": True,
    "background": "#ffffff",
    "format": "JPEG",
    "quality": 90,
}


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _one(**changes: object) -> str:
    fields = {**BASE, **changes}
    body = "\n".join(f"{key} = {_toml_value(value)}" for key, value in fields.items() if value is not None)
    return f"[profiles.p]\n{body}\n"


def test_shipped_catalogue_is_sound() -> None:
    catalog = load_catalog()
    assert isinstance(catalog, Catalog)
    assert {"amazon_main", "web_thumb", "swatch"} <= set(catalog.profiles)
    for platform, roles in catalog.platforms.items():
        assert {"main", "gallery", "swatch"} <= set(roles), platform
        for role in roles:
            assert isinstance(catalog.profile_for(platform, role), Profile)
    digests = [profile.digest for profile in catalog.profiles.values()]
    assert len(set(digests)) == len(digests)


def test_marketplace_main_images_are_pure_white_jpeg() -> None:
    catalog = load_catalog()
    for platform in ("amazon", "walmart", "taobao", "mercadolibre", "shopify"):
        profile = catalog.profile_for(platform, "main")
        assert profile.background_rgb == (255, 255, 255)
        assert profile.format == "JPEG"
        assert profile.fit is Fit.PAD
        assert profile.trim
    amazon = catalog.profile_for("amazon", "main")
    assert (amazon.width, amazon.height, amazon.fill) == (2000, 2000, 0.85)


def test_load_catalog_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "profiles.toml"
    path.write_text(GOOD, encoding="utf-8")
    catalog = load_catalog(path)
    assert catalog.profile_for("shop", "thumb").name == "thumb"


def test_defaults_and_normalisation() -> None:
    catalog = parse_catalog(GOOD)
    thumb = catalog.profile("thumb")
    assert thumb.format == "WEBP"
    assert (thumb.fit, thumb.trim, thumb.fill, thumb.upscale, thumb.quality) == (
        Fit.CONTAIN,
        False,
        1.0,
        False,
        85,
    )
    assert thumb.background_rgb == (255, 255, 255)
    assert (thumb.extension, thumb.content_type) == ("webp", "image/webp")
    main = catalog.profile("main")
    assert main.description == "Main image"
    with pytest.raises(KeyError):
        catalog.profile("nope")
    with pytest.raises(KeyError):
        catalog.profile_for("shop", "nope")


def test_background_colour_is_parsed() -> None:
    profile = parse_catalog(_one(background="#102030")).profile("p")
    assert profile.background_rgb == (16, 32, 48)
    assert parse_catalog(_one(background="A0B0C0")).profile("p").background_rgb == (160, 176, 192)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[profiles.p\nwidth = 1", id="not_toml"),
        pytest.param("[profiles.p]\nwidth = ", id="truncated_toml"),
        pytest.param(GOOD + '\n[platforms.other]\nmain = "missing"\n', id="unknown_profile_reference"),
        pytest.param(GOOD + "\n[platforms.other]\nmain = 3\n", id="profile_reference_not_a_string"),
        pytest.param(
            GOOD.replace("platforms.shop]\n", 'platforms.shop]\nzoom = "main "\n'), id="reference_typo"
        ),
        pytest.param('[platforms]\nshop = "main"\n', id="platform_not_a_table"),
        pytest.param("[profiles]\np = 5\n", id="profile_not_a_table"),
        pytest.param('profiles = "x"\n', id="profiles_not_a_table"),
        pytest.param(_one(format="GIF"), id="format_gif"),
        pytest.param(_one(format="BMP"), id="format_bmp"),
        pytest.param(_one(format=""), id="format_empty"),
        pytest.param(_one(quality=0), id="quality_0"),
        pytest.param(_one(quality=101), id="quality_101"),
        pytest.param(_one(quality=85.5), id="quality_fraction"),
        pytest.param(_one(quality="high"), id="quality_word"),
        pytest.param(_one(quality=True), id="quality_bool"),
        pytest.param(_one(fill=0.05), id="fill_too_small"),
        pytest.param(_one(fill=1.2), id="fill_over_1"),
        pytest.param(_one(fill="most"), id="fill_word"),
        pytest.param(_one(fill=True), id="fill_bool"),
        pytest.param(_one(width=0), id="width_0"),
        pytest.param(_one(height=20_000), id="height_huge"),
        pytest.param(_one(width=None), id="width_missing"),
        pytest.param(_one(width=True), id="width_bool"),
        pytest.param(_one(fit="stretch"), id="fit_unknown"),
        pytest.param(_one(background="#fff"), id="background_short"),
        pytest.param(_one(background="#zzzzzz"), id="background_not_hex"),
        pytest.param(_one(background="white"), id="background_name"),
        pytest.param(_one(trim="false"), id="trim_string"),
        pytest.param(_one(upscale=1), id="upscale_int"),
        pytest.param(_one(qualty=90), id="misspelt_key"),
        pytest.param('[profiles."main/../x"]\nwidth = 10\nheight = 10\n', id="name_with_slash"),
    ],
)
def test_bad_catalogue_is_refused(text: str) -> None:
    with pytest.raises(ProfileError):
        parse_catalog(text)


def test_profile_error_is_a_value_error() -> None:
    assert issubclass(ProfileError, ValueError)


RENDERING_CHANGES: dict[str, Any] = {
    "width": 1001,
    "height": 999,
    "fit": Fit.CONTAIN,
    "trim": False,
    "fill": 0.9,
    "upscale": False,
    "background": "#fefefe",
    "format": "WEBP",
    "quality": 89,
    "min_side": 500,
    "max_upscale": 1.5,
    "max_bytes": 1_000_000,
    "gravity": Gravity.SMART,
}
LEGACY_DIGEST = "35850525f07a795f"
# What a marketplace's rule says without shaping the bytes: the compliance report reads these.
COMPLIANCE_ONLY: dict[str, Any] = {
    "colour_space": "sRGB",
    "background_rule": "white",
    "min_fill": 0.85,
    "max_side": 10_000,
    "max_pixels": 64_000_000,
    "max_text_share": 0.2,
    "source": "https://example.com/rules",
    "version": 2,
}


def test_every_profile_field_is_covered() -> None:
    fields = {field.name for field in dataclasses.fields(Profile)}
    assert fields == set(RENDERING_CHANGES) | set(COMPLIANCE_ONLY) | {"name", "description", "fallback"}


def test_fallback_names_a_servable_profile_and_leaves_the_digest() -> None:
    avif = GOOD.replace('format = "webp"', 'format = "avif"\nfallback = "main"')
    catalog = parse_catalog(avif)
    assert catalog.profile("thumb").fallback == "main"
    assert catalog.profile("thumb").digest == parse_catalog(GOOD.replace('"webp"', '"avif"')).profile("thumb").digest
    for bad in ('fallback = "nowhere"', 'fallback = "thumb"'):
        with pytest.raises(ProfileError, match="fallback"):
            parse_catalog(GOOD.replace('format = "webp"', f'format = "avif"\n{bad}'))


@pytest.mark.parametrize("field", sorted(COMPLIANCE_ONLY))
def test_digest_ignores_compliance_only_fields(field: str) -> None:
    profile = parse_catalog(_one()).profile("p")
    assert parse_catalog(_one(**{field: COMPLIANCE_ONLY[field]})).profile("p").digest == profile.digest


def test_new_fields_left_unset_keep_the_old_digest() -> None:
    # digest of BASE as computed before min_side & co. existed: their URLs must not move
    assert parse_catalog(_one()).profile("p").digest == LEGACY_DIGEST


@pytest.mark.parametrize(
    "changes",
    [{"max_upscale": 0.5}, {"min_side": 5000}, {"colour_space": "AdobeRGB"}, {"min_fill": 2},
     {"max_side": 10}, {"max_pixels": 10}, {"max_bytes": -1}, {"gravity": "left"}, {"version": 0},
     {"background_rule": "grey"}, {"max_upscale": True}],
    ids=str,
)
def test_bad_new_fields_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ProfileError):
        parse_catalog(_one(**changes))


@pytest.mark.parametrize("field", sorted(RENDERING_CHANGES))
def test_digest_changes_with_every_rendering_field(field: str) -> None:
    profile = parse_catalog(_one()).profile("p")
    changed = dataclasses.replace(profile, **{field: RENDERING_CHANGES[field]})
    assert changed.digest != profile.digest
    # and the same value parsed from TOML gives the same digest (it is a pure function of the data)
    raw = RENDERING_CHANGES[field]
    reparsed = parse_catalog(_one(**{field: raw.value if isinstance(raw, Fit | Gravity) else raw})).profile("p")
    assert reparsed.digest == changed.digest


def test_digest_ignores_the_description() -> None:
    profile = parse_catalog(_one(description="one")).profile("p")
    assert parse_catalog(_one(description="another wording")).profile("p").digest == profile.digest
    assert parse_catalog(_one()).profile("p").digest == profile.digest


def test_digest_moves_with_the_renderer_version(monkeypatch: pytest.MonkeyPatch) -> None:
    profile = parse_catalog(_one()).profile("p")
    before = profile.digest
    monkeypatch.setattr(profiles, "RENDERER_VERSION", profiles.RENDERER_VERSION + 1)
    assert profile.digest != before


def test_digest_is_stable_across_releases() -> None:
    # Digests are part of immutable variant URLs: an accidental change here moves every URL.
    catalog = load_catalog()
    # amazon_main moved once, on purpose (issue 14: 1000 px minimum, no enlarging, 10 MB limit)
    assert catalog.profile("amazon_main").digest == "bce8f9ce1b78c7fb"
    # profiles the marketplace work did not touch kept theirs
    assert catalog.profile("web_thumb").digest == "2c2da52f284f193c"
    assert catalog.profile("web_large").digest == "5c222d58792a33be"


@pytest.mark.parametrize(("name", "tenant"), [
    ("shop~tile", True), ("t1a2b3c4d~x", True), ("a-b~c_d-1", True), ("shop~Tile", False), ("Shop~tile", False),
    ("s~tile", False), ("shop~", False), ("~tile", False), ("shop~ti~le", False), ("amazon_main", False),
    ("shop~" + "x" * 40, False), ("x" * 21 + "~t", False), ("shop~t.jpg", False), ("shop/tile", False),
])
def test_tenant_names_are_namespaced_and_bounded(name: str, tenant: bool) -> None:
    assert is_tenant_name(name) is tenant
    if tenant:
        assert len(name) <= 60  # the variants table's profile column


def test_a_built_in_name_may_not_look_like_a_tenants() -> None:
    with pytest.raises(ProfileError):
        parse_catalog(GOOD.replace("[profiles.thumb]", '[profiles."shop~thumb"]'))


def test_tenant_profiles_parse_with_the_same_rules() -> None:
    profile = parse_profile("shop~tile", {"width": 100, "height": 100, "format": "jpeg"})
    assert (profile.name, profile.format) == ("shop~tile", "JPEG")
    assert parse_profile("shop~tile", profile_fields(profile)) == profile  # the stored form reads back
    with pytest.raises(ProfileError, match="pixels"):
        parse_profile("shop~tile", {"width": 10_000, "height": 10_000})


def test_the_live_table_lets_tenant_names_through_but_lists_built_ins_only() -> None:
    catalog = parse_catalog(GOOD)
    live = catalog.with_tenant_names()
    assert live.with_tenant_names() is live
    assert "shop~tile" in live.profiles and "shop~tile" not in catalog.profiles
    assert "nope" not in live.profiles and "Shop~tile" not in live.profiles
    assert list(live.profiles) == list(catalog.profiles) and live.profiles.get("shop~tile") is None
    with pytest.raises(KeyError):
        live.profile("shop~tile")
