"""One request to a declared destructive endpoint, as a pipeline of named steps.

``DeleteRequest.dispatch`` reads like SPEC section 4 (and like Flask's
``full_dispatch_request``); each step is a method that can be called and tested alone:

    authenticate 401 → check_csrf 400 → check_role 403 → parse_options 400 →
    check_guards 409 → [unit of work: load 404 → protect 403/409 → check_precondition 412
    → preview (a dry run answers here) → check_confirmation 400 → act → record]
    → respond

A step that refuses raises a domain error; ``record_refusal`` writes its outcome after
the unit of work rolled back, and the error handlers answer it. Per-request state (the
actor, the parsed options, the target) lives on the ``DeleteRequest``, one per request.

No action without its audit event, no event without its action:

- An action that only changes SQL rows (trash, restore) writes them without committing;
  ``record`` appends the ``ok`` event to that same transaction (the audit chain's lock is
  taken inside it) and commits once. If the event cannot be written, everything rolls
  back and the client gets 503 ``audit_unavailable``: nothing changed.
- An action declared ``outside_sql`` (the object store, the user store: permanent
  deletes, the purge, deactivation) cannot share a transaction with its event: ``act``
  commits an event with outcome ``started`` before it runs (if that fails, nothing is
  attempted: 503), and ``record`` writes the outcome after it. A ``started`` event with
  no outcome after it means the process died, or the log could not be written, midway;
  the target's state then tells how far the action got.
- A refused or failed action is rolled back, then recorded with its outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import jsonify, make_response, request
from flask_babel import gettext
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from jinja2_fragments.flask import render_block
from werkzeug.http import unquote_etag
from werkzeug.wrappers import Response

from app.audit import service as audit
from app.auth.login import check_csrf, request_context, uses_cookie_session
from app.core import htmx
from app.core.errors import (
    AuditUnavailable,
    BadRequest,
    DomainError,
    Forbidden,
    PreconditionFailed,
    Unauthenticated,
    csrf_sentence,
)
from app.core.extensions import db
from app.core.guards import check_destructive_guards
from app.core.uow import unit_of_work
from app.deletion.options import Options, parse_options
from app.deletion.registry import EndpointSpec

log = logging.getLogger(__name__)

CONFIRM_HEADER = "X-Confirm-Delete"


class ConfirmationRequired(BadRequest):
    code = outcome = "confirmation_required"


@dataclass(frozen=True)
class Done:
    """What the action did: the answer's body, the audit details, the outcome."""

    body: dict | Response
    details: dict = field(default_factory=dict)
    outcome: str = "ok"

    @classmethod
    def of(cls, result) -> Done:
        """A view returns ``body``, ``(body, details)`` or ``(body, details, outcome)``
        (a purge run that failed is an ``error``)."""
        if not isinstance(result, tuple):
            return cls(result)
        return cls(*result)


