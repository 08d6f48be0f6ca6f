"""What the user endpoints do, shared by the JSON API and the admin page.

``load``, ``protect``, ``preview`` and ``confirm`` plug users into ``@delete_endpoint``;
each ``*_action`` takes the loaded user and the parsed options and returns
``(body, audit_details)``.
"""

from __future__ import annotations

import time

from flask import current_app
from flask_babel import gettext, ngettext

from app.audit.service import format_time
from app.auth.login import request_context
from app.core.db import utcnow
from app.core.errors import Conflict, NotFound
from app.storage import get_storage
from app.users.deletion import delete_user_permanently, deletion_consequences
from app.users.present import user_to_dict
from app.users.repository import User, get_users
from app.users.service import activate_user, check_protection, deactivate_user

NOTHING = {"images": 0, "objects": 0, "bytes": 0, "trash_items": 0}


def load_user_for(actor, user_id) -> User:
    """The user with this id (routes are admin-only, so nobody else gets this far)."""
    user = get_users().get(str(user_id))
    if user is None:
        raise NotFound(gettext("No such user."))
    return user


def protect_user_removal(actor, target: User, options) -> None:
    """Protection rules, then dependencies: images without force=true are a 409."""
    check_protection(get_users(), actor, target, "delete" if options.permanent else "deactivate")
    if target.status == "deleting":
        raise Conflict(gettext("%(name)s is already being deleted.", name=target.username),
                       code="deleting")
    if options.permanent and not options.force:
        found = deletion_consequences(target.id)
        if found["images"]:
            raise Conflict(ngettext(
                "%(name)s owns %(num)d photo (%(trash)d in the trash). Send force=true to "
                "delete it with the account.",
                "%(name)s owns %(num)d photos (%(trash)d in the trash). Send force=true to "
                "delete them with the account.", found["images"], name=target.username,
                trash=found["trash_items"]), code="has_dependencies", dependencies=found)


def protect_user_activation(actor, target: User, options) -> None:
    check_protection(get_users(), actor, target, "activate")
    if target.status == "deleting":
        raise Conflict(gettext("%(name)s is being deleted and cannot be reactivated.",
                               name=target.username), code="deleting")


def confirm_user_removal(target: User, options) -> str:
    """yes; for permanent=true, the user's username"""
    return target.username if options.permanent else "yes"


def preview_user_removal(target: User, options) -> dict:
    if options.permanent:
        return deletion_consequences(target.id)
    kept = deletion_consequences(target.id)
    return {**NOTHING, "images_kept": kept["images"], "sessions_ended": True}


def preview_nothing(target: User, options) -> dict:
    return dict(NOTHING)


def removal_action_name(options) -> str:
    return "permanent_delete" if options.permanent else "deactivate"


def deactivate_action(target: User, options, *, actor) -> tuple[dict, dict]:
    user = deactivate_user(get_users(), target, actor_id=actor.id, now=utcnow())
    body = user_to_dict(user)
    return body, {"username": user.username, "status": user.status}


def activate_action(target: User, options) -> tuple[dict, dict]:
    user = activate_user(get_users(), target)
    return user_to_dict(user), {"username": user.username, "status": user.status}


def permanent_delete_action(target: User, options, *, actor) -> tuple[dict, dict]:
    config = current_app.config
    now = utcnow()
    result = delete_user_permanently(
        get_users(), get_storage(), target, ctx=request_context(), now=now,
        batch_size=config["PURGE_BATCH_SIZE"],
        deadline=time.monotonic() + config["PURGE_TIME_BUDGET_S"])
    if result.finished:
        message = ngettext("%(name)s was deleted permanently, with %(num)d photo.",
                           "%(name)s was deleted permanently, with %(num)d photos.",
                           result.deleted, name=target.username) if result.deleted else \
            gettext("%(name)s was deleted permanently.", name=target.username)
    else:
        message = ngettext("%(name)s is locked and being deleted; %(num)d photo remains and "
                           "the purge job finishes it.",
                           "%(name)s is locked and being deleted; %(num)d photos remain and "
                           "the purge job finishes them.", result.remaining,
                           name=target.username)
    deletion = {"id": target.id, "type": "permanent", "username": target.username,
                "status": "deleted" if result.finished else "deleting",
                "deleted_at": format_time(now), "deleted_by": actor.id,
                **result.as_dict()}
    return {"message": message, "deletion": deletion}, {"username": target.username,
                                                        **result.as_dict()}


ADMIN = ("admin",)
# What the decorator needs to know about each user action, declared once for the API
# and the admin page; a route adds its description and partial. Every one writes to the
# user store, outside SQL: they are ``outside_sql`` (see app.deletion).
DEACTIVATE_USER = {"resource": "user", "load": load_user_for, "protect": protect_user_removal,
                   "preview": preview_user_removal, "allow_permanent": False, "roles": ADMIN,
                   "action": "deactivate", "outside_sql": True}
ACTIVATE_USER = {"resource": "user", "load": load_user_for, "protect": protect_user_activation,
                 "preview": preview_nothing, "allow_permanent": False, "confirm": None,
                 "roles": ADMIN, "action": "activate", "outside_sql": True}
DELETE_USER_FOREVER = {"resource": "user", "load": load_user_for,
                       "protect": protect_user_removal, "preview": preview_user_removal,
                       "soft": False, "confirm": confirm_user_removal, "roles": ADMIN,
                       "action": "permanent_delete", "outside_sql": True}
# DELETE /users/<id>: deactivation, or with permanent=true the deletion above.
REMOVE_USER = {**DEACTIVATE_USER, "allow_permanent": True, "confirm": confirm_user_removal,
               "action": removal_action_name}
