"""How media learns of changes made elsewhere: subscribers to the domain events.

Delivered by the unit of work after the change commits and after every lock is released
(``app.core.uow``), so none of this runs under the user-store lock or sees uncommitted
rows. What an answer depends on happens here at once, never through the scheduler:

- any event that can change who may see what moves the access generation
  (``app.core.access_cache``): every process drops its cached decisions;
- images leaving (trashed, claimed, erased) lose their cached bytes, here and in Redis;
- uploads and deletions are counted in the media metrics, once per image: a deletion
  when the image leaves the gallery (to the trash, or straight to erasure), not again
  when the trash is emptied or purged (variants are counted where they are stored).
"""

from __future__ import annotations

from flask import current_app, has_app_context

from app.core import access_cache, events
from app.media import cache, metrics
from app.media.service import MEDIA_ENDPOINTS


def init_app(app) -> None:
    config = app.config
    client = cache.redis_client(config) if config["REDIS_URL"] else None
    access_cache.init_app(
        app, endpoints=MEDIA_ENDPOINTS, redis_client=client,
        namespace=config["MEDIA_CACHE_NAMESPACE"],
        recheck_s=float(config["MEDIA_ACCESS_RECHECK_S"]),
        max_age_s=float(config["MEDIA_ACCESS_CACHE_MAX_AGE_S"]),
        on_change=lambda: cache.forget_local_copies(app))
    events.subscribe(events.ACCESS_EVENTS, access_changed)
    events.subscribe((events.ImagesTrashed, events.ImagesClaimed, events.ImagesErased),
                     images_leaving)
    events.subscribe(events.ImagesTrashed, count_deleted)
    events.subscribe(events.ImagesUploaded, count_uploaded)


def _ours() -> bool:
    """Whether an app with media is current (a CLI command without one: nothing to do)."""
    return has_app_context() and cache.EXTENSION in current_app.extensions


def access_changed(_event: events.Event) -> None:
    if _ours():
        access_cache.changed()


def images_leaving(event) -> None:
    if _ours():
        cache.evict_images(event.image_ids)


def count_deleted(event: events.ImagesTrashed) -> None:
    if _ours():
        for image_id in event.image_ids:
            metrics.record_event("delete", image_id)


def count_uploaded(event: events.ImagesUploaded) -> None:
    if _ours():
        for image_id in event.image_ids:
            metrics.record_event("upload", image_id, nbytes=event.nbytes)
