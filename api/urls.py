"""Every public URL the API hands out, built from registry refs in one place."""

from __future__ import annotations

from processing.profiles import Profile
from registry.variants.service import VariantRef


def variant_path(ref: VariantRef) -> str:
    """The immutable path of a variant; changes whenever its bytes would."""
    return f"/v/{ref.asset_id}/{ref.profile}/{ref.version}.{ref.extension}"


def alias_path(asset_id: str, profile: Profile) -> str:
    """The stable path that redirects to an asset's current variant for `profile`."""
    return f"/v/{asset_id}/{profile.name}.{profile.extension}"


def asset_url(base: str, asset_id: str) -> str:
    """The API URL of an asset."""
    return f"{base}/v1/media/{asset_id}"
