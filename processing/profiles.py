"""Variant profiles and platform slot maps, parsed from TOML data."""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from processing.decode import MIME_TYPES

# Bump when rendering code changes output bytes, so every variant URL moves.
RENDERER_VERSION = 1

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "AVIF": "avif"}


class Fit(StrEnum):
    """How the picture is placed in the profile's box."""

    PAD = "pad"
    CONTAIN = "contain"
    COVER = "cover"


class Gravity(StrEnum):
    """Where a cover crop is taken: the middle, or where the picture's detail is."""

    CENTRE = "centre"
    SMART = "smart"


class BackgroundRule(StrEnum):
    """What the marketplace demands around the product (checked by the compliance report)."""

    ANY = "any"
    WHITE = "white"  # pure RGB 255,255,255 at the border


class ProfileError(ValueError):
    """A profile or platform definition that cannot be used."""


@dataclass(frozen=True)
class Profile:
    """One rendition recipe: box, fit, background, trimming and encoding."""

    name: str
    description: str
    width: int
    height: int
    fit: Fit
    trim: bool
    fill: float
    upscale: bool
    background: str
    format: str
    quality: int
    # Fields below default to the behaviour profiles had before they existed, so a profile that does
    # not set them keeps its digest (and its URLs).
    min_side: int = 0  # the output's longer side may not be shorter (marketplace minimum)
    max_upscale: float | None = None  # None: as `upscale` says (unbounded when true)
    max_bytes: int = 0  # 0: no limit; otherwise quality steps down until the file fits
    gravity: Gravity = Gravity.CENTRE
    # Compliance-only facts: they describe the marketplace's rule and never shape the bytes.
    colour_space: str = "sRGB"
    background_rule: BackgroundRule = BackgroundRule.ANY
    min_fill: float = 0.0
    max_text_share: float = 0.0  # 0: not checked; else the share of a 10x10 grid text may cover
    max_side: int = 0
    max_pixels: int = 0
    source: str = ""
    version: int = 1
    # served (by redirect) while this profile's variant is not rendered yet: AVIF is background work
    fallback: str = ""

    @property
    def upscale_limit(self) -> float:
        """The largest enlargement of source pixels this profile accepts."""
        if not self.upscale:
            return 1.0
        return math.inf if self.max_upscale is None else self.max_upscale

    @property
    def extension(self) -> str:
        """File extension of the encoded variant."""
        return EXTENSIONS[self.format]

    @property
    def content_type(self) -> str:
        """MIME type of the encoded variant."""
        return MIME_TYPES[self.format]

    @property
    def background_rgb(self) -> tuple[int, int, int]:
        """The background colour as an RGB triple."""
        value = self.background.lstrip("#")
        return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))

    @property
    def digest(self) -> str:
        """A short hash of everything that shapes the output bytes."""
        spec = asdict(self)
        defaults = {f.name: f.default for f in fields(Profile)}
        for key in list(spec):
            if key not in _SHAPING or (key in _SHAPING_SINCE_V2 and spec[key] == defaults[key]):
                spec.pop(key)
        spec["renderer_version"] = RENDERER_VERSION
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


class ProfileTable(dict[str, Profile]):
    """The built-in profiles, in a process where tenants' profiles (registry rows) also exist.

    Iterating, `len`, `[name]` and `.get` see the built-ins only. `name in table` is also true for any name
    shaped like a tenant's (`namespace~name`): the hot path asks it from memory to refuse unknown built-in
    names cheaply, and leaves a tenant's name to `registry.variants.service`, which looks it up (and
    checks who may use it) in a worker thread.
    """

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or (isinstance(name, str) and is_tenant_name(name))


@dataclass(frozen=True)
class Catalog:
    """All known profiles and, per platform, which profile serves which slot role."""

    profiles: dict[str, Profile]
    platforms: dict[str, dict[str, str]]

    def with_tenant_names(self) -> Catalog:
        """The same catalogue, whose `profiles` also admits tenant-shaped names (see ProfileTable)."""
        if isinstance(self.profiles, ProfileTable):
            return self
        return Catalog(profiles=ProfileTable(self.profiles), platforms=self.platforms)

    def profile(self, name: str) -> Profile:
        """The profile called `name`; KeyError if unknown."""
        return self.profiles[name]

    def profile_for(self, platform: str, role: str) -> Profile:
        """The profile a platform uses for a slot role; KeyError if unknown."""
        return self.profiles[self.platforms[platform][role]]


