"""Compliance report: would a marketplace accept this picture for this profile? Pure: bytes in, verdicts out."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from enum import StrEnum

import cv2
import numpy as np
from PIL import Image

from processing.errors import ImageError
from processing.profiles import BackgroundRule, Fit, Profile
from processing.render import RenderedVariant

# Border purity: share of the outermost pixel frame at exactly (255, 255, 255).
PURE_PASS = 0.98
PURE_WARN = 0.90
# Fill: how far under the marketplace's share the product may fall before a warning, then a failure.
FILL_SLACK = 0.02
FILL_WARN = 0.10
# A pixel is product ("ink") when a channel is this far from white (ignores JPEG ringing).
INK_THRESHOLD = 40


# Text share (Rakuten's first image: text on at most 20% of a 10x10 grid): the estimate is rough, so a
# picture is failed only well past the limit and warned near it.
TEXT_GRID = 10
TEXT_WARN_SLACK = 0.10
_TEXT_SIDE = 640  # the estimate runs on a copy this size: strokes of normal type stay a few pixels wide


class Verdict(StrEnum):
    """One check's outcome; the report's verdict is its worst check."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


_RANK = {Verdict.PASS: 0, Verdict.WARN: 1, Verdict.FAIL: 2}


@dataclass(frozen=True)
class Check:
    """One measured fact against one rule of the profile."""

    name: str
    verdict: Verdict
    value: float | int | str
    rule: str


@dataclass(frozen=True)
class Report:
    """Every check of one picture against one profile."""

    profile: str
    checks: tuple[Check, ...]

    @property
    def verdict(self) -> Verdict:
        """The worst verdict of any check."""
        return max((c.verdict for c in self.checks), key=_RANK.__getitem__, default=Verdict.PASS)

    @property
    def rejected(self) -> bool:
        """True when the marketplace would refuse the picture."""
        return self.verdict is Verdict.FAIL

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {"profile": self.profile, "verdict": self.verdict.value,
                "checks": [{**asdict(c), "verdict": c.verdict.value} for c in self.checks]}


def _worse(verdict: Verdict, other: Verdict) -> Verdict:
    return verdict if _RANK[verdict] >= _RANK[other] else other


def border_purity(pixels: np.ndarray) -> float:
    """Share of the outermost pixel frame that is exactly RGB 255,255,255."""
    frame = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
    return float((frame == 255).all(axis=1).mean())


def fill_ratio(pixels: np.ndarray) -> float:
    """How much of the frame the product spans: its box's larger share of width or height."""
    ink = (255 - pixels.astype(np.int16)).max(axis=2) > INK_THRESHOLD
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return 0.0
    height, width = ink.shape
    return max((cols[-1] + 1 - cols[0]) / width, (rows[-1] + 1 - rows[0]) / height)


