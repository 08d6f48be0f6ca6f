"""The users page answers an action on a user who vanished right after it, not a 500."""

from __future__ import annotations

import pytest

from app.users import views as user_views
from app.users.repository import get_users
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import Browser, last_audit


@pytest.mark.parametrize(("verb", "action_name", "start"), [
    ("deactivate", "deactivate_action", "active"),
    ("activate", "activate_action", "inactive"),
])
def test_a_user_deleted_meanwhile_still_gets_an_answer(app, make_user, monkeypatch, verb,
                                                       action_name, start):
    target = make_user()
    if start == "inactive":
        with app.app_context():
            get_users().update(target.id, {}, {"status": "inactive"})
    real = getattr(user_views, action_name)

    def then_vanish(*args, **kwargs):
        result = real(*args, **kwargs)
        get_users().delete(target.id)  # another admin deleted them at that moment
        return result

    monkeypatch.setattr(user_views, action_name, then_vanish)
    browser = Browser(app.test_client(), "founder", ADMIN_PASSWORD)
    response = browser.request("PATCH", f"/admin/users/{target.id}/{verb}",
                               headers={"X-Confirm-Delete": "yes"})
    assert response.status_code == 200, response.text
    assert f'id="user-{target.id}"' in response.text
    assert 'data-action="' not in response.text  # nothing left to offer on that row
    assert (last_audit(app).action, last_audit(app).outcome) == (verb, "ok")
