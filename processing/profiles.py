"""Variant profiles and platform slot maps, parsed from TOML data."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass
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
        spec.pop("description")
        spec["renderer_version"] = RENDERER_VERSION
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Catalog:
    """All known profiles and, per platform, which profile serves which slot role."""

    profiles: dict[str, Profile]
    platforms: dict[str, dict[str, str]]

    def profile(self, name: str) -> Profile:
        """The profile called `name`; KeyError if unknown."""
        return self.profiles[name]

    def profile_for(self, platform: str, role: str) -> Profile:
        """The profile a platform uses for a slot role; KeyError if unknown."""
        return self.profiles[self.platforms[platform][role]]


_PROFILE_KEYS = frozenset(
    {"description", "width", "height", "fit", "trim", "fill", "upscale", "background", "format", "quality"}
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
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


def _parse_profile(name: str, raw: Any) -> Profile:
    if not isinstance(raw, dict):
        raise ProfileError(f"profile {name!r} must be a table")
    if not _NAME.fullmatch(name):
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
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ProfileError(f"profile {name!r} is invalid: {exc}") from exc
    if profile.format not in EXTENSIONS:
        raise ProfileError(f"profile {name!r}: format {profile.format} is not one of {sorted(EXTENSIONS)}")
    if not (0 < profile.width <= 10_000 and 0 < profile.height <= 10_000):
        raise ProfileError(f"profile {name!r}: width and height must be 1..10000")
    if not 0.1 <= profile.fill <= 1.0:
        raise ProfileError(f"profile {name!r}: fill must be within 0.1..1")
    if not 1 <= profile.quality <= 100:
        raise ProfileError(f"profile {name!r}: quality must be within 1..100")
    if not _HEX_COLOUR.fullmatch(profile.background):
        raise ProfileError(f"profile {name!r}: background must be #rrggbb")
    return profile


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
    profiles = {name: _parse_profile(name, raw) for name, raw in raw_profiles.items()}
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