def text_boxes(pixels: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Boxes (x, y, w, h as shares of the frame) that look like lines of text: dense, thin, wide runs of strokes.

    The classic morphological estimate (gradient, Otsu threshold, closing along the line): it finds printed
    words and overlaid captions, not what they say; a product's fine regular pattern can pass for text."""
    height, width = pixels.shape[:2]
    scale = _TEXT_SIDE / max(height, width)
    gray = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)
    if scale < 1:
        gray = cv2.resize(gray, (max(1, round(width * scale)), max(1, round(height * scale))),
                          interpolation=cv2.INTER_AREA)
    h, w = gray.shape
    gradient = cv2.morphologyEx(gray, cv2.MORPH_GRADIENT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    _, strokes = cv2.threshold(gradient, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    if cv2.countNonZero(strokes) == 0 or float(gradient.max()) < 40:
        return []  # a flat picture: Otsu would split noise
    lines = cv2.morphologyEx(strokes, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 1)))
    contours, _ = cv2.findContours(lines, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    boxes = []
    for contour in contours:
        x, y, bw, bh = cv2.boundingRect(contour)
        if bw < 12 or not 6 <= bh <= 0.15 * h or bw < 1.5 * bh:
            continue  # not the shape of a line of type
        density = cv2.countNonZero(strokes[y:y + bh, x:x + bw]) / (bw * bh)
        if density >= 0.35:
            boxes.append((x / w, y / h, bw / w, bh / h))
    return boxes


def text_share(pixels: np.ndarray, grid: int = TEXT_GRID) -> float:
    """Share of a grid x grid division of the frame whose cells hold text (any part of an estimated text line)."""
    cells = np.zeros((grid, grid), dtype=bool)
    for x, y, w, h in text_boxes(pixels):
        cells[int(y * grid):min(grid, int(np.ceil((y + h) * grid))),
              int(x * grid):min(grid, int(np.ceil((x + w) * grid)))] = True
    return float(cells.mean())


def size_checks(profile: Profile, width: int, height: int, upscale: float) -> list[Check]:
    """Pixel size and enlargement against the profile's limits."""
    longest = max(width, height)
    verdict = Verdict.PASS
    rules = []
    if profile.min_side:
        rules.append(f">= {profile.min_side} px")
        verdict = _worse(verdict, Verdict.FAIL if longest < profile.min_side else Verdict.PASS)
    if profile.max_side:
        rules.append(f"<= {profile.max_side} px")
        verdict = _worse(verdict, Verdict.FAIL if longest > profile.max_side else Verdict.PASS)
    if profile.max_pixels:
        rules.append(f"<= {profile.max_pixels} pixels")
        verdict = _worse(verdict, Verdict.FAIL if width * height > profile.max_pixels else Verdict.PASS)
    limit = profile.upscale_limit
    up = Verdict.FAIL if upscale > limit + 1e-6 else Verdict.WARN if upscale > 1.0 + 1e-6 else Verdict.PASS
    return [
        Check("pixel_size", verdict, f"{width}x{height}", ", ".join(rules) or "no limit"),
        Check("upscale", up, round(upscale, 3), f"<= {limit:g}x" if limit != float("inf") else "any"),
    ]


def check_rendered(profile: Profile, variant: RenderedVariant) -> Report:
    """Check an encoded variant against every rule of its profile."""
    return check_bytes(profile, variant.data, variant.upscale)


def check_bytes(profile: Profile, data: bytes, upscale: float = 1.0) -> Report:
    """Check encoded picture bytes (a variant, or any file meant for the profile's slot)."""
    image = Image.open(io.BytesIO(data))
    image.load()
    fmt = (image.format or "").upper()
    icc = image.info.get("icc_profile")
    mode = image.mode
    pixels = np.asarray(image.convert("RGB"))
    checks = size_checks(profile, image.width, image.height, upscale)
    purity = border_purity(pixels)
    if profile.background_rule is BackgroundRule.WHITE:
        bg = Verdict.PASS if purity >= PURE_PASS else Verdict.WARN if purity >= PURE_WARN else Verdict.FAIL
        checks.append(Check("background", bg, round(purity, 4), f">= {PURE_PASS:.0%} of border pixels at 255"))
    else:
        checks.append(Check("background", Verdict.PASS, round(purity, 4), "any"))
    fill = fill_ratio(pixels)
    if profile.min_fill and profile.fit is not Fit.COVER:
        target = profile.min_fill
        fv = Verdict.PASS if fill >= target - FILL_SLACK else Verdict.WARN if fill >= target - FILL_WARN \
            else Verdict.FAIL
        checks.append(Check("fill", fv, round(fill, 4), f">= {target:.0%} of the frame"))
    else:
        checks.append(Check("fill", Verdict.PASS, round(fill, 4), "any"))
    if profile.max_text_share:
        share = text_share(pixels)
        limit = profile.max_text_share
        tv = Verdict.PASS if share <= limit else Verdict.WARN if share <= limit + TEXT_WARN_SLACK else Verdict.FAIL
        checks.append(Check("text", tv, round(share, 2),
                            f"<= {limit:.0%} of a {TEXT_GRID}x{TEXT_GRID} grid holds text (estimated)"))
    facts = check_facts(profile, image.width, image.height, len(data), fmt, upscale).checks
    checks.extend(c for c in facts if c.name in ("bytes", "format"))
    # Decoded masters are converted to sRGB and variants carry no ICC profile, which browsers and
    # marketplaces read as sRGB; an embedded profile or a CMYK/grey mode would be something else.
    srgb = icc is None and mode in ("RGB", "L", "RGBA")
    checks.append(Check("colour_space", Verdict.PASS if srgb else Verdict.FAIL,
                        "sRGB" if srgb else f"{mode}{' + ICC' if icc else ''}", profile.colour_space))
    return Report(profile.name, tuple(checks))


def check_facts(profile: Profile, width: int, height: int, size_bytes: int, fmt: str, upscale: float) -> Report:
    """The checks a stored variant's facts answer without its pixels (size, enlargement, bytes, format)."""
    checks = size_checks(profile, width, height, upscale)
    over = profile.max_bytes and size_bytes > profile.max_bytes
    checks.append(Check("bytes", Verdict.FAIL if over else Verdict.PASS, size_bytes,
                        f"<= {profile.max_bytes}" if profile.max_bytes else "no limit"))
    checks.append(Check("format", Verdict.PASS if fmt.upper() == profile.format else Verdict.FAIL, fmt.upper(),
                        profile.format))
    return Report(profile.name, tuple(checks))


def refused(profile: Profile, error: ImageError) -> Report:
    """The report for a picture the renderer refused (too small, over the byte limit)."""
    upscale = getattr(error, "upscale", None)
    checks = [Check("render", Verdict.FAIL, error.code, error.message)]
    if upscale is not None:
        checks.append(Check("upscale", Verdict.FAIL, upscale, f"<= {profile.upscale_limit:g}x"))
    return Report(profile.name, tuple(checks))
