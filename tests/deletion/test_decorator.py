"""The decorator's rules, tested once, parametrised over every decorated route.

A new ``@delete_endpoint`` route must get a Case here: ``test_every_route_has_a_case``
fails until it does.
"""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass

import pytest
from markupsafe import escape
from sqlalchemy import select

from app.auth.models import UserSession
from app.core.extensions import db
from app.deletion import delete_endpoints
from app.users.repository import get_users
from tests.conftest import USER_PASSWORD, build_app, login_api, png_bytes
from tests.helpers import Browser, audit_count, audit_since, last_audit, snapshot


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # may hold {id}
    target: str  # "image", "trashed_image", "trash" (no id)
    admin_only: bool = False
    confirm: str | None = "yes"
    ok_status: int = 200
    outside_sql: bool = False  # reaches the object store: a "started" event comes first
    hard_only: bool = False  # soft=False: always deletes for good
    ids_in_body: bool = False  # the target's id travels as {"ids": [id]} (JSON or form)
    leaves_page: bool = False  # a page answer that sends the browser away (sign-out)


CASES: dict[tuple[str, str], Case] = {
    ("images_api.delete", "/api/v1/images/<uuid:image_id>"):
        Case("DELETE", "/api/v1/images/{id}", "image"),
    ("images_api.restore", "/api/v1/images/<uuid:image_id>/restore"):
        Case("POST", "/api/v1/images/{id}/restore", "trashed_image", confirm=None),
    ("images_api.restore", "/api/v1/images/restore/<uuid:image_id>"):
        Case("PATCH", "/api/v1/images/restore/{id}", "trashed_image", confirm=None),
    ("trash_api.empty", "/api/v1/trash"):
        Case("DELETE", "/api/v1/trash", "trash", outside_sql=True, hard_only=True),
    ("images_pages.delete_image", "/images/<uuid:image_id>"):
        Case("DELETE", "/images/{id}", "image"),
    ("images_pages.restore_image", "/images/<uuid:image_id>/restore"):
        Case("POST", "/images/{id}/restore", "trashed_image", confirm=None),
    ("trash_pages.empty", "/trash"):
        Case("DELETE", "/trash", "trash", outside_sql=True, hard_only=True),
    ("trash_pages.restore_item", "/trash/items/<uuid:image_id>/restore"):
        Case("POST", "/trash/items/{id}/restore", "trashed_image", confirm=None),
    ("trash_pages.delete_item", "/trash/items/<uuid:image_id>"):
        Case("DELETE", "/trash/items/{id}", "trashed_image", outside_sql=True, hard_only=True),
    ("images_pages.delete_selected", "/images/selected"):
        Case("DELETE", "/images/selected?ids={id}", "image"),
    ("trash_pages.delete_selected", "/trash/selected"):
        Case("DELETE", "/trash/selected?ids={id}", "trashed_image", outside_sql=True,
             hard_only=True),
    # Bulk restore, token revocation and sign-outs (issue 16, N16).
    ("trash_api.restore", "/api/v1/trash/restore"):
        Case("POST", "/api/v1/trash/restore", "trashed_image", confirm=None, ids_in_body=True),
    ("trash_pages.restore_selected", "/trash/restore"):
        Case("POST", "/trash/restore", "trashed_image", confirm=None, ids_in_body=True),
    ("images_pages.restore_selected", "/images/selected/restore"):
        Case("POST", "/images/selected/restore?ids={id}", "trashed_image", confirm=None),
    ("auth_api.delete_token", "/api/v1/auth/token"):
        Case("DELETE", "/api/v1/auth/token", "token", confirm=None, hard_only=True),
    ("account_pages.end_session", "/account/sessions/<session_id>/sign-out"):
        Case("POST", "/account/sessions/{id}/sign-out", "session", confirm=None,
             hard_only=True),
    ("account_pages.end_other_sessions", "/account/sessions/sign-out-others"):
        Case("POST", "/account/sessions/sign-out-others", "sessions", confirm=None,
             hard_only=True),
    ("account_pages.end_all_sessions", "/account/sessions/sign-out-all"):
        Case("POST", "/account/sessions/sign-out-all", "sessions", confirm=None,
             hard_only=True, leaves_page=True),
}
# Routes that other packages declare register their cases here (see tests/users, purge).
EXTRA_CASES: dict[tuple[str, str], Case] = {
    ("purge_api.run", "/api/v1/admin/purge"):
        Case("DELETE", "/api/v1/admin/purge", "trash", admin_only=True, outside_sql=True,
             hard_only=True),
    ("purge_pages.run_now", "/admin/purge"):
        Case("DELETE", "/admin/purge", "trash", admin_only=True, outside_sql=True, hard_only=True),
    # Lifting an automatic IP block: "{id}" is the blocked address (tests/media).
    ("media_blocks_api.lift", "/api/v1/admin/media/blocks/<ip>"):
        Case("DELETE", "/api/v1/admin/media/blocks/{id}", "ip_block", admin_only=True,
             outside_sql=True, hard_only=True),
    ("media_protection.lift", "/admin/media/protection/blocks/<ip>"):
        Case("DELETE", "/admin/media/protection/blocks/{id}", "ip_block", admin_only=True,
             outside_sql=True, hard_only=True),
    # Revoking a share link: the path holds the image's id, then the link's (tests/media).
    ("media_api.revoke_share", "/api/v1/images/<uuid:image_id>/shares/<share_id>"):
        Case("DELETE", "/api/v1/images/{id}/shares/{id}", "share", hard_only=True),
    ("media_shares.revoke_link", "/images/<uuid:image_id>/shares/<share_id>"):
        Case("DELETE", "/images/{id}/shares/{id}", "share", hard_only=True),
}


