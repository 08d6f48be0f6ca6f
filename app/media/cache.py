"""The server cache of /media bodies: Redis when ``REDIS_URL`` is set, else in-process.

Values are the raw bytes of one variant of one image (never base64); the content type
follows from the variant, so it is not stored. Entries are grouped by image, so that
``evict_image`` drops every variant of an image at once: soft delete, permanent delete,
the purge and user deletion call it. The access check always runs before a read, so an
entry that outlives its image by a moment is never served to anyone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

import redis
from flask import current_app, has_app_context

from app.core.redis_breaker import hot_client

log = logging.getLogger(__name__)

EXTENSION = "papelera.media_cache"
# The index of an image's entries lives at least as long as any entry (cache_ttl_s ≤ 7 days).
INDEX_TTL_S = 7 * 24 * 3600 + 60


class MemoryCache:
    """An LRU bounded in bytes, with a TTL per entry; one per process, thread-safe."""

    backend = "memory"

    def __init__(self, max_total_bytes: int, clock: Callable[[], float] = time.monotonic):
        self.max_total_bytes = max_total_bytes
        self.clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()
        self._by_image: dict[str, set[str]] = {}
        self._size = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self._size

    def get(self, image_id: str, variant: str) -> bytes | None:
        key = (str(image_id), variant)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, data = entry
            if expires <= self.clock():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return data

    def put(self, image_id: str, variant: str, data: bytes, ttl_s: int) -> None:
        if len(data) > self.max_total_bytes:
            return
        key = (str(image_id), variant)
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (self.clock() + ttl_s, data)
            self._by_image.setdefault(key[0], set()).add(variant)
            self._size += len(data)
            while self._size > self.max_total_bytes:
                self._drop(next(iter(self._entries)))

    def evict_images(self, image_ids: Iterable) -> None:
        with self._lock:
            for image_id in image_ids:
                for variant in list(self._by_image.get(str(image_id), ())):
                    self._drop((str(image_id), variant))

    def keys_of(self, image_id) -> set[str]:
        with self._lock:
            return set(self._by_image.get(str(image_id), ()))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._by_image.clear()
            self._size = 0

    def _drop(self, key: tuple[str, str]) -> None:
        _, data = self._entries.pop(key)
        self._size -= len(data)
        variants = self._by_image.get(key[0])
        if variants is not None:
            variants.discard(key[1])
            if not variants:
                del self._by_image[key[0]]


class RedisCache:
    """Entries as ``<ns>:<image id>:<variant>`` with their TTL, and per image a set of
    its variants (``<ns>:<image id>``) so that one eviction finds them all.

    With ``local``, each process also keeps the entries it read or wrote last in a
    small LRU of its own (``MEDIA_LOCAL_CACHE_BYTES``, at most ``LOCAL_TTL_S``), so a
    hot thumbnail costs no round trip for its bytes. The bytes of an image and variant
    never change (the ETag is their hash); the local copies are dropped with every
    eviction in this process and, in every process, whenever the access generation
    moves (``app.media.access_cache``: every delete, purge or revocation moves it).
    """

    backend = "redis"
    LOCAL_TTL_S = 300

    def __init__(self, client, namespace: str = "papelera:media",
                 local: MemoryCache | None = None):
        self.client = client
        self.namespace = namespace
        self.local = local
        self._errors = (redis.RedisError, OSError)

    def _entry(self, image_id, variant: str) -> str:
        return f"{self.namespace}:{image_id}:{variant}"

    def _index(self, image_id) -> str:
        return f"{self.namespace}:{image_id}"

    def get(self, image_id: str, variant: str) -> bytes | None:
        if self.local is not None:
            data = self.local.get(image_id, variant)
            if data is not None:
                return data
        try:
            data = self.client.get(self._entry(image_id, variant))
        except self._errors as exc:
            log.warning("media cache read failed: %s", exc)
            return None
        if data is not None and self.local is not None:
            self.local.put(image_id, variant, data, self.LOCAL_TTL_S)
        return data

    def put(self, image_id: str, variant: str, data: bytes, ttl_s: int) -> None:
        if self.local is not None:
            self.local.put(image_id, variant, data, min(ttl_s, self.LOCAL_TTL_S))
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.set(self._entry(image_id, variant), data, ex=ttl_s)
                pipe.sadd(self._index(image_id), variant)
                pipe.expire(self._index(image_id), INDEX_TTL_S)
                pipe.execute()
        except self._errors as exc:
            log.warning("media cache write failed: %s", exc)

    def evict_images(self, image_ids: Iterable) -> None:
        image_ids = [str(i) for i in image_ids]
        if not image_ids:
            return
        if self.local is not None:
            self.local.evict_images(image_ids)
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for image_id in image_ids:
                    pipe.smembers(self._index(image_id))
                members = pipe.execute()
            keys = [self._index(i) for i in image_ids]
            for image_id, variants in zip(image_ids, members, strict=True):
                keys.extend(self._entry(image_id, v.decode()) for v in variants)
            self.client.delete(*keys)
        except self._errors as exc:
            log.error("media cache eviction failed for %d image(s): %s", len(image_ids), exc)

    def keys_of(self, image_id) -> set[str]:
        prefix = f"{self.namespace}:{image_id}"
        return {k.decode() for k in self.client.scan_iter(match=f"{prefix}*")}


def redis_client(config):
    """A client for ``REDIS_URL`` on the request path: sub-second timeouts, no retry, and
    the process's "Redis is down" breaker (``app.core.redis_breaker``)."""
    return hot_client(config["REDIS_URL"])


def cache_from_config(config):
    if config["REDIS_URL"]:
        client = redis_client(config)
        local_bytes = config["MEDIA_LOCAL_CACHE_BYTES"]
        return RedisCache(client, config["MEDIA_CACHE_NAMESPACE"],
                          local=MemoryCache(local_bytes) if local_bytes else None)
    return MemoryCache(config["MEDIA_MEMORY_CACHE_BYTES"])


def init_app(app) -> None:
    app.extensions[EXTENSION] = cache_from_config(app.config)


def get_cache():
    return current_app.extensions[EXTENSION]


def forget_local_copies(app) -> None:
    """Drop this process's copies of Redis entries (the access generation moved)."""
    cache = app.extensions.get(EXTENSION)
    if getattr(cache, "local", None) is not None:
        cache.local.clear()


def evict_images(image_ids: Iterable) -> None:
    """Drop every cached variant of these images (no-op outside an app)."""
    if has_app_context() and EXTENSION in current_app.extensions:
        get_cache().evict_images(list(image_ids))
