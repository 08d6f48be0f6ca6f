"""Page face of images: the gallery, upload, delete with undo, restore."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from itertools import groupby

from babel.dates import format_skeleton
from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    make_response,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import (
    format_date,
    get_locale,
    gettext,
    ngettext,
    to_user_timezone,
    to_utc,
)
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from app.auth.login import login_required
from app.core import htmx
from app.core.db import utcnow
from app.core.errors import BadRequest, DomainError, NotFound
from app.core.extensions import db
from app.core.pagination import encode_cursor, parse_limit
from app.deletion import delete_endpoint
from app.images.actions import (
    RESTORE_IMAGE,
    TRASH_IMAGE,
    delete_image_action,
    restore_image_action,
)
from app.images.bulk import TRASH_SELECTION, stream_originals, trash_selection_action
from app.images.models import Image, ImageVariant
from app.images.present import image_to_dict
from app.images.processing import decode_slots_for
from app.images.service import (
    count_images,
    find_duplicates,
    get_image,
    list_images,
    neighbours,
    owned_selection,
    upload_image,
)
from app.media.service import (
    DEFAULT_FORMAT,
    DEFAULT_QUALITY,
    DEFAULT_SHARE_TTL_S,
    QUALITY_STEPS,
    ensure_variant,
    formats_available,
    parse_media_request,
)
from app.media.shares import share_image as make_link
from app.storage import get_storage
from app.trash.actions import (
    RESTORE_SELECTION,
    load_chosen_items_for,
    restore_selection_action,
)
from app.trash.service import selected_ids

bp = Blueprint("images_pages", __name__)

PAGE_SIZE = 48


def cards(images) -> list[dict]:
    now = utcnow()
    return [image_to_dict(img, now=now) for img in images]


def days_of(images) -> list[dict]:
    """Images grouped by the day they were added (in the reader's time zone), newest
    first: ``[{"day": "2026-11-30", "label": "Nov 30, 2026", "images": [cards]}]``."""
    now = utcnow()
    days = []
    for day, group in groupby(images, key=lambda img: to_user_timezone(img.created_at).date()):
        days.append({"day": day.isoformat(), "label": format_date(day, "full"),
                     "images": [image_to_dict(img, now=now) for img in group]})
    return days


def gallery_count() -> dict:
    count, size = count_images(current_user.id)
    return {"count": count, "size": size}


def month_label(day: date) -> str:
    """"May 2026", "mayo de 2026": the month and year as the reader's language says them."""
    return format_skeleton("yMMMM", day, locale=get_locale())


MONTHS_PER_STATEMENT = 200  # PostgreSQL allows 1,664 columns in one SELECT


def months_of(owner_id: str) -> list[dict]:
    """The months that have photos, newest first, in the reader's time zone, for the
    "Go to date" control: ``[{"value": "2026-11", "label": "November 2026", "count": 12}]``.

    Two statements, however long the library: the newest and the oldest upload time (two
    probes of ``ix_images_gallery``), then one count per month between them as columns
    of one SELECT, each an index-only range of the same index. No photo row is read, and
    the Python side does one step per month, not per photo (the review's 100,000-photo
    library took a pass over every upload time on each first page; a walk of two
    statements a month then took 74 round trips for three years). Month starts are the
    reader's midnights in UTC, so the same statements run on SQLite and PostgreSQL."""
    live = (Image.owner_id == owner_id, Image.is_deleted.is_(False))
    newest, oldest = db.session.execute(select(
        select(func.max(Image.created_at)).where(*live).scalar_subquery(),
        select(func.min(Image.created_at)).where(*live).scalar_subquery())).one()
    if newest is None:
        return []
    first, last = to_user_timezone(_aware(newest)), to_user_timezone(_aware(oldest))
    spans, before = [], None  # (year, month, its start in UTC, the next month's start)
    year, month = first.year, first.month
    while (year, month) >= (last.year, last.month):
        start = _month_start_utc(year, month)
        spans.append((year, month, start, before))
        year, month, before = (year, month - 1, start) if month > 1 else (year - 1, 12, start)
    counts = []
    for chunk in range(0, len(spans), MONTHS_PER_STATEMENT):
        columns = [select(func.count()).select_from(Image)
                   .where(*live, Image.created_at >= start,
                          *([Image.created_at < end] if end is not None else []))
                   .scalar_subquery()
                   for _, _, start, end in spans[chunk:chunk + MONTHS_PER_STATEMENT]]
        counts.extend(db.session.execute(select(*columns)).one())
    return [{"value": f"{year:04d}-{month:02d}", "count": count,
             "label": month_label(date(year, month, 1))}
            for (year, month, _, _), count in zip(spans, counts, strict=True) if count]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _month_start_utc(year: int, month: int) -> datetime:
    """The reader's midnight on the 1st of ``month``, in UTC, as stored times compare."""
    return to_utc(datetime(year, month, 1)).replace(tzinfo=UTC)


def month_cursor(month: str) -> tuple[str, date]:
    """A cursor that starts the gallery at the newest photo of ``month`` ("YYYY-MM", in
    the reader's time zone) or before it: just past the month's last instant."""
    try:
        first = datetime.strptime(month, "%Y-%m").date()
    except ValueError:
        raise BadRequest(gettext("Choose a month from the list."), code="invalid_month") from None
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    start_of_next = _month_start_utc(after.year, after.month)
    return encode_cursor(start_of_next, uuid.UUID(int=(1 << 128) - 1)), first


@bp.get("/")
@login_required
def gallery():
    limit = parse_limit(request.args.get("limit") or str(PAGE_SIZE))
    cursor = request.args.get("cursor") or None
    month = request.args.get("month") or None
    jumped = None
    if month and not cursor:
        cursor, jumped = month_cursor(month)
    page = list_images(current_user.id, limit=limit, cursor=cursor)
    block = "more" if request.args.get("cursor") else "gallery"
    context = {"days": days_of(page.items), "next_cursor": page.next_cursor,
               "paged": bool(cursor)}
    if block == "gallery":  # a later page is tiles only: the total is not counted again
        context.update(gallery_count())
    if htmx.wants_full_page():
        context["months"] = months_of(current_user.id)
        context["jumped"] = ({"value": month, "label": month_label(jumped)}
                             if jumped else None)
    return htmx.render_page_or_block("images/index.html", block, **context)


@bp.post("/images")
@login_required
def upload():
    files = [f for f in request.files.getlist("file") if f and f.filename]
    if not files:
        raise BadRequest(gettext("Choose one or more photos to upload."), code="missing_file")
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
            # The page uploads one file per request: the toast names the file either way.
            error.message = gettext("%(name)s: %(problem)s", name=item.filename,
                                    problem=error.message)
            if len(files) == 1:
                raise
            failed.append(error.message)
    # No toast for what arrived: the page's upload panel counts the whole batch
    # (static/js/upload.js). The new tiles carry their upload times, for their order.
    html = render_template("images/_uploaded.html", days=days_of(uploaded),
                           uploaded=cards(uploaded))
    html += render_template("images/_count.html", oob=True, **gallery_count())
    for message in failed:
        html += htmx.toast(message, "error")
    return html, 201 if uploaded else 400


@bp.post("/images/<uuid:image_id>/share")
@login_required
def share_image(image_id):
    """Gallery's "Copy link": a share link in a read-only field, and a toast."""
    link = make_link(image_id, DEFAULT_SHARE_TTL_S, actor=current_user)
    html = render_template("images/_share.html", link=link)
    # The viewer's Share panel says the same (app/media/share_views.py): one wording.
    html += htmx.toast(gettext("Link ready. Anyone who has it can see this photo "
                               "until it expires."), "success")
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
    body["message"] = gettext("“%(name)s” is back in the gallery.", name=image.file_name)
    return {**body, **gallery_count()}, details


@bp.get("/images/duplicates")
@login_required
def duplicates():
    """``{sha256: image id}`` for the given ``sha256`` values already in the caller's
    library: the upload form asks before sending those again."""
    hashes = request.args.getlist("sha256")
    if len(hashes) > 1000:
        raise BadRequest(gettext("At most 1000 files at a time."), code="invalid_request")
    return jsonify(find_duplicates(current_user.id, hashes))


@bp.delete("/images/selected")
@delete_endpoint(
    **TRASH_SELECTION,
    description="Gallery: move the selected images to the trash (one toast offers Undo)",
    partial="images/index.html#selection_gone",
)
def delete_selected(selection, options):
    body, details = trash_selection_action(selection, options, actor=current_user)
    body["undo_url"] = url_for("images_pages.restore_selected", ids=body["ids"])
    return {**body, **gallery_count()}, details


@bp.post("/images/selected/restore")
@delete_endpoint(**RESTORE_SELECTION, load=load_chosen_items_for, params=("ids",),
                 description="Gallery: Undo a bulk delete (the cards come back)",
                 partial="images/index.html#restored")
def restore_selected(selection, options):
    """The Undo of a bulk delete: restores exactly those ids (the caller's own), in one
    audited ``restore`` event."""
    outcome, details = restore_selection_action(selection, options)
    html = render_template("images/_restored.html", ids=outcome.restored)
    html += render_template("images/_count.html", oob=True, **gallery_count())
    html += render_template("trash/_badge.html", oob=True)
    if outcome.restored:
        html += htmx.toast(ngettext("%(num)d photo is back in the gallery.",
                                    "%(num)d photos are back in the gallery.",
                                    len(outcome.restored)), "success")
    if outcome.skipped:
        html += htmx.toast(ngettext("%(num)d photo could not be restored.",
                                    "%(num)d photos could not be restored.",
                                    len(outcome.skipped)), "error")
    return make_response(html), details


@bp.get("/images/zip")
@login_required
def download_zip():
    """The selected originals as one zip, streamed. Only the caller's own images go in
    (trashed ones included); other ids are left out, and none left is 404."""
    images = owned_selection(current_user.id, selected_ids(request.args.getlist("ids")),
                             include_trashed=True)
    if not images:
        raise NotFound(gettext("None of the selected photos is in your library."))
    name = f"papelera-{utcnow():%Y%m%d-%H%M%S}.zip"
    # Oldest first, so of two photos with one name the older keeps it, the newer is "(2)".
    images = sorted(images, key=lambda image: (image.created_at, str(image.id)))
    chunks = (chunk for chunk in stream_originals(images, get_storage()) if chunk)
    return Response(stream_with_context(chunks), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})


