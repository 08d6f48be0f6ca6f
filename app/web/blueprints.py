"""Every page and API blueprint, registered in one list (media registers its own, but for
the share links' pages)."""

from __future__ import annotations

from app.audit.api import bp as audit_api
from app.audit.views import bp as audit_pages
from app.auth.api import bp as auth_api
from app.auth.views import bp as auth_pages
from app.deletion.views import bp as deletion_pages
from app.images.api import bp as images_api
from app.images.views import bp as images_pages
from app.media.share_views import bp as share_pages
from app.purge.api import bp as purge_api
from app.purge.views import bp as purge_pages
from app.trash.api import bp as trash_api
from app.trash.views import bp as trash_pages
from app.users.account import bp as account_pages
from app.users.api import bp as users_api
from app.users.ids import UserIdConverter
from app.users.views import bp as users_pages
from app.web.health import bp as health_bp
from app.web.language import bp as language_bp
from app.web.openapi import bp as openapi_bp

BLUEPRINTS = (health_bp, auth_pages, images_pages, trash_pages, audit_pages, deletion_pages,
              language_bp, openapi_bp, auth_api, images_api, trash_api, users_api, audit_api,
              purge_api, purge_pages, users_pages, account_pages, share_pages)


def init_app(app) -> None:
    app.url_map.converters["user_id"] = UserIdConverter
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