_LEGACY_SHAPING = frozenset(
    {"name", "width", "height", "fit", "trim", "fill", "upscale", "background", "format", "quality"}
)
# Output-shaping fields added later: part of the digest only when set, so older digests stand.
_SHAPING_SINCE_V2 = frozenset({"min_side", "max_upscale", "max_bytes", "gravity"})
_SHAPING = _LEGACY_SHAPING | _SHAPING_SINCE_V2
_PROFILE_KEYS = frozenset(f.name for f in fields(Profile)) - {"name"}
COLOUR_SPACES = ("sRGB",)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
# Bounds every profile keeps, built-in or a tenant's: the server never renders more than this per variant.
MAX_SIDE = 10_000
MAX_CANVAS_PIXELS = 25_000_000
MAX_BYTES_LIMIT = 50_000_000
# A tenant's profile is called `<namespace>~<name>`: '~' is URL-safe (RFC 3986 unreserved), safe in file names,
# and no built-in name may hold it, so a tenant's name can never shadow a built-in one. Both parts are lower
# case (no two names differ only by case on a case-insensitive disk); 60 characters fit the variants table.
TENANT_SEPARATOR = "~"
NAMESPACE_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,19}")
TENANT_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,38}")
# What a tenant may set through the API: every field of a built-in except the ones the registry assigns.
TENANT_FIELDS = frozenset(_PROFILE_KEYS - {"version"})


def is_tenant_name(name: str) -> bool:
    """Whether `name` has the shape of a tenant's profile name (`namespace~name`); says nothing of existence."""
    namespace, sep, short = name.partition(TENANT_SEPARATOR)
    return bool(sep) and bool(NAMESPACE_PATTERN.fullmatch(namespace)) and bool(TENANT_NAME_PATTERN.fullmatch(short))
_HEX_COLOUR = re.compile(r"#?[0-9A-Fa-f]{6}")


def _flag(raw: dict[str, Any], key: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):  # bool("false") is True: only real TOML booleans are taken
        raise TypeError(f"{key} must be true or false, not {value!r}")
    return value


def _whole(raw: dict[str, Any], key: str, default: int | None = None) -> int:
    value = raw[key] if default is None else raw.get(key, default)
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise TypeError(f"{key} must be a whole number, not {value!r}")
    return int(value)


def _number(raw: dict[str, Any], key: str, default: float | None = None) -> float:
    value = raw[key] if default is None else raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key} must be a number, not {value!r}")
    return float(value)


