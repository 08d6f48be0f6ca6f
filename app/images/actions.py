"""What a delete or restore request does, shared by the API and the page routes.

Each function takes the loaded target and the parsed options from ``@delete_endpoint``
and returns ``(body, audit_details)``.
"""

from __future__ import annotations

from flask_babel import gettext

from app.core.db import utcnow
from app.images.models import Image
from app.images.present import deletion_to_dict, image_to_dict
from app.images.service import (
    get_image,
    permanently_delete_image,
    restore_image,
    soft_delete_image,
)
from app.storage import get_storage
from app.trash.retention import retention_days_for


def load_image_for(actor, image_id) -> Image:
    """The image (trashed ones included) if the actor owns it or is an admin; else 404."""
    return get_image(image_id, actor=actor, include_trashed=True)


def preview_image_deletion(image: Image, options) -> dict:
    if options.permanent:
        return {"images": 1, "objects": 2, "bytes": image.total_bytes}
    return {"images": 1, "objects": 0, "bytes": 0}


def delete_image_action(image: Image, options, *, actor) -> tuple[dict, dict]:
    now = utcnow()
    if options.permanent:
        deletion, result = permanently_delete_image(image, get_storage(), actor_id=actor.id,
                                                    now=now)
        body = {"message": gettext("“%(name)s” was deleted permanently.", name=image.file_name),
                "deletion": {**deletion_to_dict(deletion), "bytes_freed": result.bytes_freed}}
        return body, {"bytes_freed": result.bytes_freed, "owner_id": image.owner_id}
    deletion = soft_delete_image(image, actor_id=actor.id,
                                 retention_days=retention_days_for(image.owner_id), now=now)
    body = {"message": gettext("“%(name)s” moved to the trash.", name=image.file_name),
            "deletion": deletion_to_dict(deletion)}
    return body, {"purge_at": body["deletion"]["recoverable_until"], "owner_id": image.owner_id}


def restore_image_action(image: Image, options) -> tuple[dict, dict]:
    now = utcnow()
    image = restore_image(image, now=now)
    body = image_to_dict(image, now=now)
    return body, {"owner_id": image.owner_id}


def preview_restore(image: Image, options) -> dict:
    return {"images": 1, "objects": 0, "bytes": 0}


# What the decorator needs to know about each image action, declared once for every
# route (API and pages) that performs it; a route adds its description and partial.
# A permanent delete reaches the object store: it is ``outside_sql`` (see app.deletion).
TRASH_IMAGE = {"resource": "image", "load": load_image_for, "preview": preview_image_deletion,
               "outside_sql": lambda options: options.permanent}
DELETE_IMAGE_FOREVER = {**TRASH_IMAGE, "soft": False, "outside_sql": True}
RESTORE_IMAGE = {"resource": "image", "load": load_image_for, "preview": preview_restore,
                 "allow_permanent": False, "confirm": None, "action": "restore"}
