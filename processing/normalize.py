"""Normalisation before hashing: flatten transparency on white and trim the uniform background."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

# A pixel differs from the background when any channel is this far off. High enough to drop JPEG
# ringing and the faint soft shadows of studio shots (whose edge moves with any brightness edit,
# which would move the box), low enough to keep the product's own edges.
BACKGROUND_TOLERANCE = 32
# Rows or columns need this share of differing pixels to count as content (ignores lone specks).
CONTENT_SHARE = 0.004
_ANALYSIS_SIDE = 768


def flatten(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Composite a picture with transparency onto `background`; opaque pictures become plain RGB."""
    if image.mode in ("LA", "La", "PA", "RGBa") or (image.mode != "RGBA" and "transparency" in image.info):
        image = image.convert("RGBA")  # a plain convert("RGB") would drop the alpha and show what it hid
    if image.mode == "RGBA":
        canvas = Image.new("RGB", image.size, background)
        canvas.paste(image, mask=image.getchannel("A"))
        return canvas
    return image if image.mode == "RGB" else image.convert("RGB")


def flatten_on_white(image: Image.Image) -> Image.Image:
    """Composite a picture with transparency onto pure white; RGB pictures pass through."""
    return flatten(image, (255, 255, 255))


def background_colour(pixels: np.ndarray) -> tuple[np.ndarray, bool]:
    """Estimate the border colour and whether the border is uniform enough to trim."""
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]]).astype(np.int16)
    colour = np.median(border, axis=0)
    off = np.abs(border - colour).max(axis=1) > BACKGROUND_TOLERANCE
    return colour, bool(off.mean() < 0.5)


def _analysis_copy(rgb: Image.Image) -> tuple[Image.Image, float]:
    """A copy at most _ANALYSIS_SIDE on its longer side (integer box reduction: fast and exact)."""
    factor = -(-max(rgb.size) // _ANALYSIS_SIDE)  # ceiling division
    if factor <= 1:
        return rgb, 1.0
    small = rgb.reduce(factor)
    return small, small.width / rgb.width


def content_box(image: Image.Image) -> tuple[int, int, int, int]:
    """The box (left, top, right, bottom) around everything that is not uniform background."""
    rgb = flatten_on_white(image)
    small, scale = _analysis_copy(rgb)
    pixels = np.asarray(small)
    colour, uniform = background_colour(pixels)
    full = (0, 0, rgb.width, rgb.height)
    if not uniform:
        return full
    centre = np.clip(np.round(colour), 0, 255)
    # A pixel is background when every channel lies within the tolerance of the border colour; one
    # cv2.inRange pass, where numpy would broadcast over a 3-wide last axis some twenty times slower.
    low = tuple(float(max(0.0, value - BACKGROUND_TOLERANCE)) for value in centre)
    high = tuple(float(min(255.0, value + BACKGROUND_TOLERANCE)) for value in centre)
    differs = cv2.inRange(pixels, low, high) == 0
    rows = np.flatnonzero(differs.sum(axis=1) > max(1, CONTENT_SHARE * differs.shape[1]))
    cols = np.flatnonzero(differs.sum(axis=0) > max(1, CONTENT_SHARE * differs.shape[0]))
    if rows.size == 0 or cols.size == 0:
        return full
    left = int(np.floor(cols[0] / scale))
    top = int(np.floor(rows[0] / scale))
    right = int(np.ceil((cols[-1] + 1) / scale))
    bottom = int(np.ceil((rows[-1] + 1) / scale))
    return (
        max(0, left),
        max(0, top),
        min(rgb.width, max(right, left + 1)),
        min(rgb.height, max(bottom, top + 1)),
    )


def trim(image: Image.Image) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """Flatten on white and crop to the content box; returns the crop and the box."""
    rgb = flatten_on_white(image)
    box = content_box(rgb)
    if box == (0, 0, rgb.width, rgb.height):
        return rgb, box
    return rgb.crop(box), box
