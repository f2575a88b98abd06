"""Safe decoding: size and format limits before any pixel is decoded, then normalisation to sRGB."""

from __future__ import annotations

import io
import math
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from processing.errors import CorruptImage, EmptyImage, FileTooLarge, ImageTooLarge, UnsupportedFormat

# Magic numbers of the formats we accept; lets us tell "not an image we take" from "a broken one".
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "JPEG": (b"\xff\xd8\xff",),
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "GIF": (b"GIF87a", b"GIF89a"),
    "WEBP": (b"RIFF",),
    "TIFF": (b"II*\x00", b"MM\x00*"),
}

_SRGB_PROFILE = ImageCms.createProfile("sRGB")

MIME_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "AVIF": "image/avif",
    "TIFF": "image/tiff",
}


@dataclass(frozen=True)
class DecodeLimits:
    """What a decoder may accept: bytes, pixels, side length, frames and formats."""

    max_bytes: int = 40 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_side: int = 20_000
    max_frames: int = 200
    formats: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "AVIF", "TIFF")
    # JPEG decodes at 1/2, 1/4 or 1/8 scale (DCT scaling), so a larger file never needs its full
    # pixels in memory: above `max_pixels` it is decoded reduced, up to this many source pixels.
    max_pixels_reducible: int = 120_000_000

    def pixel_limit(self, fmt: str) -> int:
        """The most source pixels accepted for a format."""
        return max(self.max_pixels, self.max_pixels_reducible) if fmt in REDUCIBLE_FORMATS else self.max_pixels


# Formats Pillow can decode at reduced scale (draft); every other format keeps `max_pixels`.
REDUCIBLE_FORMATS = frozenset({"JPEG", "MPO"})


@dataclass
class DecodedImage:
    """A decoded, upright, sRGB picture and the facts about its source file."""

    image: Image.Image
    format: str
    source_mode: str
    frames: int
    has_alpha: bool
    jpeg_quality: int | None = None
    notes: list[str] = field(default_factory=list)
    # Decoded pixels per source pixel: below 1 when the file was decoded at reduced scale.
    scale: float = 1.0

    @property
    def width(self) -> int:
        """Width of the source picture in pixels after orientation (not of a reduced decode)."""
        return self.image.width if self.scale == 1.0 else round(self.image.width / self.scale)

    @property
    def height(self) -> int:
        """Height of the source picture in pixels after orientation (not of a reduced decode)."""
        return self.image.height if self.scale == 1.0 else round(self.image.height / self.scale)

    @property
    def mime_type(self) -> str:
        """The MIME type of the source format."""
        return MIME_TYPES.get(self.format, "application/octet-stream")


def _looks_like(data: bytes, formats: tuple[str, ...]) -> bool:
    head = data[:16]
    if "AVIF" in formats and head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return True
    if "WEBP" in formats and head.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return True
    return any(
        head.startswith(magic) for name in formats if name != "WEBP" for magic in _MAGIC.get(name, ())
    )


def check_size(data: bytes, limits: DecodeLimits) -> None:
    """Refuse empty or oversized files before any work (the one file-size rule)."""
    if not data:
        raise EmptyImage("the file is empty")
    if len(data) > limits.max_bytes:
        raise FileTooLarge(f"the file has {len(data)} bytes; the limit is {limits.max_bytes}")


