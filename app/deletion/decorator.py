"""``@delete_endpoint``: the one way Papelera declares a destructive route.

Order of checks (SPEC section 4), each with its status:
credentials 401 → CSRF for cookie sessions 400 → role 403 → options 400 →
installation 409 (``installation_mismatch``: SQL and the user store disagree) → load 404 →
protection rules 403/409 → If-Match 412 → dry run answers here → confirmation 400 →
the action (domain errors 404/409) → one audit event → the response.

The decorator knows no resource: images and users plug in through ``load``,
``protect`` and ``preview``.

No action without its audit event, no event without its action:

- An action that only changes SQL rows (trash, restore) writes them without committing;
  the decorator appends the ``ok`` event to that same transaction (the audit chain's lock
  is taken inside it) and commits once. If the event cannot be written, everything rolls
  back and the client gets 503 ``audit_unavailable``: nothing changed.
- An action that reaches outside SQL (the object store, the user store: permanent
  deletes, the purge, deactivation) cannot share a transaction with its event. It is
  declared ``external``: an event with outcome ``started`` is committed before it
  runs (if that fails, nothing is attempted: 503), and the outcome event follows. A
  ``started`` event with no outcome after it means the process died, or the log could not
  be written, midway; the target's state then tells how far the action got.
- A refused or failed action is rolled back, then recorded with its outcome.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from flask import jsonify, make_response, request
from flask_babel import gettext
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from jinja2_fragments.flask import render_block
from werkzeug.http import unquote_etag

from app import htmx
from app.audit import service as audit
from app.auth.login import check_csrf, request_context, uses_cookie_session
from app.db import begin_write
from app.deletion.options import Options, parse_options
from app.deletion.registry import EndpointSpec
from app.errors import (
    AuditUnavailable,
    BadRequest,
    DomainError,
    Forbidden,
    PreconditionFailed,
    Unauthenticated,
    csrf_sentence,
)
from app.extensions import db
from app.installation import require_installation

log = logging.getLogger(__name__)

CONFIRM_HEADER = "X-Confirm-Delete"


def delete_endpoint(*, resource: str, description: str, load: Callable,
                    soft: bool = True, allow_permanent: bool = True,
                    confirm: str | Callable | None = "yes",
                    roles: tuple[str, ...] | Callable | None = None,
                    status_code: int = 200, partial: str | None = None,
                    dry_run_partial: str = "deletion/_dry_run.html#summary",
                    protect: Callable | None = None, preview: Callable | None = None,
                    action: str | Callable | None = None,
                    external: bool | Callable = False, params: tuple[str, ...] = ()):
    """Declare a destructive endpoint. The view is called as ``view(target, options)``
    and returns ``(body, audit_details)``, or ``(body, audit_details, outcome)`` when
    the outcome is not ``ok`` (a purge run that failed is an ``error``).

    - ``load(actor, **view_args)`` returns the target (with ``id`` and ``etag``) or raises.
    - ``protect(actor, target, options)`` raises Forbidden/Conflict for refused actions.
    - ``preview(target, options)`` returns the dry run's ``consequences``.
    - ``action``: the audit action name, or ``callable(options)``; by default
      ``permanent_delete`` or ``soft_delete``.
    - ``confirm``: the required X-Confirm-Delete value, ``callable(target, options)``,
      or None for actions that need no confirmation (restore, activate).
    - ``partial``: ``"template.html#block"``; makes this a page route answering htmx.
    - ``dry_run_partial``: the block a page-face dry run answers with.
    - ``external``: the action writes outside SQL (bool, or ``callable(options)``); see
      the module docstring.
    - ``params``: the query parameters the route reads besides the switches (e.g. ``ids``);
      any other parameter, like a misspelt ``dryrun``, is 400 ``invalid_option``.
    """
    spec = EndpointSpec(resource=resource, description=description, soft=soft,
                        allow_permanent=allow_permanent, confirm=confirm, roles=roles,
                        status_code=status_code, partial=partial,
                        dry_run_partial=dry_run_partial, action=action, params=tuple(params))

    def action_name(options: Options | None) -> str:
        if callable(action):
            return action(options or Options())
        if action:
            return action
        return "permanent_delete" if options and options.permanent else "soft_delete"

    def decorate(view):
        @functools.wraps(view)
        def delete_endpoint_view(**view_args):
            if not current_user.is_authenticated:
                # Never written to the chain: we do not know who this is.
                log.info("unauthenticated delete request", extra={"path": request.path})
                raise Unauthenticated(gettext("Sign in to continue."))
            actor = current_user._get_current_object()
            ctx = request_context()
            options: Options | None = None
            target = None
            target_id = next(iter(view_args.values()), None)  # until the target is loaded

            def audit_outcome(outcome: str, *, with_change: bool = False, **details):
                # with_change: the event commits with the pending change, or neither does
                # and the request answers 503.
                write = audit.commit_change if with_change else audit.record
                write(
                    action_name(options), outcome, ctx, target_type=resource,
                    target_id=target_id,
                    details={**(options.as_dict() if options else {}), **details},
                )

            try:
                if uses_cookie_session():
                    try:
                        check_csrf()
                    except CSRFError as exc:
                        raise BadRequest(csrf_sentence(exc), code="csrf_failed") from None
                _check_role(actor, roles)
                options = parse_options(request.args, soft=soft, allow_permanent=allow_permanent,
                                        params=spec.params)
                require_installation()
                if not options.dry_run:
                    # SQLite: the target, its If-Match check and the action's first
                    # statements are read and written under one write lock.
                    begin_write()
                target = load(actor, **view_args)
                target_id = str(target.id)
                if protect is not None:
                    protect(actor, target, options)
                _check_if_match(target)
                if options.dry_run:
                    body = {
                        "dry_run": True,
                        "action": action_name(options),
                        "target": {"type": resource, "id": str(target.id)},
                        "etag": target.etag,
                        "consequences": preview(target, options) if preview else {},
                    }
                    audit_outcome("dry_run", consequences=body["consequences"])
                    return _answer(spec, body, target, options, dry_run=True)
                expected = confirm(target, options) if callable(confirm) else confirm
                if expected is not None and request.headers.get(CONFIRM_HEADER) != expected:
                    raise _confirmation_required(expected, callable(confirm))
                outside_sql = external(options) if callable(external) else external
                if outside_sql:
                    audit_outcome("started", with_change=True)
                result = view(target, options)
                body, details, outcome = _unpack(result)
                if outside_sql:
                    _write_after_the_fact(functools.partial(audit_outcome, outcome, **details))
                else:
                    audit_outcome(outcome, with_change=True, **details)
            except AuditUnavailable:
                raise
            except DomainError as error:
                db.session.rollback()
                _write_after_the_fact(functools.partial(
                    audit_outcome, error.outcome, **error.extra, code=error.code))
                raise
            except Exception:
                db.session.rollback()
                _write_after_the_fact(functools.partial(audit_outcome, "error"))
                raise
            return _answer(spec, body, target, options)

        delete_endpoint_view.delete_endpoint = spec
        return delete_endpoint_view

    return decorate


def _write_after_the_fact(write: Callable[[], None]) -> None:
    """Record what already happened: the outcome of an action outside SQL (its
    ``started`` event is written), or a refusal (nothing changed). If the log refuses,
    say so in the application log and answer the truth."""
    try:
        write()
    except Exception:
        db.session.rollback()
        log.exception("an audit event could not be written")


def _unpack(result) -> tuple[dict, dict, str]:
    if not isinstance(result, tuple):
        return result, {}, "ok"
    if len(result) == 3:
        return result
    return result[0], result[1], "ok"


def _check_role(actor, roles) -> None:
    if roles is None:
        return
    allowed = roles(actor) if callable(roles) else actor.role in roles
    if not allowed:
        raise Forbidden(gettext("You do not have permission to do this."))


def _check_if_match(target) -> None:
    """RFC 9110's strong comparison: a weak ``W/"…"`` tag never matches."""
    if not request.headers.get("If-Match", "").strip():
        return
    current, _ = unquote_etag(target.etag)
    if not request.if_match.contains(current):  # True for "*"; False for weak tags
        raise PreconditionFailed(
            gettext("The resource changed since you read it: reload it and try again."),
            etag=target.etag,
        )


