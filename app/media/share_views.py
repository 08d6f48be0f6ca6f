"""Share links' pages (SPEC section 8, "Share links, managed").

Two faces over ``app.media.shares``:

- the viewer's Share panel (``templates/images/_share.html``): make a link with the
  expiry the owner picks, list the live ones, revoke one (a page ``@delete_endpoint``
  declaring the same action as the API's);
- the page a browser gets when it opens a link: ``/media/<id>`` calls ``share_page``
  first, which answers only when the request carries a share link and its ``Accept``
  names ``text/html``; everything else (no ``Accept``, ``*/*``, ``image/*``, variants,
  ``download=1``) gets the bytes as before. Both answers send ``Vary: Accept``.

The shared page is decided by the link alone: no session is read and no cookie is set
(``app.media.views`` makes a link's caller anonymous), and its language is the visitor's
browser's (``Accept-Language``), not an account's.
"""

from __future__ import annotations

from flask import Blueprint, current_app, request, url_for
from flask_babel import force_locale, gettext
from flask_login import current_user
from jinja2_fragments.flask import render_block
from werkzeug.wrappers import Response

from app.auth.login import login_required
from app.core import htmx
from app.core.db import utcnow
from app.core.errors import BadRequest, DomainError
from app.core.i18n import DEFAULT_LANGUAGE, LANGUAGES
from app.deletion import delete_endpoint
from app.media.api import REVOKE_SHARE
from app.media.service import authorize, parse_media_request, share_query
from app.media.shares import EXPIRY_CHOICES, list_share_links, revoke, share_image

bp = Blueprint("media_shares", __name__)

PANEL_LIMIT = 10  # the panel's short list; the API pages through every live link
SHARE_LINK_ARGS = frozenset({"exp", "sid", "sig"})
HTML_TYPES = ("text/html", "application/xhtml+xml")
PAGE_WIDTHS = (1280, 2048)  # screen-sized variants, when MEDIA_WIDTHS offers them


# -- the viewer's Share panel ------------------------------------------------------------

def panel_links(image_id) -> list[dict]:
    rows, _ = list_share_links(image_id, actor=current_user, limit=PANEL_LIMIT)
    secret = current_app.config["SECRET_KEY"]
    return [{"id": row.id, "created_at": row.created_at, "expires_at": row.expires_at,
             "url": url_for("media.original", image_id=row.image_id, _external=True,
                            **share_query(row, secret=secret))} for row in rows]


@bp.get("/images/<uuid:image_id>/shares")
@login_required
def links(image_id):
    """The panel's list of live links (loaded when the panel opens)."""
    return render_block("images/_share.html", "links", image_id=image_id,
                        links=panel_links(image_id))


@bp.post("/images/<uuid:image_id>/shares")
@login_required
def create(image_id):
    """A link with the expiry chosen in the panel (form field ``ttl_s``)."""
    ttl_s = expiry_choice(request.form.get("ttl_s"))
    link = share_image(image_id, ttl_s, actor=current_user)
    html = render_block("images/_share.html", "panel", image_id=image_id, link=link,
                        chosen=ttl_s, links=panel_links(image_id), fresh=True)
    return html + htmx.toast(gettext("Link ready. Anyone who has it can see this photo "
                                     "until it expires."), "success")


def expiry_choice(raw: str | None) -> int:
    if raw is None or not raw.isdigit() or int(raw) not in EXPIRY_CHOICES:
        raise BadRequest(gettext("Choose how long the link works: 1 hour, 1 day, 7 days or "
                                 "30 days."), code="invalid_option", option="ttl_s")
    return int(raw)


@bp.delete("/images/<uuid:image_id>/shares/<share_id>")
@delete_endpoint(**REVOKE_SHARE, description="Viewer's Share panel: revoke a share link",
                 partial="images/_share.html#links")
def revoke_link(target, options):
    _body, details = revoke(target, actor=current_user)
    return {"message": gettext("The share link was revoked."), "image_id": target.image_id,
            "links": panel_links(target.image_id)}, details


# -- the page a browser gets when it opens a link ----------------------------------------

def is_share_link_request() -> bool:
    return not SHARE_LINK_ARGS.isdisjoint(request.args)


def wants_html() -> bool:
    """``Accept`` names an HTML type (a browser navigating); ``*/*`` and ``image/*`` do
    not: an ``<img>``, a download tool or a chat app's fetcher gets the bytes."""
    return any(mimetype in HTML_TYPES and quality > 0
               for mimetype, quality in request.accept_mimetypes)


def visitor_language() -> str:
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def share_page(image_id) -> Response | None:
    """The shared photo's page (or the dead link's), for a browser opening a share link
    to the original; None when the bytes should be served instead."""
    if (request.method != "GET" or not is_share_link_request() or not wants_html()
            or not SHARE_LINK_ARGS.issuperset(request.args)):
        return None
    language = visitor_language()
    with force_locale(language):
        try:
            asked = parse_media_request(request.args, thumb=False,
                                        widths=current_app.config["MEDIA_WIDTHS"])
            access = authorize(image_id, actor=None, link=asked.link,
                               secret=current_app.config["SECRET_KEY"], now=utcnow())
        except DomainError as error:
            return _page("media/share_gone.html", error.status, language,
                         message=error.message)
        return _page("media/share_page.html", 200, language,
                     **_photo_context(access.image))


def _photo_context(image) -> dict:
    link = {name: request.args[name] for name in ("exp", "sid", "sig")}
    widths = [w for w in current_app.config["MEDIA_WIDTHS"] if w in PAGE_WIDTHS]
    sources = []
    for width in widths:
        sources.append({"url": url_for("media.original", image_id=image.id, w=width, **link),
                        "width": min(width, image.width)})
        if width >= image.width:
            break
    if sources:
        shown = sources[0]
        height = round(image.height * shown["width"] / image.width)
    else:  # no screen-sized width allowed: the original itself
        shown = {"url": url_for("media.original", image_id=image.id, **link),
                 "width": image.width}
        height = image.height
    return {"image": image, "sources": sources, "shown": shown, "shown_height": height,
            "page_url": url_for("media.original", image_id=image.id, _external=True, **link),
            "og_image": url_for("media.original", image_id=image.id, _external=True,
                                **({"w": widths[0]} if widths else {}), **link),
            "download_url": url_for("media.original", image_id=image.id, download=1, **link)}


def _page(template: str, status: int, language: str, **context) -> Response:
    # Rendered without the app's context processors: they would look up the signed-in
    # user (the session), and nothing here depends on who asks.
    html = current_app.jinja_env.get_template(template).render(language=language,
                                                               status=status, **context)
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.vary.update(("Accept", "Accept-Language"))
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.after_app_request
def vary_by_accept(response):
    """A share link's answer depends on ``Accept`` (page or bytes): say so, also on the
    bytes, so no cache hands a page to an ``<img>`` or bytes to a browser tab."""
    if request.endpoint == "media.original" and is_share_link_request():
        response.vary.add("Accept")
    return response