def probe(data: bytes, limits: DecodeLimits) -> Image.Image:
    """Open the header only and enforce every limit; no pixel data is decoded yet."""
    check_size(data, limits)
    try:
        with warnings.catch_warnings(record=True) as caught:
            # A damaged EXIF block or odd chunk makes Pillow warn; where warnings are errors that would
            # escape as a bare Warning, so they are recorded and only the bomb warning counts.
            warnings.simplefilter("always")
            image = Image.open(io.BytesIO(data), formats=list(limits.formats))
            frames = getattr(image, "n_frames", 1)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge("the picture's header declares too many pixels") from exc
    except UnidentifiedImageError as exc:
        if _looks_like(data, limits.formats):
            raise CorruptImage("the file starts like an image but its header does not decode") from exc
        raise UnsupportedFormat(
            "the file is not an image in an accepted format (" + ", ".join(limits.formats) + ")"
        ) from exc
    except MemoryError as exc:
        raise ImageTooLarge("the picture's header needs more memory than is allowed") from exc
    except Exception as exc:
        # Plugins raise whatever their parser tripped on (TIFF's n_frames: TypeError "Missing
        # dimensions", KeyError, ZeroDivisionError…): any of them means a damaged header, not our bug.
        raise CorruptImage(f"the image header is damaged: {type(exc).__name__}: {exc}") from exc
    bomb = next((w.message for w in caught if issubclass(w.category, Image.DecompressionBombWarning)), None)
    if bomb is not None and not _reducible_within(image, limits):
        # Pillow's guard stays a second line, except for a JPEG our reduced decode keeps in budget
        raise ImageTooLarge("the picture's header declares too many pixels") from bomb  # type: ignore[misc]
    width, height = image.size
    if width <= 0 or height <= 0:
        raise CorruptImage("the image has no pixels")
    if max(width, height) > limits.max_side:
        raise ImageTooLarge(f"the picture is {width}×{height}; the longest side may be {limits.max_side}")
    if frames > limits.max_frames:
        raise ImageTooLarge(f"the picture has {frames} frames; at most {limits.max_frames} are accepted")
    limit = limits.pixel_limit((image.format or "").upper())
    if width * height > limit:
        raise ImageTooLarge(
            f"the picture is {width}×{height} = {width * height} pixels; the limit for "
            f"{image.format} is {limit}"
        )
    return image


def _reducible_within(image: Image.Image, limits: DecodeLimits) -> bool:
    fmt = (image.format or "").upper()
    return fmt in REDUCIBLE_FORMATS and image.width * image.height <= limits.pixel_limit(fmt)


def upload_scale(width: int, height: int, fmt: str, limits: DecodeLimits) -> float:
    """The scale a plain `decode` (no target side) gives a picture of this size and format: 1 within
    `max_pixels`, else the power-of-two DCT reduction that fits it (facts measured on the decoded
    picture, such as the fingerprint's content size, are that much smaller than the file's)."""
    scale = 1.0
    if fmt.upper() in REDUCIBLE_FORMATS:
        while width * height * scale * scale > limits.max_pixels:
            scale /= 2
    return scale


def _reduce_on_load(image: Image.Image, limits: DecodeLimits, target_side: int | None) -> None:
    """Ask the JPEG decoder for a DCT-scaled decode: no smaller than `target_side` on the longer
    side, and only when that saves work; files over `max_pixels` are always reduced to fit it."""
    if (image.format or "").upper() not in REDUCIBLE_FORMATS or getattr(image, "n_frames", 1) > 1:
        return
    width, height = image.size
    longest = max(width, height)
    side = target_side or longest
    while width * height * (side / longest) ** 2 > limits.max_pixels:  # a 100 MP file stays in budget
        side //= 2
    if side * 2 > longest:
        return  # not even a 1/2 decode: nothing to gain, and the picture stays byte-identical
    ratio = side / longest
    image.draft(None, (max(1, math.ceil(width * ratio)), max(1, math.ceil(height * ratio))))