class ConfirmationRequired(BadRequest):
    code = outcome = "confirmation_required"


def _confirmation_required(expected: str, computed: bool) -> ConfirmationRequired:
    if computed:
        message = gettext("Confirm by sending the header %(header)s with the exact value "
                          "asked for this action (for a user, the username).",
                          header=CONFIRM_HEADER)
    else:
        message = gettext("Confirm by sending the header %(header)s: %(value)s.",
                          header=CONFIRM_HEADER, value=expected)
    return ConfirmationRequired(message, header=CONFIRM_HEADER)


def _answer(spec: EndpointSpec, body: dict, target, options: Options, dry_run: bool = False):
    if spec.partial is None:
        status = spec.status_code
        if status == 204 and not dry_run:
            return make_response("", 204)
        return make_response(jsonify(body), 200 if status == 204 else status)
    # A page-face dry run answers a summary of the consequences (the delete modals show
    # it); the real call answers the declared block and an out-of-band toast.
    template, _, block = (spec.dry_run_partial if dry_run else spec.partial).partition("#")
    reserved = {"result", "target", "options", "dry_run"}
    context = {k: v for k, v in body.items() if k.isidentifier() and k not in reserved}
    html = render_block(template, block, **context, result=body, target=target,
                        options=options, dry_run=dry_run)
    if not dry_run and body.get("message"):
        html += htmx.toast(body["message"], "success", undo_url=body.get("undo_url"))
    return make_response(html, 200)
