"""Weak passwords are refused by one rule everywhere, and forms tell every problem at once
(ux review, minor 10): the account page, the admin's user creation and POST /users."""

from __future__ import annotations

import pytest

from tests.conftest import USER_PASSWORD
from tests.helpers import Browser

WEAK = ["password", "12345678", "qwertyuiop", "iloveyou1", "contraseña1", "papelera2024"]


@pytest.fixture
def alice_browser(app, alice):
    return Browser(app.test_client(), "alice", USER_PASSWORD)


def change(browser, current, new, repeat, **headers):
    return browser.request("POST", "/account/password", headers=headers or None, data={
        "current_password": current, "new_password": new, "repeat_password": repeat})


def new_user(api_or_browser, **fields):
    body = {"username": "rosa", "email": "rosa@example.com", "password": "long-enough-1",
            "role": "user", **fields}
    return api_or_browser.post("/api/v1/users", json=body)


# -- the account page ------------------------------------------------------------------

def test_wrong_current_and_mismatched_new_are_both_told(alice_browser):
    answer = change(alice_browser, "not-my-password", "a-new-password", "a-new-passw0rd")
    assert answer.status_code == 400
    assert "This is not your current password." in answer.text
    assert "The two passwords differ." in answer.text
    assert answer.text.count('aria-invalid="true"') == 2


def test_wrong_current_and_weak_new_are_both_told(alice_browser):
    answer = change(alice_browser, "not-my-password", "password", "password")
    assert answer.status_code == 400
    assert "This is not your current password." in answer.text
    assert "Too easy to guess" in answer.text


@pytest.mark.parametrize("weak", WEAK)
def test_a_weak_new_password_is_refused(app, alice_browser, weak):
    answer = change(alice_browser, USER_PASSWORD, weak, weak)
    assert answer.status_code == 400
    assert "Too easy to guess" in answer.text
    assert "This is not your current password." not in answer.text
    # Still signed in with the old password.
    assert Browser(app.test_client(), "alice", USER_PASSWORD)


def test_the_username_itself_is_refused(app, make_user):
    make_user("grandma.rosa", password="long-enough-1")
    browser = Browser(app.test_client(), "grandma.rosa", "long-enough-1")
    answer = change(browser, "long-enough-1", "grandma.rosa", "grandma.rosa")
    assert answer.status_code == 400
    assert "not your username or e-mail address" in answer.text


def test_weak_password_told_in_spanish(alice_browser):
    answer = change(alice_browser, "no-es-la-mía", "password", "otra",
                    **{"Accept-Language": "es"})
    assert answer.status_code == 400
    assert "Demasiado fácil de adivinar" in answer.text
    assert "Esta no es tu contraseña actual." in answer.text


def test_a_good_password_still_changes(alice_browser):
    answer = change(alice_browser, USER_PASSWORD, "violet kettle under rain",
                    "violet kettle under rain")
    assert answer.status_code == 200, answer.text


# -- the API ---------------------------------------------------------------------------

@pytest.mark.parametrize("weak", ["password", "12345678", "rosa@example.com", "rosa2024"])
def test_api_refuses_a_weak_password_as_invalid_user(admin_api, weak):
    answer = new_user(admin_api, password=weak)
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["code"] == "invalid_user" and "password" in body["fields"]


def test_api_reports_both_username_and_email_taken(admin_api, alice):
    answer = new_user(admin_api, username="alice", email="Alice@Example.com")
    assert answer.status_code == 409
    body = answer.get_json()
    assert body["code"] == "duplicate" and body["field"] == "username"
    assert set(body["fields"]) == {"username", "email"}
    assert "username" in body["error"] and "e-mail" in body["error"]
    only_email = new_user(admin_api, email="alice@example.com")
    assert only_email.status_code == 409
    assert set(only_email.get_json()["fields"]) == {"email"}
    assert only_email.get_json()["field"] == "email"


# -- the admin's page ------------------------------------------------------------------

def test_create_form_reports_both_clashes_and_keeps_the_typed_fields(founder_browser, alice):
    form = {"username": "alice", "email": "alice@example.com", "password": "long-enough-1",
            "role": "user"}
    answer = founder_browser.request("POST", "/admin/users", data=form)
    assert answer.status_code == 409
    assert "That username is already taken." in answer.text
    assert "That e-mail address is already taken." in answer.text
    assert 'value="alice"' in answer.text and 'value="alice@example.com"' in answer.text


def test_create_form_reports_a_weak_password_with_the_clashes(founder_browser, alice):
    form = {"username": "alice", "email": "alice@example.com", "password": "password",
            "role": "user"}
    answer = founder_browser.request("POST", "/admin/users", data=form)
    assert answer.status_code == 400
    assert "Too easy to guess" in answer.text
    assert "That username is already taken." in answer.text
    assert "That e-mail address is already taken." in answer.text
    assert answer.text.count('class="field-error"') == 3
