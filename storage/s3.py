"""Blob store on any S3-compatible service through boto3."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from storage.base import BlobInfo, BlobNotFound, ChecksumMismatch, StorageError, sha256_hex, validate_key

if TYPE_CHECKING:  # the boto3 stubs are a development dependency only
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

_PART_SIZE = 8 * 1024 * 1024


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3BlobStore:
    """Blobs as objects under `prefix` in `bucket`; SHA-256 kept as object metadata and checked."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any | None = None,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        multipart_threshold: int = 8 * 1024 * 1024,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.multipart_threshold = multipart_threshold
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            # SigV4 everywhere: botocore would otherwise presign with legacy SigV2 in us-east-1,
            # which S3 no longer accepts on newer buckets and most S3-compatible services refuse.
            config=Config(
                signature_version="s3v4",
                retries={"max_attempts": 5, "mode": "standard"},
                s3={"addressing_style": "path"},
            ),
        )

    def _key(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def ensure_bucket(self) -> None:
        """Create the bucket when missing (deployment and tests)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        """Conditional create (If-None-Match: *); True when this call created the object."""
        object_key = self._key(key)
        digest = hashlib.sha256(data).digest()
        metadata = {"sha256": digest.hex()}
        try:
            if len(data) >= self.multipart_threshold:
                if self.head(key) is not None:  # skip uploading every part only to be refused
                    return False
                self._put_multipart(object_key, data, content_type, metadata)
            else:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=object_key,
                    Body=data,
                    ContentType=content_type,
                    Metadata=metadata,
                    ChecksumSHA256=base64.b64encode(digest).decode(),
                    IfNoneMatch="*",
                )
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise StorageError(f"S3 put of {key} failed: {exc}") from exc
        return True

    def _put_multipart(
        self, object_key: str, data: bytes, content_type: str, metadata: dict[str, str]
    ) -> None:
        upload = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=object_key, ContentType=content_type, Metadata=metadata,
            ChecksumAlgorithm="SHA256",
        )
        upload_id = upload["UploadId"]
        parts: list[CompletedPartTypeDef] = []
        try:
            for number, offset in enumerate(range(0, len(data), _PART_SIZE), start=1):
                chunk = data[offset : offset + _PART_SIZE]
                answer = self.client.upload_part(
                    Bucket=self.bucket, Key=object_key, UploadId=upload_id, PartNumber=number, Body=chunk,
                    ChecksumSHA256=base64.b64encode(hashlib.sha256(chunk).digest()).decode(),
                )
                part: CompletedPartTypeDef = {"PartNumber": number, "ETag": answer["ETag"]}
                if answer.get("ChecksumSHA256"):
                    part["ChecksumSHA256"] = answer["ChecksumSHA256"]
                parts.append(part)
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=object_key, UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
        except BaseException:
            with contextlib.suppress(ClientError):  # keep the original error, not the abort's
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=object_key, UploadId=upload_id)
            raise

    def _get_object(self, key: str) -> Any:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                raise BlobNotFound(key) from exc
            raise StorageError(f"S3 get of {key} failed: {exc}") from exc

    def get(self, key: str) -> bytes:
        """All bytes, verified against the SHA-256 recorded at write time."""
        answer = self._get_object(key)
        data: bytes = answer["Body"].read()
        expected = answer.get("Metadata", {}).get("sha256")
        if expected and sha256_hex(data) != expected:
            raise ChecksumMismatch(f"{key}: stored bytes do not match their SHA-256")
        return data

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes start..end inclusive, through an HTTP Range request; b"" when start is past the end."""
        object_key = self._key(key)
        if start < 0 or end < start:
            raise ValueError(f"invalid byte range {start}-{end}")
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=object_key, Range=f"bytes={start}-{end}")
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                raise BlobNotFound(key) from exc
            if _code(exc) in ("InvalidRange", "416"):  # same answer as a file read past its end
                return b""
            raise StorageError(f"S3 ranged get of {key} failed: {exc}") from exc
        data: bytes = answer["Body"].read()
        return data

    def iter_chunks(self, key: str, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
        """Stream the object body in chunks."""
        body = self._get_object(key)["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def head(self, key: str) -> BlobInfo | None:
        """Facts about the object, or None when absent."""
        try:
            answer = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise StorageError(f"S3 head of {key} failed: {exc}") from exc
        return BlobInfo(
            key=key,
            size=int(answer["ContentLength"]),
            sha256=str(answer.get("Metadata", {}).get("sha256", "")),
            content_type=str(answer.get("ContentType", "application/octet-stream")),
        )

    def delete(self, key: str) -> None:
        """Remove the object; absent objects are not an error."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _code(exc) not in ("NoSuchKey", "404"):
                raise StorageError(f"S3 delete of {key} failed: {exc}") from exc

    def presigned_url(self, key: str, expires_in: int) -> str | None:
        """A presigned GET URL valid for `expires_in` seconds."""
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=expires_in
        )
        return url
