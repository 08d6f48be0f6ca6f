"""JSON face of images: /api/v1/images."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask_babel import gettext
from flask_login import current_user

from app.api import list_response, page_args
from app.auth.login import login_required
from app.core.db import utcnow
from app.core.errors import BadRequest
from app.deletion import delete_endpoint
from app.images.actions import (
    RESTORE_IMAGE,
    TRASH_IMAGE,
    delete_image_action,
    restore_image_action,
)
from app.images.present import image_to_dict
from app.images.processing import decode_slots_for
from app.images.service import find_duplicates, get_image, list_images, upload_image
from app.storage import get_storage

bp = Blueprint("images_api", __name__, url_prefix="/api/v1")


def read_upload() -> tuple[str, bytes]:
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest(gettext("Send the photo as a multipart field named file."),
                         code="missing_file")
    return upload.filename or "image", upload.read()


def upload_current_user() -> object:
    name, data = read_upload()
    config = current_app.config
    return upload_image(get_storage(), owner_id=current_user.id, file_name=name, data=data,
                        max_bytes=config["MAX_UPLOAD_MB"] * 1024 * 1024,
                        max_pixels=config["MAX_IMAGE_PIXELS"], now=utcnow(),
                        decode_slots=decode_slots_for(current_app))


def render(image) -> dict:
    return image_to_dict(image, now=utcnow())


@bp.post("/images")
@login_required
def upload():
    """Upload an image (multipart field ``file``). Still 201 when the same bytes are
    already in the caller's library; ``duplicate_of`` then names that image."""
    image = upload_current_user()
    body = render(image)
    duplicate = find_duplicates(image.owner_id, [image.sha256], exclude=image.id)
    if duplicate:
        body["duplicate_of"] = duplicate[image.sha256]
    return jsonify(body), 201


@bp.get("/images")
@login_required
def index():
    """The caller's active images, newest first."""
    limit, cursor = page_args()
    return list_response(list_images(current_user.id, limit=limit, cursor=cursor), render)


@bp.get("/images/<uuid:image_id>")
@login_required
def show(image_id):
    """One image, trashed ones included (owner or admin)."""
    image = get_image(image_id, actor=current_user, include_trashed=True)
    response = jsonify(render(image))
    response.headers["ETag"] = image.etag
    return response


@bp.delete("/images/<uuid:image_id>")
@delete_endpoint(
    **TRASH_IMAGE,
    description="Move an image to the trash; permanent=true deletes it and its files now",
)
def delete(image, options):
    return delete_image_action(image, options, actor=current_user)


@bp.post("/images/<uuid:image_id>/restore")
@bp.patch("/images/restore/<uuid:image_id>")
@delete_endpoint(**RESTORE_IMAGE, description="Restore an image from the trash")
def restore(image, options):
    return restore_image_action(image, options)
