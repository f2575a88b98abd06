"""Render marketplace variants: a pipeline of small named steps, then a table of encoders.

Like imgproxy's `processing/` list, every step reads the profile and returns the job untouched when
its option is unset, so a new marketplace rule is one more step rather than another branch. Work
shared by every profile of one master (flattening, the content box, the product crop) is done once
per `Source` and reused.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np
from PIL import Image

from processing.decode import DecodeLimits, decode
from processing.errors import ImageError, OverByteLimit, TooSmallForProfile
from processing.normalize import content_box, flatten_on_white
from processing.profiles import Fit, Gravity, Profile

# Lowest quality the byte-limit step may go to, and its stride.
MIN_QUALITY = 50
QUALITY_STEP = 5
# An earlier (larger) render may stand in for the full picture when it is at least this much larger
# than the output (Pillow's thumbnail reducing_gap default).
REDUCING_GAP = 2.0
_ATTENTION_SIDE = 256


class Source:
    """A decoded master and what every profile rendered from it shares, computed once on demand."""

    def __init__(self, master: Image.Image, scale: float = 1.0) -> None:
        # `scale` is how many master pixels stand for one pixel of the original file (below 1 when
        # the master was decoded at reduced scale); upscale factors are measured against the file.
        self.master = master
        self.scale = scale

    @cached_property
    def flat(self) -> Image.Image:
        """The master flattened on white, RGB."""
        return flatten_on_white(self.master)

    @cached_property
    def box(self) -> tuple[int, int, int, int]:
        """The content box of the flattened master."""
        return content_box(self.flat)

    @cached_property
    def product(self) -> Image.Image:
        """The master cropped to its content box."""
        if self.box == (0, 0, self.flat.width, self.flat.height):
            return self.flat
        return self.flat.crop(self.box)

    def scaled(self, image: Image.Image, size: tuple[int, int]) -> Image.Image:
        """`image` (the flat master or the product) resized to `size`, starting from the smallest
        copy made so far that is at least REDUCING_GAP times larger: the larger profiles rendered
        first pay for the full-size pass, every smaller one is derived from their results."""
        copies = self._copies.setdefault(id(image), [image])
        base = min(
            (c for c in copies if c.width >= size[0] * REDUCING_GAP and c.height >= size[1] * REDUCING_GAP),
            key=lambda c: c.width, default=image,
        )
        out = _resample(base, size)
        # keep the base and the new copy only: profiles come largest first, so nothing larger than
        # the base will serve again, and a 100 MP master must not leave two dozen copies behind
        del copies[1:]
        copies.extend(c for c in (base, out) if c is not image)
        return out

    @cached_property
    def _copies(self) -> dict[int, list[Image.Image]]:
        return {}


def _resample(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Shrink by area averaging (every source pixel weighs by the area it covers: no aliasing, no
    ringing, and several times faster than Pillow's Lanczos); enlarge with Lanczos."""
    if size[0] > image.width or size[1] > image.height:
        return image.resize(size, Image.Resampling.LANCZOS)
    factor = int(min(image.width / size[0], image.height / size[1]))
    if factor >= 2:  # an exact integer box average first, in Pillow: no full-size numpy copy
        image = image.reduce(factor)
    if image.size == size:
        return image
    return Image.fromarray(cv2.resize(np.asarray(image), size, interpolation=cv2.INTER_AREA), image.mode)


@dataclass
class Job:
    """One profile's render in progress: the working picture and the facts the steps record."""

    profile: Profile
    source: Source
    image: Image.Image
    canvas: tuple[int, int] = (0, 0)
    scale: float = 1.0  # output pixels per working-picture pixel
    quality: int = 0
    data: bytes = b""

    @property
    def upscale(self) -> float:
        """Output pixels per pixel of the original file (above 1: enlarged)."""
        return self.scale * self.source.scale


