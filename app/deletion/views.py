"""Admin page listing every ``@delete_endpoint`` with its options, in the reader's
language: the descriptions the decorators give (developer English, one place each) are
read here through a table of their translations; one the table does not know shows as
written."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_babel import lazy_gettext as _

from app.auth.login import admin_required
from app.deletion.registry import delete_endpoints

bp = Blueprint("deletion_pages", __name__)

DESCRIPTIONS = {
    "Lift an automatic IP block now": _("Lift an automatic IP block now"),
    "Run the purge now, for at most PURGE_TIME_BUDGET_S (409 if one runs)":
        _("Run the purge now, for at most PURGE_TIME_BUDGET_S (409 if one runs)"),
    "Revoke the bearer token this request carries":
        _("Revoke the bearer token this request carries"),
    "Move an image to the trash; permanent=true deletes it and its files now":
        _("Move a photo to the trash; permanent=true deletes it and its files now"),
    "Restore an image from the trash": _("Restore a photo from the trash"),
    "Revoke a share link: it stops working at once":
        _("Revoke a share link: it stops working at once"),
    "Empty the caller's trash now (items being purged are skipped)":
        _("Empty the caller's trash now (items being purged are skipped)"),
    "Restore several items of the caller's trash (JSON ids, or all)":
        _("Restore several items of the caller's trash (JSON ids, or all)"),
    "Deactivate a user (reversible); permanent=true&force=true deletes the user with their "
    "images, confirmed with their username":
        _("Deactivate a user (reversible); permanent=true&force=true deletes the user with "
           "their photos, confirmed with their username"),
    "Reactivate a deactivated user": _("Reactivate a deactivated user"),
    "Deactivate a user: no sign-in, sessions and tokens end, data kept":
        _("Deactivate a user: no sign-in, sessions and tokens end, data kept"),
    "Account page: sign out one of your sessions": _("Account page: sign out one of your "
                                                      "sessions"),
    "Account page: sign out everywhere, this browser too":
        _("Account page: sign out everywhere, this browser too"),
    "Account page: sign out every other session": _("Account page: sign out every other "
                                                     "session"),
    "Protection panel: lift an automatic IP block": _("Protection panel: lift an automatic "
                                                       "IP block"),
    "Purge page: run the purge now, for at most PURGE_TIME_BUDGET_S":
        _("Purge page: run the purge now, for at most PURGE_TIME_BUDGET_S"),
    "Users page: delete a user and their images for good (red modal)":
        _("Users page: delete a user and their photos for good (red dialog)"),
    "Users page: reactivate a user": _("Users page: reactivate a user"),
    "Users page: deactivate a user (orange modal)": _("Users page: deactivate a user "
                                                       "(orange dialog)"),
    "Gallery: move an image to the trash (a toast offers Undo)":
        _("Gallery: move a photo to the trash (a toast offers Undo)"),
    "Gallery: Undo a delete (the card comes back)": _("Gallery: Undo a delete (the photo "
                                                       "comes back)"),
    "Viewer's Share panel: revoke a share link": _("Viewer's Share panel: revoke a share "
                                                    "link"),
    "Gallery: move the selected images to the trash (one toast offers Undo)":
        _("Gallery: move the selected photos to the trash (one toast offers Undo)"),
    "Gallery: Undo a bulk delete (the cards come back)": _("Gallery: Undo a bulk delete "
                                                            "(the photos come back)"),
    "Trash page: empty the trash now": _("Trash page: empty the trash now"),
    "Trash page: delete one item forever": _("Trash page: delete one item forever"),
    "Trash page: restore one item": _("Trash page: restore one item"),
    "Trash page: restore the selected items, or all of them":
        _("Trash page: restore the selected items, or all of them"),
    "Trash page: delete the selected items forever": _("Trash page: delete the selected "
                                                        "items forever"),
}

RESOURCES = {"image": _("photo"), "trash": _("trash"), "user": _("user"),
             "ip_block": _("IP block"), "purge": _("purge"), "selection": _("selection"),
             "session": _("session"), "sessions": _("sessions"),
             "share_link": _("share link"), "token": _("token")}
FACES = {"api": _("JSON API"), "page": _("page")}
ROLES = {"admin": _("administrators"), "any signed-in user": _("anyone signed in")}
CONFIRMATIONS = {"yes; for permanent=true, the user's username":
                 _("yes; for permanent=true, the user's username")}


@bp.get("/admin/endpoints")
@admin_required
def endpoints():
    return render_template("deletion/endpoints.html", endpoints=delete_endpoints(current_app),
                           descriptions=DESCRIPTIONS, resources=RESOURCES, faces=FACES,
                           roles=ROLES, confirmations=CONFIRMATIONS)
