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
# Only failed logins are counted (see app.auth): the storage is chosen in create_app.
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)
scheduler = APScheduler()
