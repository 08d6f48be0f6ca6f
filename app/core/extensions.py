"""Flask extensions, created unbound and attached in ``create_app``."""

from flask import session
from flask_apscheduler import APScheduler
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager as _LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


# Objects keep their values after a commit: services reload explicitly (``reload``)
# after their conditional UPDATEs, and a deleted row never surprises a later read.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()


class LoginManager(_LoginManager):
    """Flask-Login, minus a hash per request with nothing to protect: its session
    protection compares a SHA-512 of the address and User-Agent with the one stored in
    the session, and computes it first even when the session is empty (a bearer token,
    an anonymous request, a share link), where it has nothing to compare it with."""

    def _session_protection_failed(self):
        if not session:
            return False
        return super()._session_protection_failed()


login_manager = LoginManager()
csrf = CSRFProtect()
# Sign-in limits count on their own (app.auth.throttle); this limiter holds /media to the
# per-IP limits (app.media.guard), which writes the RateLimit-* headers itself. The
# storage is chosen in create_app; a sliding window counter keeps two counters per limit.
# An unreachable store is logged and skipped: images stay served (the 429 is returned by
# on_breach, so swallowing errors never swallows it).
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=False,
                  strategy="sliding-window-counter", swallow_errors=True)
scheduler = APScheduler()