def decode(data: bytes, limits: DecodeLimits, target_side: int | None = None) -> DecodedImage:
    """Decode within limits, apply EXIF orientation, convert to 8-bit sRGB RGB or RGBA.

    With `target_side`, a JPEG may be decoded at 1/2, 1/4 or 1/8 scale as long as its longer side
    stays at least that long (`scale` says how much); without it, pictures within `max_pixels`
    decode at full size, byte for byte as before.
    """
    image = probe(data, limits)
    full_width = image.width
    _reduce_on_load(image, limits, target_side)
    source_format = (image.format or "").upper()
    # A multi-picture JPEG (MPO, as phone cameras write) is a JPEG whose first frame is the picture.
    source_format = _FORMAT_ALIASES.get(source_format, source_format)
    source_mode = image.mode
    frames = getattr(image, "n_frames", 1)
    jpeg_quality = estimate_jpeg_quality(image) if source_format == "JPEG" else None
    try:
        with _truncated_images_refused(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # palette-transparency and EXIF chatter are handled below
            if frames > 1:
                image.seek(0)
            image.load()
    except MemoryError as exc:  # pragma: no cover - depends on the host
        raise ImageTooLarge("the picture needs more memory than is allowed") from exc
    except Exception as exc:  # any decoder failure on hostile data is the file's fault
        raise CorruptImage(f"the image data is damaged or truncated: {type(exc).__name__}: {exc}") from exc
    scale = image.width / full_width
    notes: list[str] = []
    try:
        image = _apply_orientation(image, notes)
        image = _to_srgb(image, notes)
    except MemoryError as exc:  # pragma: no cover - depends on the host
        raise ImageTooLarge("the picture needs more memory than is allowed") from exc
    except Exception as exc:  # an odd pixel mode or colour block the converters cannot take
        raise CorruptImage(f"the picture's pixels cannot be converted: {type(exc).__name__}: {exc}") from exc
    has_alpha = image.mode == "RGBA"
    return DecodedImage(
        image=image,
        format=source_format,
        source_mode=source_mode,
        frames=frames,
        has_alpha=has_alpha,
        jpeg_quality=jpeg_quality,
        notes=notes,
        scale=scale,
    )


_FORMAT_ALIASES = {"MPO": "JPEG"}

_truncation_lock = threading.Lock()
_truncation_users = 0
_truncation_saved = False


@contextmanager
def _truncated_images_refused() -> Iterator[None]:
    """Keep Pillow's global LOAD_TRUNCATED_IMAGES off while any decode runs, then put it back.

    Another library may have set it on; half pictures must never be accepted, but the setting is
    restored once the last concurrent decode has finished instead of being overwritten for good.
    """
    global _truncation_users, _truncation_saved
    with _truncation_lock:
        if _truncation_users == 0:
            _truncation_saved = ImageFile.LOAD_TRUNCATED_IMAGES
        _truncation_users += 1
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        with _truncation_lock:
            _truncation_users -= 1
            if _truncation_users == 0:
                ImageFile.LOAD_TRUNCATED_IMAGES = _truncation_saved


def _apply_orientation(image: Image.Image, notes: list[str]) -> Image.Image:
    try:
        orientation = image.getexif().get(0x0112)
    except Exception:  # a broken EXIF block must not sink an otherwise good picture
        notes.append("exif_unreadable")
        return image
    if orientation in (None, 1):
        return image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            turned = ImageOps.exif_transpose(image)
    except Exception:
        notes.append("exif_orientation_ignored")
        return image
    notes.append(f"exif_orientation_{orientation}")
    return turned if turned is not None else image


def _to_srgb(image: Image.Image, notes: list[str]) -> Image.Image:
    icc = image.info.get("icc_profile")
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
        image = Image.fromarray(np.clip(array * (255.0 / peak), 0, 255).astype(np.uint8), "L")
        mode = "L"
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("PA", "LA", "La", "RGBa"):
        image = image.convert("RGBA")
    elif mode == "1":
        image = image.convert("L")
    if icc:
        try:
            source_profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if image.mode in ("RGB", "RGBA", "L", "CMYK"):
                out_mode = "RGBA" if image.mode == "RGBA" else "RGB"
                converted = ImageCms.profileToProfile(
                    image, source_profile, _SRGB_PROFILE, outputMode=out_mode
                )
                if converted is not None:
                    image = converted
                    notes.append("icc_converted")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            notes.append("icc_ignored")
    if image.mode == "RGBA":
        alpha = image.getchannel("A")
        if alpha.getextrema() == (255, 255):
            image = image.convert("RGB")
    elif image.mode != "RGB":
        image = image.convert("RGB")
    image.info.clear()
    return image


def estimate_jpeg_quality(image: Image.Image) -> int | None:
    """Estimate the IJG quality of a JPEG from its luminance quantisation table."""
    tables = getattr(image, "quantization", None)
    if not tables or 0 not in tables:
        return None
    luma = np.asarray(list(tables[0]), dtype=np.float64)
    if luma.size != 64:
        return None
    # every IJG quality's table at once (argmin keeps the lowest quality on ties, as a loop would)
    error = np.mean((np.sort(_IJG_TABLES, axis=1) - np.sort(luma)) ** 2, axis=1)
    return int(np.argmin(error)) + 1


_IJG_LUMA = np.array(
    [
        16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
    ],
    dtype=np.float64,
)
_QUALITIES = np.arange(1, 101, dtype=np.float64)
_IJG_SCALES = np.where(_QUALITIES < 50, 5000 / _QUALITIES, 200 - _QUALITIES * 2)
_IJG_TABLES = np.clip(np.floor((_IJG_LUMA[None, :] * _IJG_SCALES[:, None] + 50) / 100), 1, 255)