@dataclass(frozen=True)
class RenderedVariant:
    """Encoded variant bytes and their facts."""

    data: bytes
    width: int
    height: int
    content_type: str
    quality: int = 0
    upscale: float = 1.0


Step = Callable[[Job], Job]


# ---- steps -------------------------------------------------------------------------------------


def flatten(job: Job) -> Job:
    """Composite transparency on white (the one flatten, in processing.normalize); shared per source."""
    job.image = job.source.flat
    return job


def trim(job: Job) -> Job:
    """Crop to the product (uniform background removed); skipped when the profile keeps the frame."""
    if not job.profile.trim:
        return job
    job.image = job.source.product
    return job


def plan(job: Job) -> Job:
    """Decide the scale and canvas; refuse (TooSmallForProfile) what would need too much enlarging."""
    job.scale, job.canvas = plan_size(job.profile, job.image.size, job.source.scale)
    return job


def plan_size(profile: Profile, size: tuple[int, int], source_scale: float = 1.0) -> tuple[float, tuple[int, int]]:
    """The scale (output pixels per working pixel) and canvas for a working picture of `size`, whose
    pixels stand for 1/source_scale pixels of the file; TooSmallForProfile below the minimum."""
    width, height = size
    box_w, box_h = profile.width, profile.height
    if profile.fit is Fit.PAD:
        wanted = min(box_w * profile.fill / width, box_h * profile.fill / height)
    elif profile.fit is Fit.COVER:
        wanted = max(box_w / width, box_h / height)
    else:
        wanted = min(box_w / width, box_h / height)
    limit = profile.upscale_limit / source_scale  # in working-picture pixels
    scale = min(wanted, limit)
    if profile.fit is Fit.CONTAIN:
        canvas = (round(width * scale), round(height * scale))
    elif profile.max_upscale is not None:
        # a marketplace range: the largest canvas within the box that needs no more enlarging
        canvas = (round(box_w * scale / wanted), round(box_h * scale / wanted))
    elif profile.fit is Fit.PAD:
        canvas = (box_w, box_h)  # a fixed box: a small product stays small in it
    else:
        canvas = (min(box_w, round(width * scale)), min(box_h, round(height * scale)))
    if max(canvas) < profile.min_side:
        if profile.fit is Fit.CONTAIN:
            need = profile.min_side / max(width, height)
        else:
            need = wanted * profile.min_side / max(box_w, box_h)
        need *= source_scale
        raise TooSmallForProfile(
            f"the picture is too small for {profile.name}: {max(canvas)} px where the marketplace wants "
            f"{profile.min_side} px, which would need {need:.2f}× enlarging "
            f"(the profile allows {profile.upscale_limit:g}×)",
            profile=profile.name, upscale=round(need, 3), min_side=profile.min_side,
        )
    return scale, (max(1, canvas[0]), max(1, canvas[1]))


def predict(profile: Profile, frame: tuple[int, int], content: tuple[int, int]) -> float:
    """Without decoding: the enlargement a picture of this frame and content (trimmed) size gets;
    TooSmallForProfile when the profile would refuse it."""
    scale, _canvas = plan_size(profile, content if profile.trim else frame)
    return scale


def resize(job: Job) -> Job:
    """Scale the working picture by the planned factor (from the smallest good copy, see Source)."""
    width, height = job.image.size
    size = (max(1, round(width * job.scale)), max(1, round(height * job.scale)))
    if job.profile.fit is Fit.COVER:  # never a pixel short of the canvas it is cut to
        size = (max(size[0], job.canvas[0]), max(size[1], job.canvas[1]))
    if size != job.image.size:
        job.image = job.source.scaled(job.image, size)
    return job


