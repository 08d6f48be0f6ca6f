"""Repository and service rules on mongomock, without a request."""

from __future__ import annotations

import pytest

from app.core.db import utcnow
from app.core.errors import BadRequest, Conflict, Forbidden, NotFound
from app.users import service
from app.users.service import (
    LoginRefused,
    activate_user,
    allowed_actions,
    authenticate,
    change_password,
    check_protection,
    create_user,
    deactivate_user,
    ensure_not_last_admin,
    set_trash_retention,
)
from tests.conftest import USER_PASSWORD


@pytest.fixture
def app(sqlite_app):
    """These rules live in Mongo: one SQL engine is enough."""
    return sqlite_app


def new(users, username, role="user"):
    return create_user(users, username=username, email=f"{username}@example.com",
                       password=USER_PASSWORD, role=role, now=utcnow())


# -- creation and search ------------------------------------------------------------------

@pytest.mark.parametrize("username", ["ab", "a" * 33, "Alice", "ali ce", "álvaro", "bob!",
                                      "bo\nb", ""])
def test_usernames_outside_the_pattern_are_refused(users, username):
    with pytest.raises(BadRequest) as caught:
        new(users, username)
    assert caught.value.code == "invalid_user"
    assert "username" in caught.value.extra["fields"]


@pytest.mark.parametrize("username", ["abc", "a.b-c_d", "x" * 32, "007"])
def test_usernames_inside_the_pattern_are_accepted(users, username):
    assert new(users, username).username == username


def test_usernames_and_emails_are_unique_ignoring_case(users):
    new(users, "carol")
    with pytest.raises(Conflict) as caught:
        users.insert(username="CAROL", email="other@example.com", password_hash="x",
                     role="user", is_founder=False, now=utcnow())
    assert caught.value.code == "duplicate" and caught.value.extra["field"] == "username"
    with pytest.raises(Conflict) as caught:
        create_user(users, username="carol2", email="CAROL@example.com",
                    password=USER_PASSWORD, now=utcnow())
    assert caught.value.extra["field"] == "email"


def test_search_filters_by_status_and_text_and_pages_by_username(users):
    for name in ("dora", "dave", "erin"):
        new(users, name)
    erin = users.by_username("erin")
    deactivate_user(users, erin, actor_id="x", now=utcnow())
    assert [u.username for u in users.search(status="active", q="d")] == [
        "dave", "dora", "founder"]  # founder@localhost.localdomain
    assert [u.username for u in users.search(status="inactive")] == ["erin"]
    assert [u.username for u in users.search(q="ERIN@EXAMPLE")] == ["erin"]
    assert [u.username for u in users.search(q=".*")] == []  # the text is not a regex
    first = users.search(status="all", limit=2)
    rest = users.search(status="all", after=first[-1].username.lower(), limit=10)
    assert [u.username for u in first + rest] == ["dave", "dora", "erin", "founder"]


# -- protection rules, in SPEC order -------------------------------------------------------

def codes(users, actor, target, action):
    try:
        check_protection(users, actor, target, action)
    except (Forbidden, Conflict) as error:
        return error.status, error.code
    return None


def test_rules_in_order(users, founder):
    admin = new(users, "admin1", role="admin")
    admin2 = new(users, "admin2", role="admin")
    plain = new(users, "plain")
    for action in ("deactivate", "delete"):
        assert codes(users, founder, founder, action) == (403, "self_action")
        assert codes(users, admin, admin, action) == (403, "self_action")
        assert codes(users, admin, founder, action) == (403, "founder_protected")
        assert codes(users, admin, admin2, action) == (403, "admin_protected")
        assert codes(users, founder, admin, action) is None
        assert codes(users, admin, plain, action) is None
        assert codes(users, plain, plain, action) == (403, "self_action")
    assert codes(users, admin, admin2, "activate") == (403, "admin_protected")
    assert codes(users, founder, admin2, "activate") is None


def test_last_admin_is_an_invariant_of_the_service(users, founder):
    """Unreachable through the rules above (only the founder acts on admins, and the
    founder is an active admin), so it is tested here, where the service keeps it."""
    admin = new(users, "keeper", role="admin")
    # The founder is deactivated behind the rules' back: keeper is the last active admin.
    users.update(founder.id, {}, {"status": "inactive"})
    assert codes(users, founder, admin, "deactivate") == (409, "last_admin")
    assert codes(users, founder, admin, "delete") == (409, "last_admin")
    with pytest.raises(Conflict) as caught:
        ensure_not_last_admin(users, admin)
    assert caught.value.code == "last_admin"
    with pytest.raises(Conflict) as caught:
        deactivate_user(users, admin, actor_id=founder.id, now=utcnow())
    assert caught.value.code == "last_admin"
    assert users.get(admin.id).status == "active"


