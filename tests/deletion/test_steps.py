"""Each step of the delete pipeline on its own (``app.deletion.pipeline``).

The decorator's rules over every real route are in ``test_decorator.py``; here each
named step runs alone, on a hand-made declaration, inside a test request.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from flask import make_response

from app.audit import service as audit
from app.core.errors import (
    AuditUnavailable,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    Unauthenticated,
)
from app.core.extensions import db
from app.core.guards import register_destructive_guard
from app.deletion import EndpointSpec, Options
from app.deletion.pipeline import ConfirmationRequired, DeleteRequest, Done, answer
from tests.conftest import build_app
from tests.helpers import audit_count, audit_refused, audit_since, last_audit

ETAG = '"thing-1"'
NO_OPTIONS = Options()


@pytest.fixture
def app(tmp_path):
    app = build_app(tmp_path)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def thing(id="t-1", etag=ETAG):
    return SimpleNamespace(id=id, etag=etag)


def spec_for(**fields) -> EndpointSpec:
    declared = {"resource": "thing", "description": "A test thing",
                "load": lambda actor, **_: thing()}
    return EndpointSpec.declare(**{**declared, **fields})


def pipeline(spec=None, view=None, view_args=None, *, options=NO_OPTIONS, target=None,
             role="user") -> DeleteRequest:
    """A request part-way down the pipeline: signed in, options parsed, target loaded."""
    req = DeleteRequest(spec or spec_for(), view or (lambda t, o: ({}, {})),
                        view_args if view_args is not None else {"thing_id": "t-1"})
    req.actor = SimpleNamespace(id="u-1", role=role)
    req.ctx = audit.Context(actor_id="u-1", actor_role=role, request_id="req-1")
    req.options, req.target = options, target
    return req


# -- the declaration ---------------------------------------------------------------------

def test_a_declaration_groups_the_knobs_and_replaces_some_of_a_base():
    base = spec_for(confirm="yes", roles=("admin",))
    page = EndpointSpec.declare(base, partial="x.html#block", params=["ids"])
    assert (page.confirm, page.roles, page.face, page.params) == (
        "yes", ("admin",), "page", ("ids",))
    assert base.face == "api"


def test_a_declaration_needs_load_and_description():
    with pytest.raises(TypeError):
        EndpointSpec.declare(resource="thing", description="no load")
    with pytest.raises(TypeError):
        EndpointSpec.declare(resource="thing", load=lambda actor: thing())


def test_the_action_name_and_outside_sql_follow_the_options():
    spec = spec_for(outside_sql=lambda options: options.permanent)
    assert spec.action_name(None) == "soft_delete"
    assert spec.action_name(Options(permanent=True)) == "permanent_delete"
    assert spec.reaches_outside_sql(Options(permanent=True))
    assert not spec.reaches_outside_sql(Options())
    named = spec_for(action=lambda options: "purge" if options.force else "trim")
    assert named.action_name(None) == "trim"  # before parsing: the defaults


# -- authenticate, csrf, role ------------------------------------------------------------

def test_authenticate_refuses_the_anonymous_and_writes_nothing(app):
    before = audit_count(app)
    with app.test_request_context("/things/t-1", method="DELETE"):
        with pytest.raises(Unauthenticated):
            DeleteRequest(spec_for(), lambda t, o: {}, {}).authenticate()
    assert audit_count(app) == before


def test_a_bearer_request_needs_no_csrf_token(app):
    with app.test_request_context("/things/t-1", method="DELETE"):
        pipeline().check_csrf()  # no cookie session: nothing to check


@pytest.mark.parametrize("roles, role, allowed", [
    (None, "user", True), (("admin",), "admin", True), (("admin",), "user", False),
    (lambda actor: actor.id == "u-1", "user", True),
    (lambda actor: False, "admin", False),
])
def test_check_role(app, roles, role, allowed):
    req = pipeline(spec_for(roles=roles), role=role)
    if allowed:
        req.check_role()
    else:
        with pytest.raises(Forbidden):
            req.check_role()


# -- options -----------------------------------------------------------------------------

@pytest.mark.parametrize("query, name", [
    ("dry_run=1", "dry_run"), ("permanent=true&permanent=true", "permanent"),
    ("dryrun=true", "dryrun"), ("ids=1", "ids"), ("force=", "force"),
])
def test_parse_options_refuses_bad_repeated_and_undeclared_options(app, query, name):
    with app.test_request_context(f"/things/t-1?{query}", method="DELETE"):
        with pytest.raises(BadRequest) as refused:
            pipeline().parse_options()
    assert (refused.value.code, refused.value.extra["option"]) == ("invalid_option", name)


def test_parse_options_reads_switches_and_declared_parameters(app):
    with app.test_request_context("/things?dry_run=true&force=false&ids=a&ids=b"):
        options = pipeline(spec_for(params=("ids",))).parse_options()
    assert options == Options(permanent=False, dry_run=True, force=False)


def test_a_hard_only_route_is_permanent_and_refuses_permanent_false(app):
    spec = spec_for(soft=False)
    with app.test_request_context("/things"):
        assert pipeline(spec).parse_options().permanent is True
    with app.test_request_context("/things?permanent=false"), pytest.raises(BadRequest):
        pipeline(spec).parse_options()


def test_a_route_without_permanent_refuses_it(app):
    with app.test_request_context("/things?permanent=true"), pytest.raises(BadRequest):
        pipeline(spec_for(allow_permanent=False)).parse_options()


# -- guards, load, protect ---------------------------------------------------------------

def test_check_guards_runs_what_capabilities_registered(app):
    def refuse():
        raise Conflict("a guard said no", code="test_guard")

    register_destructive_guard(app, refuse)
    with app.test_request_context("/things"), pytest.raises(Conflict) as refused:
        pipeline().check_guards()
    assert refused.value.code == "test_guard"


def test_load_passes_the_actor_and_the_path_arguments(app):
    seen = {}

    def load(actor, thing_id):
        seen.update(actor=actor.id, thing_id=thing_id)
        return thing(thing_id)

    req = pipeline(spec_for(load=load), view_args={"thing_id": "t-9"})
    assert req.target_id == "t-9"  # until loaded: the path's argument
    req.target = req.load()
    assert seen == {"actor": "u-1", "thing_id": "t-9"} and req.target_id == "t-9"


def test_protect_gets_actor_target_and_options(app):
    def protect(actor, target, options):
        if not options.force:
            raise Conflict("it has dependencies", code="has_dependencies")

    with pytest.raises(Conflict):
        pipeline(spec_for(protect=protect), target=thing()).protect()
    pipeline(spec_for(protect=protect), target=thing(), options=Options(force=True)).protect()


# -- precondition (If-Match) -------------------------------------------------------------

@pytest.mark.parametrize("if_match, passes", [
    (None, True), (ETAG, True), ('"other", ' + ETAG, True), ("*", True),
    ('"stale"', False), (f"W/{ETAG}", False), (f'"other", W/{ETAG}', False),
    (f"w/{ETAG}", False),
])
def test_if_match_uses_the_strong_comparison_and_a_weak_tag_never_matches(
        app, if_match, passes):
    headers = {"If-Match": if_match} if if_match else {}
    with app.test_request_context("/things/t-1", method="DELETE", headers=headers):
        req = pipeline(target=thing())
        if passes:
            req.check_precondition()
        else:
            with pytest.raises(PreconditionFailed) as refused:
                req.check_precondition()
            assert refused.value.extra["etag"] == ETAG


# -- dry run, confirmation ---------------------------------------------------------------

def test_preview_answers_the_consequences_and_records_a_dry_run(app):
    spec = spec_for(preview=lambda target, options: {"images": 2, "objects": 4, "bytes": 9})
    with app.test_request_context("/things/t-1?dry_run=true", method="DELETE"):
        body = pipeline(spec, target=thing(), options=Options(dry_run=True)).preview()
    assert body == {"dry_run": True, "action": "soft_delete",
                    "target": {"type": "thing", "id": "t-1"}, "etag": ETAG,
                    "consequences": {"images": 2, "objects": 4, "bytes": 9}}
    event = last_audit(app)
    assert (event.outcome, event.target_type, event.target_id) == ("dry_run", "thing", "t-1")
    assert event.details["consequences"]["bytes"] == 9 and event.details["dry_run"] is True


@pytest.mark.parametrize("status", [200, 204])
def test_a_dry_run_answers_200_never_204(app, status):
    spec = spec_for(status_code=status)
    with app.test_request_context("/things/t-1"):
        dry = answer(spec, {"dry_run": True}, thing(), Options(dry_run=True), dry_run=True)
        real = answer(spec, {"message": "done"}, thing(), Options())
    assert (dry.status_code, dry.get_json()) == (200, {"dry_run": True})
    assert real.status_code == status
    assert real.get_data() == (b"" if status == 204 else b'{"message":"done"}\n')


def test_a_view_may_answer_for_itself(app):
    with app.test_request_context("/things/t-1"):
        own = make_response(("", 200, {"HX-Redirect": "/login"}))
        assert answer(spec_for(partial="x.html#y"), own, thing(), Options()) is own


def test_a_fixed_confirmation_is_told_in_the_refusal(app):
    with app.test_request_context("/things/t-1", method="DELETE"):
        with pytest.raises(ConfirmationRequired) as refused:
            pipeline(spec_for(confirm="yes"), target=thing()).check_confirmation()
    assert "X-Confirm-Delete: yes" in refused.value.message
    assert refused.value.extra == {"header": "X-Confirm-Delete"}
    assert refused.value.outcome == "confirmation_required"


def test_a_computed_confirmation_is_not_told(app):
    spec = spec_for(confirm=lambda target, options: f"name-of-{target.id}")
    for sent in ({}, {"X-Confirm-Delete": "yes"}):
        with app.test_request_context("/things/t-1", method="DELETE", headers=sent):
            with pytest.raises(ConfirmationRequired) as refused:
                pipeline(spec, target=thing()).check_confirmation()
            assert "name-of-t-1" not in refused.value.message
    with app.test_request_context("/things/t-1", headers={"X-Confirm-Delete": "name-of-t-1"}):
        pipeline(spec, target=thing()).check_confirmation()


def test_no_confirmation_declared_needs_no_header(app):
    with app.test_request_context("/things/t-1", method="POST"):
        pipeline(spec_for(confirm=None), target=thing()).check_confirmation()


# -- act and record ----------------------------------------------------------------------

def test_done_reads_the_three_shapes_a_view_returns():
    assert Done.of({"a": 1}) == Done({"a": 1}, {}, "ok")
    assert Done.of(({"a": 1}, {"n": 2})) == Done({"a": 1}, {"n": 2}, "ok")
    assert Done.of(({}, {}, "error")).outcome == "error"


def test_an_action_outside_sql_is_announced_before_it_runs(app):
    seen = []

    def view(target, options):
        seen.append(audit_since(app, before))
        return {"ok": True}, {"n": 1}

    before = audit_count(app)
    with app.test_request_context("/things/t-1", method="DELETE"):
        req = pipeline(spec_for(outside_sql=True), view, target=thing())
        done = req.act()
        req.record(done)
    assert seen == [[("soft_delete", "started")]]
    assert audit_since(app, before) == [("soft_delete", "started"), ("soft_delete", "ok")]
    assert last_audit(app).details["n"] == 1


def test_an_sql_action_writes_its_one_event_when_recorded(app):
    before = audit_count(app)
    with app.test_request_context("/things/t-1", method="DELETE"):
        req = pipeline(view=lambda t, o: ({}, {"n": 3}, "error"), target=thing())
        done = req.act()
        assert audit_count(app) == before  # nothing until the outcome is known
        req.record(done)
    assert audit_since(app, before) == [("soft_delete", "error")]


def test_an_sql_action_whose_event_is_refused_is_a_503(app):
    with audit_refused(app), app.test_request_context("/things/t-1", method="DELETE"):
        req = pipeline(target=thing())
        with pytest.raises(AuditUnavailable):
            req.record(Done({}))


def test_the_outcome_of_an_action_outside_sql_is_written_after_the_fact(app):
    """What already happened cannot be undone: a refused outcome event is logged, not
    raised."""
    before = audit_count(app)
    with audit_refused(app), app.test_request_context("/things/t-1", method="DELETE"):
        pipeline(spec_for(outside_sql=True), target=thing()).record(Done({}))
    assert audit_count(app) == before


# -- refusals ----------------------------------------------------------------------------

@pytest.mark.parametrize("error, outcome", [
    (NotFound("no such thing"), "not_found"), (Forbidden("no"), "denied"),
    (Conflict("busy", code="purging"), "conflict"),
    (PreconditionFailed("changed", etag='"x"'), "precondition_failed"),
    (ConfirmationRequired("confirm"), "confirmation_required"),
    (BadRequest("bad", code="invalid_option", option="dryrun"), "bad_request"),
])
def test_a_refusal_is_recorded_with_its_outcome_and_code(app, error, outcome):
    with app.test_request_context("/things/t-404", method="DELETE"):
        pipeline(view_args={"thing_id": "t-404"}, options=None).record_refusal(error)
    event = last_audit(app)
    assert (event.action, event.outcome, event.target_id) == ("soft_delete", outcome, "t-404")
    assert event.details["code"] == error.code
    assert event.request_id == "req-1"
    for key, value in error.extra.items():
        assert event.details[key] == value


def test_a_failure_is_recorded_as_an_error(app):
    with app.test_request_context("/things/t-1", method="DELETE"):
        pipeline(target=thing(), options=Options(force=True)).record_failure()
    event = last_audit(app)
    assert (event.outcome, event.details["force"]) == ("error", True)