def all_cases():
    return {**CASES, **EXTRA_CASES}


class Actor:
    """Sends requests the way the route's face expects: bearer token or browser session."""

    def __init__(self, app, username, password, page_face):
        self.client = app.test_client()
        self.page_face = page_face
        self.username, self.password = username, password
        self.payload = None  # {"ids": [...]} for routes that read their target from the body
        if page_face:
            self.browser = Browser(self.client, username, password)
        else:
            self.token = login_api(self.client, username, password)

    def send(self, method, path, headers=None, csrf=True, auth=True):
        headers = dict(headers or {})
        body = {}
        if self.payload is not None:
            body = {"data": self.payload} if self.page_face else {"json": self.payload}
        if self.page_face:
            if not auth:
                return self.client.application.test_client().open(
                    path, method=method, headers={"HX-Request": "true", **headers}, **body)
            return self.browser.request(method, path, csrf=csrf, headers=headers, **body)
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        return self.client.open(path, method=method, headers=headers, **body)

    def upload(self):
        if self.page_face:
            response = self.browser.upload(png_bytes())
            import re

            return re.search(r'id="image-([0-9a-f-]+)"', response.text).group(1)
        import io

        response = self.client.post(
            "/api/v1/images", headers={"Authorization": f"Bearer {self.token}"},
            data={"file": (io.BytesIO(png_bytes()), "p.png")}, content_type="multipart/form-data")
        return response.get_json()["id"]


def setup_target(app, case: Case, actor: Actor) -> str:
    """Create what the route acts on, owned by the actor; return the request path."""
    if case.target == "ip_block":
        return case.path.format(id=auto_block(app))
    if case.target == "share":
        image_id = actor.upload()
        made = actor.send("POST", f"/api/v1/images/{image_id}/share")
        assert made.status_code == 201, made.text
        return case.path.replace("{id}", image_id, 1).format(id=made.get_json()["id"])
    if case.target == "token":
        return case.path  # the bearer token the actor signed in with
    if case.target in ("session", "sessions"):
        # Another browser of the same person: the session to end (or one of them).
        Browser(app.test_client(), actor.username, actor.password)
        return case.path.format(id=newest_session_of(app, actor.username))
    if case.target == "trash":
        image_id = actor.upload()
        trashed = actor.send("DELETE", f"/api/v1/images/{image_id}" if not actor.page_face
                             else f"/images/{image_id}", headers={"X-Confirm-Delete": "yes"})
        assert trashed.status_code == 200
        return case.path
    image_id = actor.upload()
    if case.target == "trashed_image":
        path = f"/api/v1/images/{image_id}" if not actor.page_face else f"/images/{image_id}"
        assert actor.send("DELETE", path, headers={"X-Confirm-Delete": "yes"}).status_code == 200
    if case.ids_in_body:
        actor.payload = {"ids": [image_id]}
    return case.path.format(id=image_id)


