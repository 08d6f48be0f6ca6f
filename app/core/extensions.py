"""Flask extensions, created unbound and attached in ``create_app``."""

from flask_apscheduler import APScheduler
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
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