def viewer_sources(image) -> list[dict]:
    """The viewer's ``srcset``: the screen-sized variants, each described by the width it
    really has (a variant is never wider than the photo), none past the photo's own."""
    sources = []
    for width in (w for w in current_app.config["MEDIA_WIDTHS"] if w in (1280, 2048)):
        sources.append({"url": url_for("media.original", image_id=image.id, w=width),
                        "width": min(width, image.width)})
        if width >= image.width:
            break
    return sources


def viewer_context(image) -> dict:
    now = utcnow()
    newer, older = neighbours(image)
    return {"image": image_to_dict(image, now=now), "created": image.created_at,
            "deleted": image.deleted_at, "purge_at": image.purge_after,
            "prev_id": newer.id if newer else None, "next_id": older.id if older else None,
            "sources": viewer_sources(image), "is_owner": image.owner_id == current_user.id,
            "optimizer": optimizer_context(image, MultiDict())}


@bp.get("/images/<uuid:image_id>")
@login_required
def viewer(image_id):
    """The viewer: a full page on a visit or reload, the lightbox's fragment for htmx.
    Another user's image is 404 (admins see every image)."""
    image = get_image(image_id, actor=current_user, include_trashed=True)
    return htmx.render_page_or_block("images/viewer.html", "viewer", **viewer_context(image))


