"""Installation identity: the SQL database and the user store must belong together.

At the first start an installation id (a uuid) is written to SQL (``installation``,
one row) and to the user store (``meta`` collection, document ``installation``).
Every destructive job and route calls ``require_installation()`` first; ``/readyz``
reports ``installation_status()``. The rules (``_decide``):

- both ids present and equal: ok;
- both present and different, or only one present: a mismatch. A forgotten
  ``MONGO_URI`` (an empty embedded store next to the real database) or a forgotten
  ``DATABASE_URL`` (an empty SQLite next to the real store) looks like this;
- neither present (a new install, or one from before the ids existed): the ids are
  written when SQL holds no image, or when the user store knows the owner of every
  image (an upgrade). Otherwise it is a mismatch too: a user store that does not know
  the owners is not this installation's, whatever users were bootstrapped into it.

The founder bootstrap proves nothing: an empty store gets a founder in a second, so no
rule counts users; owners of images do. ``flask installation adopt`` is the operator's
deliberate way out (a move to another MongoDB, a restored backup).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, g, has_request_context
from pymongo.errors import DuplicateKeyError
from sqlalchemy import Integer, String, delete, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import UTCDateTime, end_read, utcnow
from app.core.errors import InstallationMismatch
from app.core.events import InstallationAdopted
from app.core.extensions import db
from app.core.guards import register_destructive_guard
from app.core.uow import unit_of_work
from app.images.models import Image, with_trashed
from app.users.repository import get_users

log = logging.getLogger(__name__)

META_COLLECTION = "meta"
META_DOC = "installation"
ROW_ID = 1


class Installation(db.Model):
    """One row: the id of the installation this database belongs to."""

    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    installation_id: Mapped[str] = mapped_column(String(36), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


@dataclass
class InstallationStatus:
    state: str  # ok | mismatch | new (no id on either side yet) | unknown (no schema yet)
    sql_id: str | None = None
    store_id: str | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"


# -- the two sides -------------------------------------------------------------------

def _meta():
    return current_app.extensions["papelera.mongo"].database()[META_COLLECTION]


def _store_id() -> str | None:
    doc = _meta().find_one({"_id": META_DOC})
    return doc.get("installation_id") if doc else None


def _write_store_id(value: str, *, replace: bool = False) -> str:
    """Write the store's id (first writer wins unless ``replace``); return what is stored."""
    meta = _meta()
    if replace:
        meta.delete_one({"_id": META_DOC})
    try:
        meta.insert_one({"_id": META_DOC, "installation_id": value, "created_at": utcnow()})
    except DuplicateKeyError:
        pass  # another process wrote it a moment ago
    return _store_id() or value


def schema_ready() -> bool:
    """Whether the tables exist (not before ``flask db upgrade``); remembered once true."""
    extensions = current_app.extensions
    if not extensions.get("papelera.installation_schema"):
        names = set(inspect(db.session.connection()).get_table_names())
        end_read()
        extensions["papelera.installation_schema"] = {"installation", "images"} <= names
    return extensions["papelera.installation_schema"]


def _sql_id() -> str | None:
    value = db.session.execute(
        select(Installation.installation_id).where(Installation.id == ROW_ID)
    ).scalar_one_or_none()
    end_read()
    return value


def _write_sql_id(value: str, *, replace: bool = False) -> str:
    """Write the SQL id (one row, first writer wins unless ``replace``); return it."""
    try:
        with unit_of_work():
            if replace:
                db.session.execute(delete(Installation).where(Installation.id == ROW_ID))
            db.session.add(Installation(id=ROW_ID, installation_id=value, created_at=utcnow()))
    except IntegrityError:
        pass  # another process wrote it a moment ago (the unit rolled back)
    return _sql_id() or value


def _owners_unknown_to_store() -> int:
    """How many owners of images (trashed ones too) the user store does not know."""
    owners = set(db.session.execute(
        with_trashed(select(Image.owner_id).distinct())).scalars())
    end_read()
    if not owners:
        return 0
    return len(owners - get_users().all_ids())


# -- the decision --------------------------------------------------------------------

def _mismatch(sql_id, store_id, reason) -> InstallationStatus:
    return InstallationStatus("mismatch", sql_id, store_id,
                              reason + " Destructive actions are refused until the right "
                                       "store is configured, or until `flask installation "
                                       "adopt` records that this pairing is deliberate.")