def newest_session_of(app, username) -> str:
    with app.app_context():
        user = get_users().by_username(username)
        return str(db.session.execute(
            select(UserSession.id).where(UserSession.user_id == user.id)
            .order_by(UserSession.created_at.desc()).limit(1)).scalar_one())


def auto_block(app, ip="198.51.100.77") -> str:
    """Block ``ip`` the way an abuser gets blocked: past the threshold on one image."""
    from tests.media.helpers import set_media_config

    set_media_config(app, auto_block={"threshold_per_image_per_hour": 1, "block_for_s": 0})
    path = f"/media/{uuid.uuid4()}"
    client = app.test_client()
    codes = [client.get(path, environ_base={"REMOTE_ADDR": ip}).status_code for _ in range(2)]
    assert codes == [401, 403]
    return ip


def with_query(path: str, query: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}{query}"


def route_id(key):
    return f"{key[0]}:{key[1]}"


def routes(where=lambda case: True):
    """Parametrise a test over the decorated routes a rule applies to (no N/A skips)."""
    keys = [key for key, case in all_cases().items() if where(case)]
    return pytest.mark.parametrize("route", keys, ids=[route_id(k) for k in keys],
                                   indirect=True)


def is_page(case: Case) -> bool:
    return not case.path.startswith("/api/")


@pytest.fixture
def route(request, app, make_user):
    key = request.param
    case = all_cases()[key]
    page_face = is_page(case)
    if case.admin_only:
        username, password = "founder", "founder-password"
    else:
        username, password = make_user().username, USER_PASSWORD
    actor = Actor(app, username, password, page_face)
    path = setup_target(app, case, actor)
    return case, actor, path


def test_hard_only_cases_match_the_registry(tmp_path):
    app = build_app(tmp_path)
    hard = {(e.endpoint, e.rule) for e in delete_endpoints(app)
            if not e.spec.soft and (e.endpoint, e.rule) in all_cases()}
    assert hard == {key for key, case in all_cases().items() if case.hard_only}


def test_every_route_has_a_case(tmp_path):
    """Every decorated route is covered: here, or (users as targets) in tests/users."""
    from tests.users.test_decorated_routes import USER_CASES

    app = build_app(tmp_path)
    registered = {(e.endpoint, e.rule) for e in delete_endpoints(app)}
    assert registered, "the registry found no decorated route"
    covered = set(all_cases()) | set(USER_CASES)
    assert registered == covered, "add a Case for each new @delete_endpoint route"


def confirm_headers(case):
    return {"X-Confirm-Delete": case.confirm} if case.confirm else {}


@routes()
def test_no_credentials_is_401_and_not_audited(app, route):
    case, actor, path = route
    before = audit_count(app)
    response = actor.send(case.method, path, headers=confirm_headers(case), auth=False)
    if actor.page_face:
        assert response.status_code == 401
        assert response.headers["HX-Redirect"] == "/login"
    else:
        assert response.status_code == 401
        assert response.get_json()["code"] == "unauthenticated"
    assert audit_count(app) == before


@routes(is_page)  # bearer-token requests carry no cookie and need no CSRF token
def test_cookie_session_without_csrf_is_400(app, route):
    case, actor, path = route
    before, state = audit_count(app), snapshot(app)
    response = actor.send(case.method, path, headers=confirm_headers(case), csrf=False)
    assert response.status_code == 400
    assert snapshot(app) == state
    assert audit_count(app) == before + 1
    assert last_audit(app).outcome == "bad_request"


# Each names the parameter the 400 must point at.
BAD_OPTIONS = {
    "permanent=yes": "permanent", "dry_run=1": "dry_run", "force=TRUE": "force",
    "dry_run=": "dry_run",
    # Repeated: proxies and other stacks read the last value, Werkzeug the first.
    "permanent=true&permanent=false": "permanent", "permanent=false&permanent=true": "permanent",
    "dry_run=false&dry_run=true": "dry_run", "dry_run=true&dry_run=true": "dry_run",
    "permanent=true&permanent=maybe": "permanent", "force=true&force=false": "force",
    # Not declared by any route: misspellings must not fall back to the real action.
    "dryrun=true": "dryrun", "dry-run=true": "dry-run", "Permanent=true": "Permanent",
    "permanent[]=true": "permanent[]", "foo=bar": "foo", "dry_run=true&foo=": "foo",
}


