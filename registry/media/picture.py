"""An uploaded picture made ready to register: hashed once, decoded, fingerprinted, its blobs and rows."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from processing.decode import DecodedImage, decode
from processing.fingerprint import Fingerprint as PictureFingerprint
from processing.fingerprint import fingerprint
from registry.media.blobs import detail_key, original_key, signature_key, signature_prefix
from registry.models import Fingerprint, Upload
from registry.runtime import Runtime

_LOSSLESS_FORMATS = {"PNG", "TIFF", "GIF"}


def sha256_of(data: bytes) -> str:
    """The content key of uploaded bytes (hex SHA-256)."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class PreparedPicture:
    """A decoded, fingerprinted picture and the prefix its signature blobs are stored under."""

    sha256: str
    decoded: DecodedImage
    picture: PictureFingerprint
    prefix: str


def prepare(rt: Runtime, data: bytes, sha256: str) -> PreparedPicture:
    """Decode and fingerprint `data`, whose SHA-256 the caller has already computed."""
    decoded = decode(data, rt.limits)
    picture = fingerprint(decoded.image, rt.verify_pool)
    return PreparedPicture(sha256=sha256, decoded=decoded, picture=picture, prefix=signature_prefix(sha256))


def blobs(prepared: PreparedPicture, data: bytes) -> list[tuple[str, bytes, str]]:
    """The original, signature and detail blobs of a picture: (key, bytes, content type)."""
    return [
        (original_key(prepared.sha256), data, prepared.decoded.mime_type),
        (signature_key(prepared.prefix), prepared.picture.signature_png, "image/png"),
        (detail_key(prepared.prefix), prepared.picture.detail_png, "image/png"),
    ]


def fingerprint_row(asset_id: str, upload_id: str, prepared: PreparedPicture) -> Fingerprint:
    """The index row of a picture's perceptual hashes."""
    picture = prepared.picture
    h0, h1, h2, h3 = picture.hashes
    summary = picture.verify_image.summary
    return Fingerprint(
        asset_id=asset_id, upload_id=upload_id, signature_key=prepared.prefix, algo_version=picture.algo_version,
        h0=h0, h1=h1, h2=h2, h3=h3, content_width=picture.content_width, content_height=picture.content_height,
        informative=picture.informative, thumb=picture.thumb, detail_side=summary.long_side,
        detail_edge_energy=summary.edge_energy, active=True,
    )


@dataclass(frozen=True)
class PictureFacts:
    """What an upload row records about its picture: size, format and quality measures."""

    format: str
    width: int
    height: int
    content_pixels: int
    sharpness: float
    jpeg_quality: int | None
    lossless: bool

    @classmethod
    def of(cls, prepared: PreparedPicture) -> PictureFacts:
        """Facts of a freshly decoded and fingerprinted picture."""
        decoded, picture = prepared.decoded, prepared.picture
        return cls(
            format=decoded.format, width=decoded.width, height=decoded.height,
            content_pixels=picture.content_width * picture.content_height, sharpness=picture.sharpness,
            jpeg_quality=decoded.jpeg_quality, lossless=decoded.format in _LOSSLESS_FORMATS,
        )

    @classmethod
    def copied_from(cls, upload: Upload) -> PictureFacts:
        """The facts an earlier upload of the same bytes recorded."""
        return cls(
            format=upload.format, width=upload.width, height=upload.height, content_pixels=upload.content_pixels,
            sharpness=upload.sharpness, jpeg_quality=upload.jpeg_quality, lossless=upload.lossless,
        )