def _decide(sql_id: str | None, store_id: str | None) -> InstallationStatus | None:
    """The status for these ids, or None when both are missing (see ``ensure``)."""
    if sql_id and store_id:
        if sql_id == store_id:
            return InstallationStatus("ok", sql_id, store_id)
        return _mismatch(sql_id, store_id,
                         f"The database belongs to installation {sql_id} but the user store "
                         f"to installation {store_id}.")
    if sql_id:
        return _mismatch(sql_id, None,
                         f"The database belongs to installation {sql_id} but the user store "
                         "has no installation id: it may be a new, empty store (is MONGO_URI "
                         "set?).")
    if store_id:
        return _mismatch(None, store_id,
                         f"The user store belongs to installation {store_id} but the database "
                         "has no installation id: it may be a new, empty database (is "
                         "DATABASE_URL set?).")
    return None


def installation_status() -> InstallationStatus:
    """Read both sides and decide; writes nothing."""
    if not schema_ready():
        return InstallationStatus("unknown", reason="The database schema is not there yet "
                                                    "(run `flask db upgrade`).")
    sql_id, store_id = _sql_id(), _store_id()
    decided = _decide(sql_id, store_id)
    if decided is not None:
        return decided
    unknown = _owners_unknown_to_store()
    if unknown:
        return _mismatch(None, None,
                         f"Neither side has an installation id, and the user store does not "
                         f"know {unknown} owner(s) of images in the database.")
    return InstallationStatus("new", reason="No installation id yet; the first start "
                                            "writes one.")


def ensure_installation() -> InstallationStatus:
    """Write the ids where that is safe (see the module docstring); return the status."""
    status = installation_status()
    if status.state != "new":
        return status
    # Neither side has an id and the store knows every owner: a new install or an upgrade.
    sql_id = _write_sql_id(uuid.uuid4().hex)
    store_id = _write_store_id(sql_id)
    log.info("installation id written", extra={"installation_id": sql_id})
    return _decide(sql_id, store_id) or status


def require_installation() -> None:
    """Raise InstallationMismatch (409) unless SQL and the user store belong together.

    Checked once per request: a destructive route's guard checks it, then the service
    it calls (the purge, a user's deletion) checks it again for its other callers (the
    scheduler, the CLI); within one request the answer cannot have changed."""
    if has_request_context() and g.get("installation_checked"):
        return
    status = ensure_installation()
    if status.state == "mismatch":
        raise InstallationMismatch(status.reason)
    if not status.ok:
        raise InstallationMismatch(status.reason or "The installation could not be checked.")
    if has_request_context():
        g.installation_checked = True


def check_at_start(app) -> InstallationStatus | None:
    """Run at start, before the founder is bootstrapped: the store as it was found."""
    with app.app_context():
        try:
            status = ensure_installation()
        except Exception as exc:  # a store or database down at start: readyz says so
            log.warning("could not check the installation id: %s", type(exc).__name__)
            return None
    if status.state == "mismatch":
        log.error("installation mismatch: %s", status.reason)
    return status


def adopt(*, new: bool = False) -> tuple[str, str]:
    """Make SQL and the user store one installation again; return (id, what was done).

    Keeps the database's id and writes it into the user store, or with ``new`` (or when
    the database has none) writes a new id into both.
    """
    sql_id, store_id = _sql_id(), _store_id()
    with unit_of_work(write=False) as uow:
        try:
            return _adopt(sql_id, store_id, new=new)
        finally:  # another user store: cached access decisions are dropped everywhere
            uow.emit(InstallationAdopted())


def _adopt(sql_id: str | None, store_id: str | None, *, new: bool) -> tuple[str, str]:
    if sql_id and not new:
        _write_store_id(sql_id, replace=True)
        done = (f"wrote the database's installation id {sql_id} into the user store "
                f"(it had {store_id or 'none'})")
        return sql_id, done
    value = uuid.uuid4().hex
    _write_sql_id(value, replace=True)
    _write_store_id(value, replace=True)
    done = (f"wrote a new installation id {value} into both (the database had "
            f"{sql_id or 'none'}, the user store {store_id or 'none'})")
    return value, done


def init_app(app) -> None:
    """Every destructive endpoint refuses (409) while SQL and the user store disagree."""
    register_destructive_guard(app, require_installation)