@routes()
def test_options_are_strict(app, route):
    """Every bad query on every route: 400 naming the parameter, nothing changed, audited."""
    case, actor, path = route
    state = snapshot(app)
    for bad, name in BAD_OPTIONS.items():
        before = audit_count(app)
        response = actor.send(case.method, with_query(path, bad), headers=confirm_headers(case))
        assert response.status_code == 400, bad
        if actor.page_face:
            assert str(escape(name)) in response.text, bad
        else:
            body = response.get_json()
            assert (body["code"], body["option"]) == ("invalid_option", name), bad
        assert snapshot(app) == state, bad
        assert audit_count(app) == before + 1, bad
        event = last_audit(app)
        assert (event.outcome, event.details["code"]) == ("bad_request", "invalid_option"), bad


@routes(lambda case: "ids=" not in case.path)
def test_a_parameter_another_route_declares_is_refused(app, route):
    """``ids`` belongs to the trash selection; on any other route it is not an option."""
    case, actor, path = route
    state = snapshot(app)
    response = actor.send(case.method, with_query(path, f"ids={uuid.uuid4()}"),
                          headers=confirm_headers(case))
    assert response.status_code == 400 and "ids" in response.text
    assert snapshot(app) == state


@routes(lambda case: case.hard_only)
def test_hard_only_routes_refuse_permanent_false(app, route):
    """A route that always deletes for good cannot honour permanent=false: 400, not the act."""
    case, actor, path = route
    state = snapshot(app)
    response = actor.send(case.method, with_query(path, "permanent=false"),
                          headers=confirm_headers(case))
    assert response.status_code == 400 and "permanent" in response.text
    assert snapshot(app) == state


@routes(lambda case: case.admin_only)
def test_role_is_checked_before_options(app, route, make_user):
    case, actor, path = route
    other = Actor(app, make_user().username, USER_PASSWORD, actor.page_face)
    response = other.send(case.method, with_query(path, "foo=bar"), headers=confirm_headers(case))
    assert response.status_code == 403


@routes(is_page)
def test_csrf_is_checked_before_options(app, route):
    case, actor, path = route
    response = actor.send(case.method, with_query(path, "foo=bar"),
                          headers=confirm_headers(case), csrf=False)
    assert response.status_code == 400 and "security check failed" in response.text
    assert last_audit(app).details["code"] == "csrf_failed"


@routes(lambda case: "{id}" in case.path)
def test_unknown_target_is_404(app, route):
    case, actor, path = route
    missing = case.path.format(id="00000000-0000-4000-8000-000000000000")
    before = audit_count(app)
    response = actor.send(case.method, missing, headers=confirm_headers(case))
    assert response.status_code == 404
    assert audit_count(app) == before + 1
    assert last_audit(app).outcome == "not_found"


@routes(lambda case: "{id}" in case.path and not case.admin_only)
def test_someone_elses_target_is_404(app, route, make_user):
    case, actor, path = route
    other = Actor(app, make_user().username, USER_PASSWORD, actor.page_face)
    state = snapshot(app)
    response = other.send(case.method, path, headers=confirm_headers(case))
    assert response.status_code == 404
    assert snapshot(app) == state


@routes()
def test_if_match_mismatch_is_412(app, route):
    case, actor, path = route
    state = snapshot(app)
    response = actor.send(case.method, path,
                          headers={**confirm_headers(case), "If-Match": '"stale-etag"'})
    assert response.status_code == 412
    assert snapshot(app) == state
    assert last_audit(app).outcome == "precondition_failed"


@routes()
def test_if_match_uses_the_strong_comparison(app, route):
    """A weak tag never satisfies If-Match (RFC 9110 13.1.1), even with the current value;
    the strong tag, a list holding it, or * do."""
    case, actor, path = route
    etag = _dry_run_etag(actor, case, path)
    state = snapshot(app)
    for weak in (f"W/{etag}", f'"other", W/{etag}', f"w/{etag}"):
        response = actor.send(case.method, path, headers={**confirm_headers(case),
                                                          "If-Match": weak})
        assert response.status_code == 412, weak
        assert snapshot(app) == state
    for strong in (etag, f'"other", {etag}', "*"):
        response = actor.send(case.method, with_query(path, "dry_run=true"),
                              headers={"If-Match": strong})
        assert response.status_code == case.ok_status, strong


