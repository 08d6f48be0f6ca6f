"""Page face of images: the gallery, upload, delete with undo, restore."""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask_babel import ngettext
from flask_login import current_user

from app import htmx
from app.auth.login import login_required
from app.db import utcnow
from app.deletion import delete_endpoint
from app.errors import BadRequest, DomainError
from app.images.actions import (
    RESTORE_IMAGE,
    TRASH_IMAGE,
    delete_image_action,
    restore_image_action,
)
from app.images.present import image_to_dict
from app.images.processing import decode_slots_for
from app.images.service import count_images, list_images, upload_image
from app.pagination import parse_limit
from app.storage import get_storage

bp = Blueprint("images_pages", __name__)

PAGE_SIZE = 48


def cards(images) -> list[dict]:
    now = utcnow()
    return [image_to_dict(img, now=now) for img in images]


def gallery_count() -> dict:
    count, size = count_images(current_user.id)
    return {"count": count, "size": size}


@bp.get("/")
@login_required
def gallery():
    limit = parse_limit(request.args.get("limit") or str(PAGE_SIZE))
    cursor = request.args.get("cursor") or None
    page = list_images(current_user.id, limit=limit, cursor=cursor)
    count, size = count_images(current_user.id)
    block = "more" if cursor else "gallery"
    return htmx.render_page_or_block("images/index.html", block, images=cards(page.items),
                                     next_cursor=page.next_cursor, count=count, size=size)


@bp.post("/images")
@login_required
def upload():
    from flask import current_app

    files = [f for f in request.files.getlist("file") if f and f.filename]
    if not files:
        raise BadRequest("Choose one or more images to upload.", code="missing_file")
    config = current_app.config
    uploaded, failed = [], []
    for item in files:
        try:
            uploaded.append(upload_image(
                get_storage(), owner_id=current_user.id, file_name=item.filename,
                data=item.read(), max_bytes=config["MAX_UPLOAD_MB"] * 1024 * 1024,
                max_pixels=config["MAX_IMAGE_PIXELS"], now=utcnow(),
                decode_slots=decode_slots_for(current_app)))
        except DomainError as error:
            if len(files) == 1:
                raise
            failed.append(f"{item.filename}: {error.message}")
    html = render_template("images/_uploaded.html", images=cards(uploaded))
    html += render_template("images/_count.html", oob=True, **gallery_count())
    if uploaded:
        html += htmx.toast(ngettext("Uploaded %(num)d image.", "Uploaded %(num)d images.",
                                    len(uploaded)), "success")
    for message in failed:
        html += htmx.toast(message, "error")
    return html, 201 if uploaded else 400


@bp.post("/images/<uuid:image_id>/share")
@login_required
def share_image(image_id):
    """Gallery's "Copy link": a share link in a read-only field, and a toast."""
    from app.media import share_image as make_link
    from app.media.service import DEFAULT_SHARE_TTL_S

    link = make_link(image_id, DEFAULT_SHARE_TTL_S)
    html = render_template("images/_share.html", link=link)
    html += htmx.toast(f"Share link ready; it works until {link['expires_at'][:16]} UTC "
                       "for anyone who has it.", "success")
    return html


@bp.delete("/images/<uuid:image_id>")
@delete_endpoint(
    **TRASH_IMAGE,
    description="Gallery: move an image to the trash (a toast offers Undo)",
    partial="images/index.html#card_gone",
)
def delete_image(image, options):
    body, details = delete_image_action(image, options, actor=current_user)
    if not options.permanent:
        body["undo_url"] = url_for("images_pages.restore_image", image_id=image.id)
    return {**body, **gallery_count()}, details


@bp.post("/images/<uuid:image_id>/restore")
@delete_endpoint(
    **RESTORE_IMAGE,
    description="Gallery: Undo a delete (the card comes back)",
    partial="images/index.html#restored",
)
def restore_image(image, options):
    body, details = restore_image_action(image, options)
    body["message"] = f"“{image.file_name}” is back in the gallery."
    return {**body, **gallery_count()}, details
