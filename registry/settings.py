"""One settings object for every process, read from SKUPIX_* environment variables."""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class VariantDelivery(StrEnum):
    """How variant bytes reach a client when the blob store is remote."""

    STREAM = "stream"
    REDIRECT = "redirect"


class Settings(BaseSettings):
    """All configuration; built once per process and passed down explicitly."""

    model_config = SettingsConfigDict(env_prefix="SKUPIX_", extra="ignore")

    data_dir: Path = Path("./skupix-data")
    database_url: str = ""
    storage_url: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_multipart_threshold: int = 8 * 1024 * 1024
    broker_url: str = ""
    # HTTP delivery (public_url, variant_delivery, cdn_url, presign_ttl_seconds, alias_max_age_seconds):
    # read only by api/ (api/deps.py, api/hotlink.py), never by the registry.
    public_url: str = ""
    variant_delivery: VariantDelivery = VariantDelivery.STREAM
    cdn_url: str = ""
    presign_ttl_seconds: int = 3600

    max_upload_bytes: int = 40 * 1024 * 1024
    max_pixels: int = 50_000_000
    # JPEGs decode at reduced scale, so they may have more source pixels (docs/rendering.md)
    max_pixels_reducible: int = 120_000_000
    max_side: int = 20_000
    max_frames: int = 200
    allowed_formats: list[str] = Field(default_factory=lambda: ["JPEG", "PNG", "WEBP", "GIF", "AVIF", "TIFF"])

    profiles_file: Path | None = None

    # Dedup thresholds: calibrated in docs/dedup.md; change them there first.
    # Benign copies measured so far land within 8 bits of each other (docs/dedup.md); the exact
    # candidate lookup at 8 bits stays near a millisecond at ten million assets (docs/dedup-index.md).
    dedup_candidate_radius: int = 8
    dedup_max_candidates: int = 8
    dedup_max_structure_diff: float = 10.0
    dedup_max_colour_diff: float = 8.0
    # Candidates verified at once during one dedup decision (threads; OpenCV releases the GIL).
    # A new product that looks like several registered ones must reject every one of them.
    dedup_verify_threads: int = Field(default=2, ge=1, le=16)

    index_snapshot: bool = True

    task_max_attempts: int = 4
    task_time_limit_seconds: int = 120
    sweeper_grace_seconds: int = 30
    sweeper_interval_seconds: float = 10.0
    inprocess_workers: int = 2
    alias_max_age_seconds: int = 60
    # Brand pack change events (issue 13): attempts per delivery, first retry delay (doubling), request timeout.
    webhook_max_attempts: int = 8
    webhook_backoff_seconds: float = 30.0
    webhook_timeout_seconds: float = 10.0
    # Webhooks to loopback, private or link-local addresses reach the registry's own network (SSRF); off
    # unless a deployment (or a test) really delivers inside it.
    webhook_allow_private_hosts: bool = False
    # One JSON line per request on stderr (logger skupix.access); `skupix serve` turns it on.
    access_log: bool = False
    # With local storage behind nginx: answer variant GETs with X-Accel-Redirect to this internal
    # location (e.g. /_skupix_blobs/) and let nginx send the file; see infra/nginx. Empty: send it here.
    accel_redirect_prefix: str = ""
    # Hotlink requests one client address may make per second, with bursts up to the burst size; 0: no limit.
    hotlink_rate_per_client: float = 0.0
    hotlink_burst_per_client: int = 100
    # The same for all hotlinks of the assets one tenant owns, per API process; 0: no limit.
    hotlink_rate_per_tenant: float = 0.0
    hotlink_burst_per_tenant: int = 2000
    # Revoking an asset refreshes its URLs on these edges (nginx base URLs, comma-separated) with this token,
    # and POSTs {"asset_id", "paths"} to the webhook (a CDN's purge-by-URL, through a small adapter).
    purge_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    purge_token: SecretStr | None = None
    purge_webhook_url: str = ""
    # The purge is an outbox job: a pass that cannot reach an edge or the webhook is tried again after
    # purge_backoff_seconds x 2^(attempt-1) (capped at an hour), up to purge_max_attempts passes (a CDN
    # outage of several hours with the defaults), then quarantined with its last error.
    purge_max_attempts: int = Field(default=12, ge=1, le=100)
    purge_backoff_seconds: float = Field(default=15.0, gt=0)
    # How often each API process writes the hotlink hits it has added up (one transaction per flush).
    usage_flush_seconds: float = 30.0

    @field_validator("purge_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # Hostile-request bounds (api/limits.py): JSON bodies are small; uploads get max_upload_bytes.
    max_json_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Picture decodes (upload, search) at once per API process; beyond it a 503 with Retry-After.
    max_concurrent_decodes: int = Field(default=8, ge=1, le=256)
    busy_retry_after_seconds: int = Field(default=2, ge=1, le=3600)

    @field_validator("allowed_formats", mode="before")
    @classmethod
    def _split_formats(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().upper() for part in value.split(",") if part.strip()]
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{(self.data_dir / 'skupix.sqlite3').resolve()}"

    @cached_property
    def resolved_storage_url(self) -> str:
        """The blob-store URL, defaulting to a folder in the data directory."""
        if self.storage_url:
            return self.storage_url
        return (self.data_dir / "blobs").resolve().as_uri()

    @property
    def index_snapshot_path(self) -> Path:
        """Where the candidate index is saved between runs (it is rebuilt from the database if absent)."""
        return self.data_dir / "hash-index.npz"

    @property
    def embedded_tasks(self) -> bool:
        """True when tasks run in this process instead of on Celery workers."""
        return not self.broker_url