def test_last_admin_race_is_undone_after_the_write(users, founder, monkeypatch):
    """Two deactivations that both passed the pre-check: the one that empties the set of
    active admins is undone."""
    admin = new(users, "racer", role="admin")
    users.update(founder.id, {}, {"status": "inactive"})
    real = users.count_active_admins
    answers = iter([2])  # the pre-check sees the other admin still active
    monkeypatch.setattr(users, "count_active_admins", lambda: next(answers, None) or real())
    with pytest.raises(Conflict) as caught:
        deactivate_user(users, admin, actor_id=founder.id, now=utcnow())
    assert caught.value.code == "last_admin"
    back = users.get(admin.id)
    assert (back.status, back.deactivated_at, back.deactivated_by) == ("active", None, None)
    assert back.auth_epoch == admin.auth_epoch  # a refused deactivation signs nobody out


def test_allowed_actions_follow_the_rules(users, founder):
    admin = new(users, "adm", role="admin")
    plain = new(users, "pln")
    assert allowed_actions(users, founder, founder) == set()
    assert allowed_actions(users, admin, founder) == set()
    assert allowed_actions(users, founder, admin) == {"deactivate", "delete"}
    assert allowed_actions(users, admin, plain) == {"deactivate", "delete"}
    deactivate_user(users, plain, actor_id=admin.id, now=utcnow())
    assert allowed_actions(users, admin, users.get(plain.id)) == {"activate", "delete"}
    users.update(plain.id, {}, {"status": "deleting"})
    assert allowed_actions(users, admin, users.get(plain.id)) == set()


# -- deactivation and reactivation ---------------------------------------------------------

def test_deactivation_records_who_and_when_and_moves_the_epoch(users, founder):
    user = new(users, "frank")
    now = utcnow()
    done = deactivate_user(users, user, actor_id=founder.id, now=now)
    assert (done.status, done.is_active, done.deactivated_by) == ("inactive", False, founder.id)
    assert abs((done.deactivated_at - now).total_seconds()) < 0.01
    assert done.auth_epoch == user.auth_epoch + 1 and done.version == user.version + 1
    assert users.get_doc(user.id)["is_active"] is False
    again = deactivate_user(users, done, actor_id=founder.id, now=utcnow())
    assert again.deactivated_at == done.deactivated_at and again.auth_epoch == done.auth_epoch
    back = activate_user(users, done)
    assert (back.status, back.deactivated_at, back.deactivated_by) == ("active", None, None)
    assert back.auth_epoch == done.auth_epoch  # old sessions and tokens stay dead
    assert activate_user(users, back).version == back.version  # already active: unchanged


def test_a_user_being_deleted_cannot_be_deactivated_or_reactivated(users, founder):
    user = new(users, "gone")
    users.update(user.id, {}, {"status": "deleting"})
    for call in (lambda: deactivate_user(users, user, actor_id=founder.id, now=utcnow()),
                 lambda: activate_user(users, user)):
        with pytest.raises(Conflict) as caught:
            call()
        assert caught.value.code == "deleting"
    users.delete(user.id)
    with pytest.raises(NotFound):
        activate_user(users, user)


def test_login_is_refused_with_a_reason_for_inactive_and_deleting_users(users, founder):
    user = new(users, "henry")
    deactivate_user(users, user, actor_id=founder.id, now=utcnow())
    with pytest.raises(LoginRefused) as caught:
        authenticate(users, "henry", USER_PASSWORD)
    assert caught.value.code == "account_inactive" and "deactivated" in caught.value.message
    users.update(user.id, {}, {"status": "deleting"})
    with pytest.raises(LoginRefused) as caught:
        authenticate(users, "henry", USER_PASSWORD)
    assert caught.value.code == "account_deleting"


# -- the account page's services -----------------------------------------------------------

def test_change_password_checks_the_current_one_and_moves_the_epoch(users):
    user = new(users, "ivy")
    with pytest.raises(BadRequest) as caught:
        change_password(users, user, current="wrong-password", new="another-password")
    assert caught.value.code == "wrong_password"
    with pytest.raises(BadRequest) as caught:
        change_password(users, user, current=USER_PASSWORD, new="short")
    assert caught.value.code == "invalid_password"
    done = change_password(users, user, current=USER_PASSWORD, new="another-password")
    assert done.auth_epoch == user.auth_epoch + 1
    assert authenticate(users, "ivy", "another-password").id == user.id
    with pytest.raises(Conflict):  # a stale copy cannot overwrite the newer password
        change_password(users, user, current=USER_PASSWORD, new="third-password")


@pytest.mark.parametrize("days, ok", [(0, True), (90, True), (None, True), (91, False),
                                      (-1, False), (True, False)])
def test_trash_retention_is_bounded(users, days, ok):
    user = new(users, f"ret{days}".replace("-", "m").lower())
    if ok:
        assert set_trash_retention(users, user, days, max_days=90).trash_retention_days == days
    else:
        with pytest.raises(BadRequest):
            set_trash_retention(users, user, days, max_days=90)


def test_actions_are_the_known_ones(users, founder):
    with pytest.raises(ValueError):
        check_protection(users, founder, founder, "promote")
    assert service.ACTIONS == ("deactivate", "delete", "activate")
