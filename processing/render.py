"""Render a marketplace variant from a decoded master picture."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from processing.normalize import content_box
from processing.normalize import flatten as _flatten
from processing.profiles import Fit, Profile


@dataclass(frozen=True)
class RenderedVariant:
    """Encoded variant bytes and their facts."""

    data: bytes
    width: int
    height: int
    content_type: str


def _scaled(image: Image.Image, width: int, height: int) -> Image.Image:
    if (width, height) == image.size:
        return image
    return image.resize((max(1, width), max(1, height)), Image.Resampling.LANCZOS, reducing_gap=3.0)


def fit_into(image: Image.Image, profile: Profile) -> Image.Image:
    """Place the (flattened) picture in the profile's box following its fit mode."""
    box_w, box_h = profile.width, profile.height
    if profile.fit is Fit.COVER:
        scale = max(box_w / image.width, box_h / image.height)
        if not profile.upscale:
            scale = min(scale, 1.0)
        scaled = _scaled(image, round(image.width * scale), round(image.height * scale))
        left = max(0, (scaled.width - box_w) // 2)
        top = max(0, (scaled.height - box_h) // 2)
        return scaled.crop((left, top, left + min(box_w, scaled.width), top + min(box_h, scaled.height)))
    if profile.fit is Fit.CONTAIN:
        scale = min(box_w / image.width, box_h / image.height)
        if not profile.upscale:
            scale = min(scale, 1.0)
        return _scaled(image, round(image.width * scale), round(image.height * scale))
    inner_w, inner_h = box_w * profile.fill, box_h * profile.fill
    scale = min(inner_w / image.width, inner_h / image.height)
    if not profile.upscale:
        scale = min(scale, 1.0)
    scaled = _scaled(image, round(image.width * scale), round(image.height * scale))
    canvas = Image.new("RGB", (box_w, box_h), profile.background_rgb)
    canvas.paste(scaled, ((box_w - scaled.width) // 2, (box_h - scaled.height) // 2))
    return canvas


def encode(image: Image.Image, profile: Profile) -> bytes:
    """Encode without any metadata (no EXIF, ICC or comments)."""
    if image.info:
        # Pillow's encoders copy some of `info` into the file (JPEG comments, PNG ICC profiles);
        # a master opened straight from a merchant file still carries them, so drop them here.
        image = image.copy()
        image.info.clear()
    buffer = io.BytesIO()
    if profile.format == "JPEG":
        image.save(buffer, "JPEG", quality=profile.quality, optimize=True, progressive=True)
    elif profile.format == "WEBP":
        image.save(buffer, "WEBP", quality=profile.quality, method=4)
    elif profile.format == "AVIF":
        image.save(buffer, "AVIF", quality=profile.quality, speed=8)
    else:
        image.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def render(master: Image.Image, profile: Profile) -> RenderedVariant:
    """Flatten, trim (if the profile asks), fit and encode the master for one profile."""
    image = _flatten(master, profile.background_rgb)
    if profile.trim:
        box = content_box(image)
        if box != (0, 0, image.width, image.height):
            image = image.crop(box)
    placed = fit_into(image, profile)
    return RenderedVariant(
        data=encode(placed, profile),
        width=placed.width,
        height=placed.height,
        content_type=profile.content_type,
    )
