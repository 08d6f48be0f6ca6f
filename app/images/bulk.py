"""The gallery's selection: soft-deleting several images as one ``@delete_endpoint``
target (one audit event, one Undo), and a zip of their originals."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator

from flask import request
from flask_babel import gettext, ngettext

from app.core.db import utcnow
from app.core.errors import NotFound
from app.deletion.targets import Snapshot
from app.images.models import Image
from app.images.service import owned_selection, soft_delete_image
from app.trash.retention import retention_days_for
from app.trash.service import selected_ids
from app.users.export import _Sink, write_originals


def load_gallery_selection(actor) -> Snapshot:
    """The caller's active images ticked in the gallery (``ids``, repeated). Other
    people's ids, and ids already in the trash, are left out; none left is 404."""
    images = owned_selection(actor.id, selected_ids(request.args.getlist("ids")))
    if not images:
        raise NotFound(gettext("None of the selected photos is in your library."))
    versions = sum(image.version for image in images)
    return Snapshot("selection", actor.id, len(images), sum(i.size_bytes for i in images),
                    tuple(str(image.id) for image in images), fingerprint=str(versions))


def preview_gallery_selection(selection: Snapshot, options) -> dict:
    return {"images": selection.count, "objects": 0, "bytes": 0}


def trash_selection_action(selection: Snapshot, options, *, actor) -> tuple[dict, dict]:
    """Move the selection to the trash (not committed: the decorator commits it with
    its one audit event)."""
    images = owned_selection(actor.id, selection.members)
    days = retention_days_for(actor.id)
    now = utcnow()
    for image in images:
        soft_delete_image(image, actor_id=actor.id, retention_days=days, now=now)
    ids = [str(image.id) for image in images]
    if len(images) == 1:
        message = gettext("“%(name)s” moved to the trash.", name=images[0].file_name)
    else:
        message = ngettext("%(num)d photo moved to the trash.",
                           "%(num)d photos moved to the trash.", len(images))
    return {"message": message, "ids": ids}, {"ids": ids, "count": len(ids)}


TRASH_SELECTION = {"resource": "selection", "load": load_gallery_selection,
                   "preview": preview_gallery_selection, "allow_permanent": False,
                   "action": "soft_delete", "params": ("ids",)}


def stream_originals(images: list[Image], storage) -> Iterator[bytes]:
    """A zip of the images' originals, streamed one chunk at a time (as the account
    export does); files already gone from the storage are listed in ``missing.json``."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w") as archive:
        yield from write_originals(archive, sink, images, storage, prefix="", own_names=True)
    yield sink.drain()
