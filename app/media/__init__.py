"""Media delivery: stable /media URLs, HTTP caching, a server cache, variants, share links.

``init_app`` binds the server cache, the per-process access cache and the protection
state, subscribes media to the domain events it reacts to (``app.media.subscribers``),
and registers the blueprints: ``views.bp`` (``/media``), ``api.bp``
(``/api/v1/images/<id>/share``), ``blocks_api.bp`` (``/api/v1/admin/media/blocks``),
``protection_views.bp`` (``/admin/media/protection``) and the admin pages. The protection
gate (``guard.protection_gate``) is an app-wide ``before_request``.
"""

from __future__ import annotations

from app.media import (
    admin,
    api,
    blocks_api,
    cache,
    metrics,
    protection,
    protection_views,
    subscribers,
    views,
)
from app.media import models as _models  # noqa: F401  (tables of the schema)


def init_app(app) -> None:
    cache.init_app(app)
    subscribers.init_app(app)
    metrics.init_app(app)
    protection.init_app(app)
    for blueprint in (admin.bp, admin.api_bp, views.bp, api.bp, blocks_api.bp,
                      protection_views.bp):
        app.register_blueprint(blueprint)
    protection_views.register_template_globals(app)