def crop(job: Job) -> Job:
    """Cover: cut the canvas out of the scaled picture, where the detail is when gravity is smart."""
    if job.profile.fit is not Fit.COVER or job.image.size == job.canvas:
        return job
    width, height = job.image.size
    canvas_w, canvas_h = min(job.canvas[0], width), min(job.canvas[1], height)
    if job.profile.gravity is Gravity.SMART:
        left, top = smart_offset(job.image, (canvas_w, canvas_h))
    else:
        left, top = (width - canvas_w) // 2, (height - canvas_h) // 2
    job.image = job.image.crop((left, top, left + canvas_w, top + canvas_h))
    job.canvas = job.image.size
    return job


def pad(job: Job) -> Job:
    """Pad: centre the scaled product on a canvas of the profile's background colour."""
    if job.profile.fit is not Fit.PAD:
        return job
    if job.image.size == job.canvas:
        return job
    canvas = Image.new("RGB", job.canvas, job.profile.background_rgb)
    canvas.paste(job.image, ((job.canvas[0] - job.image.width) // 2, (job.canvas[1] - job.image.height) // 2))
    job.image = canvas
    return job


def srgb(job: Job) -> Job:
    """Output is 8-bit sRGB RGB: decode converted colour already, this drops any leftover mode."""
    if job.image.mode != "RGB":
        job.image = flatten_on_white(job.image)
    return job


PIPELINE: tuple[Step, ...] = (flatten, trim, plan, resize, crop, pad, srgb)


# ---- smart crop --------------------------------------------------------------------------------


def attention(image: Image.Image) -> np.ndarray:
    """Where the eye goes, per pixel of a small copy: edges, colour saturation and distance from the
    border colour (libvips' `attention` idea, without its skin term)."""
    factor = max(1, max(image.size) // _ATTENTION_SIDE)
    small = np.asarray(image.reduce(factor) if factor > 1 else image, dtype=np.float32)
    grey = small.mean(axis=2)
    edges = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=3))
    saturation = small.max(axis=2) - small.min(axis=2)
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    distance = np.abs(small - np.median(border, axis=0)).max(axis=2)
    return edges + 0.5 * saturation + 0.5 * distance


def smart_offset(image: Image.Image, size: tuple[int, int]) -> tuple[int, int]:
    """The top-left corner of the `size` window holding the most attention."""
    width, height = image.size
    weights = attention(image)
    scale_x, scale_y = weights.shape[1] / width, weights.shape[0] / height

    def best(profile: np.ndarray, window: int, full: int, scale: float) -> int:
        if window >= full:
            return 0
        span = max(1, round(window * scale))
        sums = np.convolve(profile, np.ones(span, dtype=np.float64), mode="valid")
        # ties go to the middle: a featureless picture is cropped at its centre
        centre = (len(sums) - 1) / 2
        order = np.lexsort((np.abs(np.arange(len(sums)) - centre), -np.round(sums, 3)))
        return int(min(full - window, round(int(order[0]) / scale)))

    return (best(weights.sum(axis=0), size[0], width, scale_x), best(weights.sum(axis=1), size[1], height, scale_y))


# ---- encoders ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Encoder:
    """How one output format is written; `lossy` encoders can step quality down to fit a byte limit."""

    save: Callable[[Image.Image, io.BytesIO, int], None]
    lossy: bool = True


def _jpeg(image: Image.Image, buffer: io.BytesIO, quality: int) -> None:
    image.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)


def _webp(image: Image.Image, buffer: io.BytesIO, quality: int) -> None:
    image.save(buffer, "WEBP", quality=quality, method=4)


def _avif(image: Image.Image, buffer: io.BytesIO, quality: int) -> None:
    image.save(buffer, "AVIF", quality=quality, speed=8)  # speed 8: imgproxy's default; AVIF is slow


def _png(image: Image.Image, buffer: io.BytesIO, quality: int) -> None:
    image.save(buffer, "PNG", compress_level=6)


ENCODERS: dict[str, Encoder] = {
    "JPEG": Encoder(_jpeg),
    "WEBP": Encoder(_webp),
    "AVIF": Encoder(_avif),
    "PNG": Encoder(_png, lossy=False),
}