def _dry_run_etag(actor, case, path) -> str:
    """The etag If-Match wants, from a dry run on either face."""
    response = actor.send(case.method, with_query(path, "dry_run=true"))
    if actor.page_face:
        return html.unescape(re.search(r'data-etag="([^"]*)"', response.text).group(1))
    return response.get_json()["etag"]


@routes()
def test_dry_run_changes_nothing_and_says_what_would_happen(app, route, tmp_path):
    case, actor, path = route
    state = snapshot(app)
    before = audit_count(app)
    response = actor.send(case.method, with_query(path, "dry_run=true"))  # no confirmation
    assert response.status_code == case.ok_status
    assert snapshot(app) == state
    assert audit_count(app) == before + 1
    assert last_audit(app).outcome == "dry_run"
    if not actor.page_face:
        body = response.get_json()
        assert body["dry_run"] is True
        assert set(body) >= {"action", "target", "etag", "consequences"}
        assert set(body["consequences"]) >= {"images", "objects", "bytes"}
        # The etag of a dry run is the one If-Match accepts for the real call.
        real = actor.send(case.method, path, headers={**confirm_headers(case),
                                                      "If-Match": body["etag"]})
        assert real.status_code == case.ok_status


@routes(lambda case: case.confirm is not None)
def test_missing_or_wrong_confirmation_is_400(app, route):
    case, actor, path = route
    state = snapshot(app)
    for headers in ({}, {"X-Confirm-Delete": "no"}, {"X-Confirm-Delete": case.confirm.upper()}):
        response = actor.send(case.method, path, headers=headers)
        assert response.status_code == 400
        if not actor.page_face:
            assert response.get_json()["code"] == "confirmation_required"
        assert snapshot(app) == state
        assert last_audit(app).outcome == "confirmation_required"


@routes()
def test_confirmed_action_succeeds_with_one_audit_event(app, route):
    """One outcome event; an action outside SQL is preceded by its "started" event."""
    case, actor, path = route
    before = audit_count(app)
    response = actor.send(case.method, path, headers=confirm_headers(case))
    assert response.status_code == case.ok_status, response.text
    outcomes = [outcome for _, outcome in audit_since(app, before)]
    assert outcomes == (["started", "ok"] if case.outside_sql else ["ok"])
    event = last_audit(app)
    assert event.outcome == "ok"
    assert event.request_id == response.headers["X-Request-ID"]
    if case.leaves_page:
        assert response.headers["HX-Redirect"] == "/login"
    elif actor.page_face:
        assert 'hx-swap-oob="beforeend:#toasts"' in response.text


def test_registry_feeds_openapi(client, app):
    document = client.get("/api/v1/openapi.json").get_json()
    for entry in delete_endpoints(app):
        if entry.spec.face != "api":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", entry.rule.removeprefix("/api/v1"))
        for method in entry.methods:
            operation = document["paths"][path][method.lower()]
            assert operation["x-delete-endpoint"]["resource"] == entry.spec.resource
            names = {p["name"] for p in operation["parameters"]}
            assert "dry_run" in names
            if entry.spec.confirm is not None:
                assert "X-Confirm-Delete" in names


def test_admin_endpoints_page_lists_every_route(app, client):
    browser = Browser(client, "founder", "founder-password")
    page = browser.request("GET", "/admin/endpoints", htmx=False)
    assert page.status_code == 200
    for entry in delete_endpoints(app):
        assert str(escape(entry.rule)) in page.text
    # Each row lists the query parameters its route accepts; the rest are refused.
    selection = re.search(r"<tr>(?:(?!</tr>).)*?/trash/selected.*?</tr>", page.text, re.S)
    assert "<code>ids</code>" in selection.group(0)
    gallery = re.search(r"<tr>(?:(?!</tr>).)*?<code>/images/&lt;uuid:image_id&gt;</code>.*?</tr>",
                        page.text, re.S)
    options = re.search(r'data-label="Options">(.*?)</td>', gallery.group(0)).group(1)
    assert options == "<code>dry_run</code>, <code>force</code>, <code>permanent</code>"


def test_admin_pages_refuse_plain_users(app, make_user):
    client = app.test_client()
    browser = Browser(client, make_user().username, USER_PASSWORD)
    assert browser.request("GET", "/admin/endpoints", htmx=False).status_code == 403

