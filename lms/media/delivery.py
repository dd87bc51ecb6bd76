"""Serving processed media privately.

The app serves the master and variant playlists (after the caller checked access) and rewrites every
segment and ``EXT-X-MAP`` URI in a variant playlist to a short-lived URL of the object itself:

- MinIO: a presigned GET for the public endpoint. Segments go from MinIO to the browser, never
  through Flask.
- The local store (no presigning): an app URL signed the same way (HMAC of key and expiry), served
  by ``serve_object`` with Range support.

Presigned URLs are dated to the hour, so a variant playlist rewritten once is valid for everyone for
the rest of the hour: it is cached per process, which keeps a 2-hour lecture's playlist cheap.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from lms.core.errors import NotFound
from lms.media.errors import AssetNotReady, StorageDown
from lms.media.models import AssetStatus, MediaAsset
from media_pipeline import InvalidKey, ObjectNotFound, ObjectStore, StorageUnavailable
from media_pipeline.hls import join_uri, rewrite_playlist, variant_uris

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
_CACHE_SIZE = 256


class UrlSigner:
    """HMAC-signed, expiring app URLs for objects of a store that cannot presign."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), b"lms.media.object-url", hashlib.sha256).digest()

    def signature(self, key: str, expires: int) -> str:
        mac = hmac.new(self._key, f"{key}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:18]).decode()

    def verify(self, key: str, expires: str, signature: str, now: datetime) -> bool:
        if not expires.isdigit() or int(expires) < now.timestamp():
            return False
        return hmac.compare_digest(self.signature(key, int(expires)), signature)


def hour_floor(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class Delivery:
    """One per app: the store, how to address objects it cannot presign, and the playlist cache."""

    def __init__(
        self,
        store: ObjectStore,
        signer: UrlSigner,
        ttl: timedelta,
        local_url: Callable[[str, int, str], str],
    ) -> None:
        self.store = store
        self.signer = signer
        self.ttl = ttl
        self._local_url = local_url  # (key, expires, signature) -> URL of serve_object
        self._cache: OrderedDict[tuple[object, ...], str] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[tuple[object, ...], threading.Lock] = {}

    def object_url(self, key: str, now: datetime) -> str:
        try:
            url = self.store.presigned_get_url(key, self.ttl)
        except StorageUnavailable as error:
            raise StorageDown() from error
        if url is not None:
            return url
        expires = int((hour_floor(now) + self.ttl + timedelta(hours=1)).timestamp())
        return self._local_url(key, expires, self.signer.signature(key, expires))

    def master_playlist(self, asset: MediaAsset) -> str:
        """As ffmpeg wrote it: its variant URIs are relative, so the browser asks our route for them.
        An attempt's output never changes, so it is cached by its prefix (no expiry needed)."""
        key = self._playable(asset)
        cache_key = (asset.id, asset.output_prefix, "master")
        with self._lock:
            cached = self._cache.get(cache_key)
        if cached is None:
            cached = self._read(key)
            self._remember(cache_key, cached)
        return cached

    def _remember(self, cache_key: tuple[object, ...], text: str) -> None:
        with self._lock:
            self._cache[cache_key] = text
            self._cache.move_to_end(cache_key)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)

    def variant_playlist(self, asset: MediaAsset, path: str, now: datetime) -> str:
        master_key = self._playable(asset)
        prefix = asset.output_prefix or ""
        cache_key = (asset.id, prefix, path, hour_floor(now))
        with self._lock:
            cached = self._cache.get(cache_key)
            if cached is not None:
                self._cache.move_to_end(cache_key)
                return cached
        with self._lock:  # one thread signs a playlist; others missing the same key wait for it
            building = self._building.setdefault(cache_key, threading.Lock())
        with building:
            with self._lock:
                cached = self._cache.get(cache_key)
            if cached is None:
                cached = self._rewrite(master_key, prefix, path, now)
                self._remember(cache_key, cached)
        with self._lock:
            self._building.pop(cache_key, None)
        return cached

    def _rewrite(self, master_key: str, prefix: str, path: str, now: datetime) -> str:
        folder = prefix.rstrip("/")  # a playlist may only point at its own asset's files
        try:
            allowed = {join_uri(master_key, u, within=folder) for u in variant_uris(self._read(master_key))}
            key = join_uri(master_key, path, within=folder)
            if key not in allowed:
                raise NotFound()
            text = rewrite_playlist(
                self._read(key), lambda uri: self.object_url(join_uri(key, uri, within=folder), now)
            )
        except InvalidKey as error:
            raise NotFound() from error
        return text

    def _playable(self, asset: MediaAsset) -> str:
        if asset.status != AssetStatus.READY or not asset.playlist_key or asset.kind == "image":
            raise AssetNotReady()
        return asset.playlist_key

    def _read(self, key: str) -> str:
        try:
            return self.store.read(key).decode("utf-8")
        except ObjectNotFound as error:
            raise NotFound() from error
        except StorageUnavailable as error:
            raise StorageDown() from error
