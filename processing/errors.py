"""Reasons an image is refused; each carries a stable code and no transport details."""

from __future__ import annotations


class ImageError(Exception):
    """An image that cannot be accepted; `code` is stable and safe to show to users."""

    code = "image_invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EmptyImage(ImageError):
    """The file has no bytes."""

    code = "image_empty"


class FileTooLarge(ImageError):
    """The file has more bytes than allowed."""

    code = "file_too_large"


class UnsupportedFormat(ImageError):
    """The bytes are not one of the allowed image formats."""

    code = "image_unsupported_format"


class ImageTooLarge(ImageError):
    """The picture has more pixels, frames or a longer side than allowed."""

    code = "image_too_large"


class CorruptImage(ImageError):
    """The bytes claim to be an allowed format but do not decode."""

    code = "image_corrupt"


class TooSmallForProfile(ImageError):
    """The picture would have to be enlarged past what the profile allows: flagged, not produced."""

    code = "image_too_small_for_profile"

    def __init__(self, message: str, *, profile: str, upscale: float, min_side: int) -> None:
        super().__init__(message)
        self.profile = profile
        self.upscale = upscale
        self.min_side = min_side


class OverByteLimit(ImageError):
    """The variant stays above the profile's byte limit even at the lowest quality allowed."""

    code = "variant_over_byte_limit"
