"""Admin page of the audit log: one row per request, in a sentence with people and files by
name (``app.audit.sentences``); filters by name."""

from __future__ import annotations

import uuid

from flask import Blueprint, request
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.audit.query import event_to_dict, search_events
from app.audit.sentences import QUIET_OUTCOMES, detail, fold, sentence
from app.auth.login import admin_required
from app.core import htmx
from app.core.db import distinct_values, end_read
from app.core.extensions import db
from app.core.pagination import parse_limit
from app.images.models import Image, with_trashed
from app.users.repository import get_users

bp = Blueprint("audit_pages", __name__)

USER_TARGETS = ("user",)
IMAGE_TARGETS = ("image", "trash")
USER_DETAILS = ("owner_id", "user_id", "deleted_by")


def known_actions() -> list[str]:
    """Every action the log holds, for the filter's dropdown: one probe of
    ``ix_audit_action`` per action, however long the log (scale review F7)."""
    actions = distinct_values(AuditEvent.__table__.c.action)
    end_read()
    return actions


def user_id_for(text: str | None) -> str | None:
    """A filter typed as a username (what people know) or as an id (what links carry)."""
    if not text:
        return None
    user = get_users().by_username(text)
    return user.id if user else text


def names_for(events: list[dict]) -> dict:
    """Usernames and file names of the ids on the page: one query for the users, one for
    the images, however many events the page holds."""
    users = get_users()
    user_ids = {e["actor_id"] for e in events if e["actor_id"]}
    user_ids |= {e["target_id"] for e in events
                 if e["target_type"] in USER_TARGETS and e["target_id"]}
    user_ids |= {value for e in events for key, value in (e["details"] or {}).items()
                 if key in USER_DETAILS and isinstance(value, str)}
    names = users.names(user_ids)
    for e in events:  # a removed account is still named by what its events wrote down
        username = (e["details"] or {}).get("username")
        if e["target_type"] in USER_TARGETS and e["target_id"] and isinstance(username, str):
            names.setdefault(e["target_id"], username)
    image_ids = []
    for e in events:
        candidates = [(e["details"] or {}).get("image_id")]
        if e["target_type"] in IMAGE_TARGETS:
            candidates.append(e["target_id"])
        for candidate in candidates:
            try:
                image_ids.append(uuid.UUID(str(candidate)))
            except ValueError:
                pass
    if image_ids:
        rows = db.session.execute(with_trashed(
            select(Image.id, Image.file_name).where(Image.id.in_(image_ids)))).all()
        end_read()
        names.update({str(row.id): row.file_name for row in rows})
    return names


@bp.get("/admin/audit")
@admin_required
def index():
    typed = {name: request.args.get(name, "").strip() or None
             for name in ("actor", "action", "target")}
    cursor = request.args.get("cursor") or None
    page = search_events(actor=user_id_for(typed["actor"]), action=typed["action"],
                         target=user_id_for(typed["target"]),
                         limit=parse_limit(request.args.get("limit")), cursor=cursor)
    events = [event_to_dict(e) for e in page.items]
    block = "more" if cursor else "events"
    # One row per request, in words (a request cut by the page's end shows on both pages).
    context = {"rows": fold(events), "next_cursor": page.next_cursor, "filters": typed,
               "names": names_for(events), "sentence": sentence, "detail": detail,
               "quiet_outcomes": QUIET_OUTCOMES}
    if block == "events" or htmx.wants_full_page():
        context["actions"] = known_actions()
    return htmx.render_page_or_block("audit/index.html", block, **context)