def percent_of(part: int, whole: int) -> int:
    """``part`` as a whole percentage of ``whole``, never 0 for something nor 100 for
    less than all (a 6.5 KB variant is not "100 % smaller" than its original)."""
    if not whole:
        return 0
    value = round(100 * part / whole)
    if part and value == 0:
        return 1
    return 99 if value == 100 and part < whole else value


def optimizer_context(image, args) -> dict:
    """The image's stored variants against its original, and the asked-for preview
    (``w``, ``fmt``, ``q``; each checked as /media checks it, 400 naming a bad one)."""
    widths = current_app.config["MEDIA_WIDTHS"]
    asked = None
    if args:
        unknown = set(args) - {"w", "fmt", "q"}
        if unknown:
            raise BadRequest(gettext("Unknown option %(name)s.", name=repr(sorted(unknown)[0])),
                             code="invalid_option",
                             option=sorted(unknown)[0])
        wanted = MultiDict(args)
        wanted.setdefault("w", str(min(widths, key=lambda w: abs(w - 1280))))
        asked = parse_media_request(wanted, thumb=False, widths=widths).variant
    variants = db.session.execute(
        select(ImageVariant).where(ImageVariant.image_id == image.id)
        .order_by(ImageVariant.width, ImageVariant.fmt, ImageVariant.quality)).scalars().all()
    rows = [{"width": v.width, "fmt": v.fmt, "quality": v.quality, "bytes": v.bytes,
             "share": percent_of(v.bytes, image.size_bytes)} for v in variants]
    preview = None
    if asked is not None:
        fitted = asked.fitted(image)
        stored = ensure_variant(image, fitted, get_storage(), now=utcnow(),
                                decode_slots=decode_slots_for(current_app),
                                max_variants=current_app.config["MEDIA_MAX_VARIANTS_PER_IMAGE"])
        saving = 100 - percent_of(stored.bytes, image.size_bytes) if image.size_bytes else 0
        preview = {"url": url_for("media.original", image_id=image.id, w=asked.width,
                                  fmt=asked.fmt, q=asked.quality),
                   "bytes": stored.bytes, "saving": saving, "width": fitted.width,
                   "fmt": asked.fmt, "quality": asked.quality}
    return {"variants": rows, "preview": preview, "widths": widths,
            "formats": formats_available(), "quality_steps": QUALITY_STEPS,
            "default_fmt": DEFAULT_FORMAT, "default_q": DEFAULT_QUALITY,
            "original_bytes": image.size_bytes,
            "chosen": {"w": asked.width if asked else 1280,
                       "fmt": asked.fmt if asked else DEFAULT_FORMAT,
                       "q": asked.quality if asked else DEFAULT_QUALITY}}


@bp.get("/images/<uuid:image_id>/optimizer")
@login_required
def optimizer(image_id):
    """The optimizer panel's fragment: the variants and a preview at ``w``/``fmt``/``q``."""
    image = get_image(image_id, actor=current_user, include_trashed=True)
    args = request.args if request.args else MultiDict({"q": "80"})
    context = optimizer_context(image, args)
    return render_template("images/_optimizer.html", image=image_to_dict(image, now=utcnow()),
                           optimizer=context)