def parse_profile(name: str, raw: Any) -> Profile:
    """One profile from its fields (a TOML table or a JSON object), checked by the rules every profile keeps.

    `name` is a built-in name (letters, digits, '_', '-') or a tenant's `namespace~name`."""
    if not isinstance(raw, dict):
        raise ProfileError(f"profile {name!r} must be a table")
    if not (_NAME.fullmatch(name) or is_tenant_name(name)):
        raise ProfileError(f"profile name {name!r} may only use letters, digits, '_' and '-'")
    unknown = sorted(set(raw) - _PROFILE_KEYS)
    if unknown:  # a misspelt key would otherwise fall back to its default without a word
        raise ProfileError(f"profile {name!r} has unknown keys: {', '.join(unknown)}")
    try:
        fill = raw.get("fill", 1.0)
        if isinstance(fill, bool):
            raise TypeError(f"fill must be a number, not {fill!r}")
        profile = Profile(
            name=name,
            description=str(raw.get("description", "")),
            width=_whole(raw, "width"),
            height=_whole(raw, "height"),
            fit=Fit(raw.get("fit", "contain")),
            trim=_flag(raw, "trim"),
            fill=float(fill),
            upscale=_flag(raw, "upscale"),
            background=str(raw.get("background", "#ffffff")),
            format=str(raw.get("format", "JPEG")).upper(),
            quality=_whole(raw, "quality", 85),
            min_side=_whole(raw, "min_side", 0),
            max_upscale=None if "max_upscale" not in raw else _number(raw, "max_upscale"),
            max_bytes=_whole(raw, "max_bytes", 0),
            gravity=Gravity(raw.get("gravity", "centre")),
            colour_space=str(raw.get("colour_space", "sRGB")),
            background_rule=BackgroundRule(raw.get("background_rule", "any")),
            min_fill=_number(raw, "min_fill", 0.0),
            max_text_share=_number(raw, "max_text_share", 0.0),
            max_side=_whole(raw, "max_side", 0),
            max_pixels=_whole(raw, "max_pixels", 0),
            source=str(raw.get("source", "")),
            version=_whole(raw, "version", 1),
            fallback=str(raw.get("fallback", "")),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ProfileError(f"profile {name!r} is invalid: {exc}") from exc
    if profile.format not in EXTENSIONS:
        raise ProfileError(f"profile {name!r}: format {profile.format} is not one of {sorted(EXTENSIONS)}")
    if not (0 < profile.width <= MAX_SIDE and 0 < profile.height <= MAX_SIDE):
        raise ProfileError(f"profile {name!r}: width and height must be 1..{MAX_SIDE}")
    if profile.width * profile.height > MAX_CANVAS_PIXELS:
        raise ProfileError(f"profile {name!r}: the box may have at most {MAX_CANVAS_PIXELS} pixels")
    if not 0.1 <= profile.fill <= 1.0:
        raise ProfileError(f"profile {name!r}: fill must be within 0.1..1")
    if not 1 <= profile.quality <= 100:
        raise ProfileError(f"profile {name!r}: quality must be within 1..100")
    if not _HEX_COLOUR.fullmatch(profile.background):
        raise ProfileError(f"profile {name!r}: background must be #rrggbb")
    _check_limits(name, profile)
    return profile


def _check_limits(name: str, profile: Profile) -> None:
    if profile.colour_space not in COLOUR_SPACES:
        raise ProfileError(f"profile {name!r}: colour_space must be one of {list(COLOUR_SPACES)}")
    if profile.max_upscale is not None and not 1.0 <= profile.max_upscale <= 8.0:
        raise ProfileError(f"profile {name!r}: max_upscale must be within 1..8")
    if not 0 <= profile.min_side <= max(profile.width, profile.height):
        raise ProfileError(f"profile {name!r}: min_side must be within 0..the box's longer side")
    if profile.max_side and profile.max_side < max(profile.width, profile.height):
        raise ProfileError(f"profile {name!r}: the box is larger than max_side")
    if profile.max_pixels and profile.max_pixels < profile.width * profile.height:
        raise ProfileError(f"profile {name!r}: the box has more pixels than max_pixels")
    if profile.max_bytes < 0 or profile.max_side < 0 or profile.max_pixels < 0:
        raise ProfileError(f"profile {name!r}: limits may not be negative")
    if profile.max_bytes > MAX_BYTES_LIMIT:
        raise ProfileError(f"profile {name!r}: max_bytes may be at most {MAX_BYTES_LIMIT}")
    if profile.max_side > MAX_SIDE or profile.max_pixels > MAX_SIDE * MAX_SIDE:
        raise ProfileError(f"profile {name!r}: max_side and max_pixels may not pass {MAX_SIDE} px a side")
    if not 0.0 <= profile.min_fill <= 1.0:
        raise ProfileError(f"profile {name!r}: min_fill must be within 0..1")
    if not 0.0 <= profile.max_text_share <= 1.0:
        raise ProfileError(f"profile {name!r}: max_text_share must be within 0..1")
    if profile.version < 1:
        raise ProfileError(f"profile {name!r}: version must be 1 or more")


def profile_fields(profile: Profile) -> dict[str, Any]:
    """A profile's fields as plain JSON values, without name and version: `parse_profile` reads them back."""
    out: dict[str, Any] = {}
    for f in fields(Profile):
        value = getattr(profile, f.name)
        if f.name in ("name", "version") or (f.name == "max_upscale" and value is None):
            continue
        out[f.name] = value.value if isinstance(value, StrEnum) else value
    return out


def _builtin(name: str, raw: Any) -> Profile:
    if TENANT_SEPARATOR in name:
        raise ProfileError(f"profile name {name!r} may only use letters, digits, '_' and '-'")
    return parse_profile(name, raw)


def parse_catalog(text: str) -> Catalog:
    """Parse a TOML catalogue of profiles and platforms, checking every reference."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profiles file is not valid TOML: {exc}") from exc
    raw_profiles = data.get("profiles", {})
    raw_platforms = data.get("platforms", {})
    if not isinstance(raw_profiles, dict) or not isinstance(raw_platforms, dict):
        raise ProfileError("profiles and platforms must be tables")
    profiles = {name: _builtin(name, raw) for name, raw in raw_profiles.items()}
    for profile in profiles.values():
        target = profiles.get(profile.fallback) if profile.fallback else None
        if profile.fallback and (target is None or target.format == "AVIF" or target.fallback):
            raise ProfileError(f"profile {profile.name!r}: fallback must name a non-AVIF profile without a fallback")
    platforms: dict[str, dict[str, str]] = {}
    for platform, roles in raw_platforms.items():
        if not isinstance(roles, dict):
            raise ProfileError(f"platform {platform!r} must be a table of role = profile name")
        for role, profile_name in roles.items():
            if not isinstance(profile_name, str) or profile_name not in profiles:
                raise ProfileError(
                    f"platform {platform!r} role {role!r} names unknown profile {profile_name!r}"
                )
        platforms[platform] = {str(role): str(name) for role, name in roles.items()}
    return Catalog(profiles=profiles, platforms=platforms)


def load_catalog(path: Path | None = None) -> Catalog:
    """Load the catalogue from `path`, or the one shipped with skupix."""
    if path is not None:
        return parse_catalog(path.read_text(encoding="utf-8"))
    return parse_catalog((Path(__file__).parent / "profiles.toml").read_text(encoding="utf-8"))