def _encode_once(image: Image.Image, fmt: str, quality: int) -> bytes:
    buffer = io.BytesIO()
    ENCODERS[fmt].save(image, buffer, quality)
    return buffer.getvalue()


def _bare(image: Image.Image) -> Image.Image:
    if image.info:
        # Pillow's encoders copy some of `info` into the file (JPEG comments, PNG ICC profiles);
        # a master opened straight from a merchant file still carries them, so drop them here.
        image = image.copy()
        image.info.clear()
    return image


def write(job: Job) -> Job:
    """Encode; over the byte limit, step the quality down until it fits or refuse."""
    profile, image = job.profile, _bare(job.image)
    quality = profile.quality
    data = _encode_once(image, profile.format, quality)
    encoder = ENCODERS[profile.format]
    while profile.max_bytes and len(data) > profile.max_bytes:
        if not encoder.lossy or quality <= MIN_QUALITY:
            raise OverByteLimit(
                f"{profile.name}: {len(data)} bytes at quality {quality}; the marketplace takes {profile.max_bytes}"
            )
        quality = max(MIN_QUALITY, quality - QUALITY_STEP)
        data = _encode_once(image, profile.format, quality)
    job.quality, job.data = quality, data
    return job


# ---- entry points ------------------------------------------------------------------------------


def run(source: Source, profile: Profile, steps: Iterable[Step] = PIPELINE) -> Job:
    """Run the pipeline for one profile, stopping before encoding (compliance reads the pixels)."""
    job = Job(profile=profile, source=source, image=source.master)
    for step in steps:
        job = step(job)
    return job


def render_source(source: Source, profile: Profile) -> RenderedVariant:
    """Render one profile from a shared source."""
    job = write(run(source, profile))
    return RenderedVariant(
        data=job.data, width=job.image.width, height=job.image.height, content_type=profile.content_type,
        quality=job.quality, upscale=round(job.upscale, 4),
    )


def render(master: Image.Image, profile: Profile, scale: float = 1.0) -> RenderedVariant:
    """Flatten, trim (if the profile asks), fit and encode the master for one profile."""
    return render_source(Source(master, scale), profile)


def load_source(data: bytes, limits: DecodeLimits, profiles: Sequence[Profile]) -> Source:
    """Decode once at the largest scale these profiles need (a reduced JPEG decode when that is
    enough, the full picture when the product is too small in the frame for it)."""
    decoded = decode(data, limits, target_side=needed_side(profiles))
    source = Source(decoded.image, decoded.scale)
    if not enough_detail(source, profiles):
        decoded = decode(data, limits)
        source = Source(decoded.image, decoded.scale)
    return source


def render_many(
    data: bytes, limits: DecodeLimits, profiles: Sequence[Profile]
) -> dict[str, RenderedVariant | ImageError]:
    """Render several profiles from one decode at the largest scale any of them needs; a profile
    the picture cannot serve (too small, over the byte limit) maps to its domain error."""
    source = load_source(data, limits, profiles)
    results: dict[str, RenderedVariant | ImageError] = {}
    for profile in sorted(profiles, key=lambda p: -max(p.width, p.height)):  # larger first, see scaled()
        try:
            results[profile.name] = render_source(source, profile)
        except (TooSmallForProfile, OverByteLimit) as exc:
            results[profile.name] = exc
    return results


def needed_side(profiles: Iterable[Profile]) -> int:
    """The longer side a master needs for these profiles (with room for trimming and the Lanczos
    gap): decode at reduced scale down to this, never below."""
    return max((2 * max(p.width, p.height) for p in profiles), default=0)


def enough_detail(source: Source, profiles: Iterable[Profile]) -> bool:
    """False when a reduced-scale master would have to be enlarged where the file has the pixels."""
    if source.scale >= 1.0:
        return True
    for profile in profiles:
        try:
            job = run(source, profile, (flatten, trim, plan))
        except TooSmallForProfile:
            continue
        if job.scale > 1.0:
            return False
    return True
