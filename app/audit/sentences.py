"""The audit log as sentences people read (presentation only): "ana moved 3 photos to the
trash", "ana previewed emptying the trash (12 photos, 40 MB)".

Events of one request (an action announced ``started``, its steps, its outcome) are
folded into one row: the first event's action, the outcome of its last event of that
action, the details of all of them. A dry run reads as a preview, never as the deletion
it did not do. Names are escaped; the sentence is ``Markup``.
"""

from __future__ import annotations

from flask_babel import gettext, ngettext
from markupsafe import Markup, escape

from app.core.dates import when
from app.core.i18n import filesize

# Outcomes that say nothing the sentence does not: no badge beside it.
QUIET_OUTCOMES = ("ok", "dry_run")


def fold(events: list[dict]) -> list[dict]:
    """Events (newest first) as rows, one per request: ``{"id", "at", "action",
    "outcome", "actor_id", "actor_role", "target_type", "target_id", "details",
    "events"}``."""
    groups: list[list[dict]] = []
    for event in events:
        request_id = event.get("request_id")
        if groups and request_id and groups[-1][0].get("request_id") == request_id:
            groups[-1].append(event)
        else:
            groups.append([event])
    return [_row(group) for group in groups]


def _row(group: list[dict]) -> dict:
    oldest, newest = group[-1], group[0]
    action = oldest["action"]
    final = next((e for e in group if e["action"] == action), newest)
    details: dict = {}
    for event in reversed(group):
        details.update(event.get("details") or {})
    return {**final, "id": newest["id"], "at": newest["at"], "action": action,
            "details": details, "events": len(group)}


def _strong(text) -> Markup:
    return Markup("<strong>%s</strong>") % text


def _photos(count) -> str:
    return ngettext("%(num)d photo", "%(num)d photos", int(count or 0))


def sentence(row: dict, names: dict) -> Markup:
    """One row in words, in the reader's language."""
    details = row.get("details") or {}
    actor = row.get("actor_id")
    if actor == "system":
        who = _strong(gettext("Papelera"))
    elif actor and names.get(actor):
        who = _strong(names[actor])
    elif actor:
        who = Markup('<span class="muted">%s</span>') % gettext("a removed user")
    else:
        who = Markup(gettext("Someone"))
    target_id = row.get("target_id") or ""
    target_type = row.get("target_type")
    if target_type == "user":
        name = names.get(target_id) or details.get("username")
        user = _strong(name) if name else Markup(gettext("a removed user"))
    else:
        user = None
    photo = _strong(names[target_id]) if names.get(target_id) else Markup(gettext("a photo"))
    preview = row.get("outcome") == "dry_run"
    consequences = details.get("consequences") or {}
    count = consequences.get("images", details.get("count", details.get(
        "deleted", details.get("restored", details.get("images_deleted", details.get(
            "images", 0))))))
    size = filesize(consequences.get("bytes", details.get("bytes_freed",
                                                          details.get("bytes", 0))))
    values = {"who": who, "photo": photo, "user": user, "photos": _photos(count),
              "size": size, "ip": Markup("<code>%s</code>") % target_id}
    text = _text(row["action"], target_type, preview, actor == target_id, details)
    if text is None:
        return Markup("%(who)s: %(action)s") % {"who": who,
                                                "action": row["action"].replace("_", " ")}
    return Markup(escape(text)) % values


