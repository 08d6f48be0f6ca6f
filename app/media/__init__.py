"""Media delivery: stable /media URLs, HTTP caching, a server cache, variants, share links.

``init_app`` binds the server cache and the protection state; the blueprints are
``views.bp`` (``/media``), ``api.bp`` (``/api/v1/images/<id>/share``), ``blocks_api.bp``
(``/api/v1/admin/media/blocks``) and ``protection_views.bp`` (``/admin/media/protection``).
The protection gate (``guard.protection_gate``) is an app-wide ``before_request``.
"""

from __future__ import annotations

from flask import current_app, url_for
from flask_login import current_user


def init_app(app) -> None:
    from app.media import access_cache, config, models  # noqa: F401  (tables of the schema)
    from app.media.admin import api_bp as admin_api_bp
    from app.media.admin import bp as admin_bp
    from app.media.api import bp as api_bp
    from app.media.blocks_api import bp as blocks_api_bp
    from app.media.cache import init_app as init_cache
    from app.media.metrics import init_app as init_metrics
    from app.media.protection import init_app as init_protection
    from app.media.protection_views import bp as protection_pages
    from app.media.protection_views import register_template_globals
    from app.media.views import bp as media_bp

    init_cache(app)
    access_cache.init_app(app)
    init_metrics(app)
    init_protection(app)
    app.register_blueprint(admin_bp)
    app.register_blueprint(admin_api_bp)
    app.register_blueprint(media_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(blocks_api_bp)
    app.register_blueprint(protection_pages)
    register_template_globals(app)


def media_url(image, variant: str = "original") -> str:
    """The stable URL of an image: the same on every render, whoever renders it."""
    if variant == "thumb":
        return url_for("media.thumbnail", image_id=image.id)
    return url_for("media.original", image_id=image.id)


def share_image(image_id, ttl_s: int) -> dict:
    """``{"url", "expires_at"}``: a link anyone may open until then (owner or admin)."""
    from app.db import utcnow
    from app.images.present import iso
    from app.images.service import get_image
    from app.media.service import create_share_link

    image = get_image(image_id, actor=current_user, include_trashed=True)
    config = current_app.config
    query, expires_at = create_share_link(image, ttl_s=ttl_s, now=utcnow(),
                                          window_s=config["SHARE_LINK_WINDOW_S"],
                                          secret=config["SECRET_KEY"])
    return {"url": url_for("media.original", image_id=image.id, _external=True, **query),
            "expires_at": iso(expires_at)}
