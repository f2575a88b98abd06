"""Blob storage behind one interface; backends chosen by URL."""

from storage.base import BlobInfo, BlobNotFound, BlobStore, StorageError
from storage.factory import open_store

__all__ = ["BlobInfo", "BlobNotFound", "BlobStore", "StorageError", "open_store"]
