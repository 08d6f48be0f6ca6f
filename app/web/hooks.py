"""What runs around every request, and what every template sees."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_login import current_user

from app import ROOT
from app.auth.login import csrf_gate
from app.core.htmx import add_vary
from app.core.i18n import filesize
from app.core.logs import assign_request_id, log_request
from app.core.security import add_security_headers
from app.media.guard import protection_gate

# The navigation, in order: (endpoint, label, admins only). A link shows when its
# blueprint is registered.
NAV_LINKS = (("images_pages.gallery", lazy_gettext("Gallery"), False),
             ("trash_pages.index", lazy_gettext("Trash"), False),
             ("users_pages.index", lazy_gettext("Users"), True),
             ("purge_pages.index", lazy_gettext("Purge"), True),
             ("media_admin.index", lazy_gettext("Media"), True),
             ("audit_pages.index", lazy_gettext("Audit"), True),
             ("deletion_pages.endpoints", lazy_gettext("Endpoints"), True),
             ("account_pages.index", lazy_gettext("Account"), False))


def init_app(app) -> None:
    app.before_request(assign_request_id)
    app.before_request(protection_gate)  # blocked addresses and hotlinks: 403 before anything
    app.before_request(csrf_gate)
    app.after_request(add_vary)
    app.after_request(add_security_headers)
    app.after_request(log_request)

    htmx_files = sorted((ROOT / "static" / "vendor").glob("htmx-*.min.js"))
    htmx_js = f"vendor/{htmx_files[-1].name}" if htmx_files else "vendor/htmx.min.js"

    def nav_links():
        is_admin = current_user.is_authenticated and current_user.is_admin
        return [(endpoint, label) for endpoint, label, admin_only in NAV_LINKS
                if endpoint in app.view_functions and (is_admin or not admin_only)]

    @app.context_processor
    def _globals():
        return {"current_user": current_user, "htmx_js": htmx_js, "nav_links": nav_links()}

    app.add_template_filter(filesize, "filesize")