def _text(action: str, target: str | None, preview: bool, self_target: bool,
          details: dict) -> str | None:
    """The sentence's words, placeholders still in (``%(who)s``, ``%(photo)s``…)."""
    many = target in ("trash", "selection")
    if action == "soft_delete":
        if many:
            return (gettext("%(who)s previewed moving %(photos)s to the trash") if preview
                    else gettext("%(who)s moved %(photos)s to the trash"))
        return (gettext("%(who)s previewed moving %(photo)s to the trash") if preview
                else gettext("%(who)s moved %(photo)s to the trash"))
    if action == "permanent_delete":
        if target == "user":
            return (gettext("%(who)s previewed deleting the account %(user)s for good "
                            "(%(photos)s, %(size)s)") if preview
                    else gettext("%(who)s deleted the account %(user)s for good "
                                 "(%(photos)s, %(size)s)"))
        if many:
            return (gettext("%(who)s previewed deleting %(photos)s from the trash for good "
                            "(%(size)s)") if preview
                    else gettext("%(who)s deleted %(photos)s from the trash for good "
                                 "(%(size)s)"))
        return (gettext("%(who)s previewed deleting %(photo)s for good") if preview
                else gettext("%(who)s deleted %(photo)s for good"))
    if action == "restore":
        if many:
            return gettext("%(who)s put %(photos)s back from the trash")
        return gettext("%(who)s put %(photo)s back from the trash")
    if action == "empty_trash":
        return (gettext("%(who)s previewed emptying the trash (%(photos)s, %(size)s)")
                if preview else gettext("%(who)s emptied the trash (%(photos)s, %(size)s)"))
    if action == "purge_run":
        return (gettext("%(who)s previewed the purge (%(photos)s, %(size)s)") if preview
                else gettext("%(who)s ran the purge (%(photos)s deleted, %(size)s freed)"))
    if action == "purge_batch":
        return gettext("%(who)s purged a batch (%(photos)s deleted, %(size)s freed)")
    simple = {
        "deactivate": gettext("%(who)s deactivated %(user)s"),
        "activate": gettext("%(who)s reactivated %(user)s"),
        "user_created": gettext("%(who)s created the account %(user)s"),
        "user_delete_started": gettext("%(who)s started deleting the account %(user)s"),
        "user_delete_finished": gettext("%(who)s finished deleting the account %(user)s "
                                        "(%(photos)s, %(size)s)"),
        "token_revoked": gettext("%(who)s revoked an API token"),
        "trash_retention_changed": gettext("%(who)s changed how long deleted photos stay "
                                           "in the trash"),
        "login_failed": gettext("A sign-in failed"),
        "orphan_sweep": gettext("%(who)s swept stored files that no photo uses"),
        "doctor_fix": gettext("%(who)s repaired the storage"),
        "installation_adopt": gettext("%(who)s adopted this installation"),
        "admin_access": gettext("%(who)s asked for an administrators' page"),
        "ip_blocked": gettext("%(who)s blocked the address %(ip)s for too many requests"),
        "ip_unblocked": gettext("%(who)s lifted the block on %(ip)s"),
        "media_config_changed": gettext("%(who)s changed the media settings"),
        "session_ended": gettext("%(who)s signed out one of their sessions"),
        "sessions_ended": gettext("%(who)s signed out their other sessions"),
        "share_revoked": gettext("%(who)s turned off a share link to %(photo)s"),
    }
    if action == "password_change":
        return (gettext("%(who)s changed their password") if self_target
                else gettext("%(who)s changed the password of %(user)s"))
    if action == "export":
        return (gettext("%(who)s downloaded their data (%(photos)s)") if self_target
                else gettext("%(who)s downloaded the data of %(user)s (%(photos)s)"))
    return simple.get(action)


def setting_names() -> dict:
    """Media settings as the admin page names them (never the key)."""
    return {"cache_enabled": gettext("server cache"), "tracking_enabled": gettext("usage tracking"),
            "cache_ttl_s": gettext("server cache lifetime"),
            "cache_max_bytes": gettext("largest cached photo"),
            "browser_max_age_s": gettext("browser cache lifetime"),
            "share_shared_max_age_s": gettext("share link cache lifetime"),
            "events_retention_days": gettext("access records kept"),
            "allowed_referrers": gettext("sites allowed to embed photos"),
            "allow_empty_referrer": gettext("requests without a Referer"),
            "rate_limits": gettext("requests per address"),
            "allow_ips": gettext("allowed addresses"), "block_ips": gettext("blocked addresses"),
            "auto_block": gettext("automatic blocking"),
            "block_scope": gettext("what blocked addresses are refused"),
            "webhook_url": gettext("webhook URL"), "webhook_secret": gettext("webhook secret")}


def detail(row: dict, names: dict) -> Markup | None:
    """A second line where the sentence leaves out something worth knowing."""
    details = row.get("details") or {}
    action = row["action"]
    if action == "soft_delete" and details.get("purge_at") and row.get("outcome") == "ok":
        return Markup(escape(gettext("deleted for good on %(when)s unless restored",
                                     when=when(details["purge_at"]))))
    if action == "media_config_changed" and isinstance(details.get("changes"), dict):
        labels = setting_names()
        changed = ", ".join(labels.get(key, key.replace("_", " "))
                            for key in sorted(details["changes"]))
        return Markup(escape(gettext("changed: %(settings)s", settings=changed)))
    if action == "ip_blocked" and details.get("count"):
        image = details.get("image_id")
        if image and names.get(image):
            return Markup(escape(gettext("%(num)s requests for %(name)s",
                                         num=details["count"], name=names[image])))
        return Markup(escape(gettext("%(num)s requests for one photo", num=details["count"])))
    if action == "user_delete_finished" and details.get("resumed"):
        return Markup(escape(gettext("resumed after an interruption")))
    return None
