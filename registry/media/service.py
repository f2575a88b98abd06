"""The media use cases' public surface; each lives in a module of its own:

- `registry.media.uploads`      upload (exact copy by SHA-256, verified near copy, or a new asset)
- `registry.media.promotion`    a strictly better copy of unchanged content becomes the master
- `registry.media.trust`        who may change a master: official media, promotion rules, history
- `registry.media.split_merge`  the owner's split and merge
- `registry.media.search`       search by picture
- `registry.media.describe`     assets and uploads for display
- `registry.media.picture`      hashing, decoding, fingerprinting an uploaded picture (shared helpers)
"""

from __future__ import annotations

from registry.media.describe import (
    AssetView,
    describe_asset,
    describe_upload,
    get_asset,
    get_upload,
    recent_uploads,
)
from registry.media.picture import PictureFacts
from registry.media.search import SearchHit, search
from registry.media.split_merge import merge, split
from registry.media.uploads import (
    DedupKind,
    UploadCommand,
    UploadOutcome,
    clean_filename,
    remove_unreferenced_blobs,
    upload,
)

__all__ = [
    "AssetView", "DedupKind", "PictureFacts", "SearchHit", "UploadCommand", "UploadOutcome", "clean_filename",
    "describe_asset", "describe_upload", "get_asset", "get_upload", "merge",
    "recent_uploads", "remove_unreferenced_blobs", "search", "split", "upload",
]