class DeleteRequest:
    """One request to a ``@delete_endpoint`` view: its state and its steps."""

    def __init__(self, spec: EndpointSpec, view: Callable, view_args: dict):
        self.spec, self.view, self.view_args = spec, view, view_args
        self.actor = None
        self.ctx: audit.Context | None = None
        self.options: Options | None = None
        self.target = None

    def dispatch(self):
        self.actor = self.authenticate()
        self.ctx = request_context()
        try:
            self.check_csrf()
            self.check_role()
            self.options = self.parse_options()
            self.check_guards()
            # SQLite: the target, its If-Match check and the action's first statements
            # are read and written under one write lock; the events of what committed go
            # out when the unit ends, after every lock is released.
            with unit_of_work(write=not self.options.dry_run):
                self.target = self.load()
                self.protect()
                self.check_precondition()
                if self.options.dry_run:
                    return self.respond(self.preview(), dry_run=True)
                self.check_confirmation()
                done = self.act()
                self.record(done)
        except AuditUnavailable:
            raise
        except DomainError as error:
            self.record_refusal(error)
            raise
        except Exception:
            self.record_failure()
            raise
        return self.respond(done.body)

    # -- the steps, in order -------------------------------------------------------------

    def authenticate(self):
        """401 before anything else; never written to the chain: we do not know who
        this is (SPEC section 3)."""
        if not current_user.is_authenticated:
            log.info("unauthenticated delete request", extra={"path": request.path})
            raise Unauthenticated(gettext("Sign in to continue."))
        return current_user._get_current_object()

    def check_csrf(self) -> None:
        """Cookie sessions only: a bearer token is no ambient credential."""
        if uses_cookie_session():
            try:
                check_csrf()
            except CSRFError as exc:
                raise BadRequest(csrf_sentence(exc), code="csrf_failed") from None

    def check_role(self) -> None:
        roles = self.spec.roles
        if roles is None:
            return
        allowed = roles(self.actor) if callable(roles) else self.actor.role in roles
        if not allowed:
            raise Forbidden(gettext("You do not have permission to do this."))

    def parse_options(self) -> Options:
        return parse_options(request.args, soft=self.spec.soft,
                             allow_permanent=self.spec.allow_permanent,
                             params=self.spec.params)

    def check_guards(self) -> None:
        """Whatever the capabilities registered (the installation check: 409)."""
        check_destructive_guards()

    def load(self):
        return self.spec.load(self.actor, **self.view_args)

    def protect(self) -> None:
        if self.spec.protect is not None:
            self.spec.protect(self.actor, self.target, self.options)

    def check_precondition(self) -> None:
        """``If-Match`` with RFC 9110's strong comparison: a weak ``W/"…"`` tag never
        matches; ``*`` and a list holding the current tag do."""
        if not request.headers.get("If-Match", "").strip():
            return
        current, _ = unquote_etag(self.target.etag)
        if not request.if_match.contains(current):  # True for "*"; False for weak tags
            raise PreconditionFailed(
                gettext("The resource changed since you read it: reload it and try again."),
                etag=self.target.etag,
            )

    def preview(self) -> dict:
        """The dry run's answer, recorded; nothing else happens."""
        consequences = (self.spec.preview(self.target, self.options)
                        if self.spec.preview else {})
        body = {
            "dry_run": True,
            "action": self.action,
            "target": {"type": self.spec.resource, "id": str(self.target.id)},
            "etag": self.target.etag,
            "consequences": consequences,
        }
        self._audit("dry_run", consequences=consequences)
        return body

    def check_confirmation(self) -> None:
        expected = self.spec.expected_confirmation(self.target, self.options)
        if expected is not None and request.headers.get(CONFIRM_HEADER) != expected:
            raise confirmation_required(expected, computed=callable(self.spec.confirm))

    def act(self) -> Done:
        """Run the view. An action outside SQL is announced (``started``, committed)
        before it runs."""
        if self.outside_sql:
            self._audit("started", with_change=True)
        return Done.of(self.view(self.target, self.options))

    def record(self, done: Done) -> None:
        """The outcome's one event: committed with the change when the change is SQL
        rows, else written after the fact."""
        if self.outside_sql:
            # What the action left pending in SQL (a session row, a lease) commits with
            # its outcome; the store's side already happened, so a refusing log is told.
            self._audit_after_the_fact(done.outcome, with_change=True, **done.details)
        else:
            self._audit(done.outcome, with_change=True, **done.details)

    def respond(self, body: dict | Response, *, dry_run: bool = False):
        return answer(self.spec, body, self.target, self.options, dry_run=dry_run)

    # -- when a step refuses or fails -----------------------------------------------------

    def record_refusal(self, error: DomainError) -> None:
        db.session.rollback()
        self._audit_after_the_fact(error.outcome, **error.extra, code=error.code)

    def record_failure(self) -> None:
        db.session.rollback()
        self._audit_after_the_fact("error")

    # -- helpers -------------------------------------------------------------------------

    @property
    def action(self) -> str:
        return self.spec.action_name(self.options)

    @property
    def outside_sql(self) -> bool:
        return self.spec.reaches_outside_sql(self.options)

    @property
    def target_id(self):
        """The loaded target's id; until then, the path's first argument."""
        if self.target is not None:
            return str(self.target.id)
        return next(iter(self.view_args.values()), None)

    def _audit(self, outcome: str, *, with_change: bool = False, **details) -> None:
        """``with_change``: the event commits with the pending change, or neither does
        and the request answers 503."""
        write = audit.commit_change if with_change else audit.record
        write(self.action, outcome, self.ctx, target_type=self.spec.resource,
              target_id=self.target_id,
              details={**(self.options.as_dict() if self.options else {}), **details})

    def _audit_after_the_fact(self, outcome: str, *, with_change: bool = False,
                              **details) -> None:
        """Record what already happened: the outcome of an action outside SQL (its
        ``started`` event is written), or a refusal (nothing changed). If the log
        refuses, say so in the application log and answer the truth."""
        try:
            self._audit(outcome, with_change=with_change, **details)
        except Exception:
            db.session.rollback()
            log.exception("an audit event could not be written")


def confirmation_required(expected: str, *, computed: bool) -> ConfirmationRequired:
    """A computed value (a username) is not told: the caller must know it."""
    if computed:
        message = gettext("Confirm by sending the header %(header)s with the exact value "
                          "asked for this action (for a user, the username).",
                          header=CONFIRM_HEADER)
    else:
        message = gettext("Confirm by sending the header %(header)s: %(value)s.",
                          header=CONFIRM_HEADER, value=expected)
    return ConfirmationRequired(message, header=CONFIRM_HEADER)


def answer(spec: EndpointSpec, body: dict | Response, target, options: Options | None,
           *, dry_run: bool = False):
    """The response. JSON: the declared status (a dry run answers 200, never 204). Page:
    the declared block and an out-of-band toast; a dry run answers a summary of the
    consequences (the delete modals show it). A page view that must answer otherwise
    (a sign-out leaves the page) returns its own response, passed on as it is."""
    if isinstance(body, Response):
        return body
    if spec.partial is None:
        status = spec.status_code
        if status == 204 and not dry_run:
            return make_response("", 204)
        return make_response(jsonify(body), 200 if status == 204 else status)
    template, _, block = (spec.dry_run_partial if dry_run else spec.partial).partition("#")
    reserved = {"result", "target", "options", "dry_run"}
    context = {k: v for k, v in body.items() if k.isidentifier() and k not in reserved}
    html = render_block(template, block, **context, result=body, target=target,
                        options=options, dry_run=dry_run)
    if not dry_run and body.get("message"):
        html += htmx.toast(body["message"], "success", undo_url=body.get("undo_url"))
    return make_response(html, 200)
