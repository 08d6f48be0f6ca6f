"""Users in MongoDB. Every state change is one guarded ``find_one_and_update``.

Nothing here relies on transactions, collations or mongomock quirks, so a real MongoDB
accepts it: case-insensitive uniqueness is a unique index on a lower-cased copy.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from flask_babel import gettext
from flask_login import UserMixin
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.core.errors import Conflict
from app.core.events import UserChanged, UserDeleted
from app.core.uow import unit_of_work
from app.users.mongo import MongoProvider

log = logging.getLogger(__name__)


@dataclass
class User(UserMixin):
    id: str
    username: str
    email: str
    role: str
    status: str
    auth_epoch: int
    version: int
    created_at: datetime
    password_hash: str = field(repr=False, default="")
    is_founder: bool = False
    deactivated_at: datetime | None = None
    deactivated_by: str | None = None
    trash_retention_days: int | None = None
    language: str | None = None  # "en" / "es"; None follows the browser (app.i18n)

    @classmethod
    def from_doc(cls, doc: dict) -> User:
        return cls(
            id=doc["_id"], username=doc["username"], email=doc["email"], role=doc["role"],
            status=doc["status"], auth_epoch=doc.get("auth_epoch", 0),
            version=doc.get("version", 1), created_at=doc["created_at"],
            password_hash=doc.get("password_hash", ""), is_founder=doc.get("is_founder", False),
            deactivated_at=doc.get("deactivated_at"), deactivated_by=doc.get("deactivated_by"),
            trash_retention_days=doc.get("trash_retention_days"),
            language=doc.get("language"),
        )

    def get_id(self) -> str:
        """What the session cookie stores: the id and the epoch it was issued under,
        so moving the epoch (deactivation, new password) ends every session at once."""
        return f"{self.id}:{self.auth_epoch}"

    # Flask-Login asks this; only active users may hold a session.
    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.status == "active"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def etag(self) -> str:
        return f'"{self.id}-{self.version}"'


def get_users() -> UserRepository:
    return current_app.extensions["papelera.users"]


class UserRepository:
    def __init__(self, provider):
        self.provider = provider

    @property
    def collection(self):
        return self.provider.database()["users"]

    @contextmanager
    def exclusive(self):
        """Hold the store across several calls: exact on the embedded store, where every
        call is serialised anyway; a no-op on MongoDB (see ``app.users.mongo``).

        Inside a unit of work entered first, so what the calls change is announced only
        once the lock is released (the lock order: ``app.core.uow``). Run no SQL in here.
        """
        with unit_of_work(sql=False), self.provider.exclusive():
            yield

    def ensure_indexes(self) -> None:
        self.collection.create_index([("username_lower", ASCENDING)], unique=True)
        self.collection.create_index([("email_lower", ASCENDING)], unique=True)
        self.collection.create_index([("status", ASCENDING), ("username_lower", ASCENDING)])

    def get(self, user_id: str) -> User | None:
        doc = self.collection.find_one({"_id": str(user_id)})
        return User.from_doc(doc) if doc else None

    def names(self, user_ids) -> dict[str, str]:
        """Usernames of these ids, in one query (ids with no account are left out): what a
        page naming the people on it asks, however many rows it shows."""
        wanted = sorted({str(i) for i in user_ids if i and len(str(i)) <= 64})
        if not wanted:
            return {}
        return {doc["_id"]: doc["username"] for doc in self.collection.find(
            {"_id": {"$in": wanted}}, {"username": 1})}

    def by_username(self, username: str) -> User | None:
        doc = self.collection.find_one({"username_lower": username.lower()})
        return User.from_doc(doc) if doc else None

    def insert(self, *, username: str, email: str, password_hash: str, role: str,
               is_founder: bool, now: datetime) -> User:
        doc = {
            "_id": uuid.uuid4().hex,
            "username": username,
            "username_lower": username.lower(),
            "email": email,
            "email_lower": email.lower(),
            "password_hash": password_hash,
            "role": role,
            "is_founder": is_founder,
            "status": "active",
            "is_active": True,
            "deactivated_at": None,
            "deactivated_by": None,
            "auth_epoch": 0,
            "version": 1,
            "created_at": now,
        }
        try:
            self.collection.insert_one(doc)
        except DuplicateKeyError as exc:
            field_name = self._duplicate_field(exc, username)
            sentence = (gettext("That username is already taken.") if field_name == "username"
                        else gettext("That e-mail address is already taken."))
            raise Conflict(sentence, code="duplicate", field=field_name) from None
        return User.from_doc(doc)

    def taken(self, username: str, email: str) -> list[str]:
        """Which of ``username`` and ``email`` another user already has (ignoring case)."""
        return [field for field, value in (("username", username), ("email", email))
                if value and self.collection.count_documents(
                    {f"{field}_lower": value.lower()}, limit=1)]

    def _duplicate_field(self, exc: DuplicateKeyError, username: str) -> str:
        """Which unique index refused the insert: MongoDB says so, mongomock does not."""
        pattern = (exc.details or {}).get("keyPattern") or {}
        if pattern:
            return "username" if "username_lower" in pattern else "email"
        return "username" if self.taken(username, "") else "email"

    def update(self, user_id: str, expect: dict, changes: dict, *, bump_epoch=False) -> User | None:
        """Apply ``changes`` only if the document still matches ``expect``; None otherwise."""
        update = {"$set": changes, "$inc": {"version": 1}}
        if bump_epoch:
            update["$inc"]["auth_epoch"] = 1
        if "status" in changes:
            changes["is_active"] = changes["status"] == "active"
        with unit_of_work(sql=False) as uow:  # said after the store lock is released
            doc = self.collection.find_one_and_update(
                {"_id": str(user_id), **expect}, update, return_document=ReturnDocument.AFTER
            )
            if doc:
                change = changes.get("status") or ",".join(sorted(changes))
                uow.emit(UserChanged(str(user_id), str(change)), settled=True)
        return User.from_doc(doc) if doc else None

    def set_language(self, user_id: str, language: str) -> User | None:
        """Save an active user's language; None when the user is not active any more.

        The version stays: the language is no state an admin's If-Match guards, so
        switching it must not make an open admin page's next action fail with 412.
        """
        doc = self.collection.find_one_and_update(
            {"_id": str(user_id), "status": "active"}, {"$set": {"language": language}},
            return_document=ReturnDocument.AFTER)
        return User.from_doc(doc) if doc else None

    def delete(self, user_id: str, expect: dict | None = None) -> bool:
        """Delete the document, only while it still matches ``expect`` when given."""
        query = {"_id": str(user_id), **(expect or {})}
        with unit_of_work(sql=False) as uow:
            deleted = self.collection.delete_one(query).deleted_count == 1
            if deleted:
                uow.emit(UserDeleted(str(user_id)), settled=True)
        return deleted

    def get_doc(self, user_id: str) -> dict | None:
        """The raw document, for fields the User object does not carry (deletion lease)."""
        return self.collection.find_one({"_id": str(user_id)})

    def count_active_admins(self) -> int:
        return self.collection.count_documents({"role": "admin", "status": "active"})

    def has_admin(self) -> bool:
        return self.collection.count_documents({"role": "admin"}, limit=1) > 0

    def ids_in_status(self, status: str) -> list[str]:
        return [d["_id"] for d in self.collection.find({"status": status}, {"_id": 1})]

    def all_ids(self) -> set[str]:
        return {d["_id"] for d in self.collection.find({}, {"_id": 1})}

    def search(self, *, status: str = "all", q: str = "", after: str | None = None,
               limit: int = 50) -> list[User]:
        """Users by username, after the cursor's username, ``limit`` of them."""
        query: dict = {}
        if status != "all":
            query["status"] = status
        if q:
            pattern = re.escape(q.lower())
            query["$or"] = [{"username_lower": {"$regex": pattern}},
                            {"email_lower": {"$regex": pattern}}]
        if after:
            query["username_lower"] = {"$gt": after}
        cursor = self.collection.find(query).sort("username_lower", ASCENDING).limit(limit)
        return [User.from_doc(doc) for doc in cursor]


def init_app(app) -> None:
    """One Mongo client per process (made here, never at import) and the repository."""
    provider = MongoProvider(app.config["MONGO_URI"])
    app.extensions["papelera.mongo"] = provider
    users = UserRepository(provider)
    app.extensions["papelera.users"] = users
    try:
        users.ensure_indexes()
    except Exception as exc:  # Mongo down at start: /readyz says so, requests answer 503
        log.error("could not reach the user store: %s", exc)
