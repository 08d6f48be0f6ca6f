"""The audit page as an admin reads it (issue 11, defect 6): people and files by name,
filters by username and by an action chosen from a list."""

from __future__ import annotations

import re

from tests.conftest import USER_PASSWORD, png_bytes
from tests.helpers import Browser

YES = {"X-Confirm-Delete": "yes"}


def test_actors_and_targets_are_names_and_filters_take_usernames(app, alice):
    owner = Browser(app.test_client(), "alice", USER_PASSWORD)
    uploaded = owner.upload(png_bytes(), name="beach-day.png")
    assert uploaded.status_code in (200, 201)
    image_id = uploaded.text.split('id="image-')[1].split('"')[0]
    assert owner.request("DELETE", f"/images/{image_id}", headers=YES).status_code == 200

    admin = Browser(app.test_client(), "founder", "founder-password")
    page = admin.request("GET", "/admin/audit", htmx=False).text
    # The action in words ("alice moved beach-day.png to the trash", not "soft_delete").
    at = page.index("<strong>alice</strong> moved <strong>beach-day.png</strong> to the trash")
    row = page[page.rindex("<tr", 0, at):page.index("</tr>", at)]
    assert alice.id not in row
    # The action filter is a list of what the log holds, the actor filter takes a username.
    assert '<select name="action">' in page
    assert '<option value="soft_delete" >moved to the trash</option>' in page
    mine = admin.request("GET", "/admin/audit?actor=alice&action=soft_delete").text
    assert "beach-day.png" in mine
    nobody = admin.request("GET", "/admin/audit?actor=founder&action=soft_delete").text
    assert "No events match" in nobody
    # Details are words, not a JSON blob; moments are dates, not ISO strings.
    assert '{"' not in row
    shown = re.sub(r"<[^>]+>", "", row)
    assert "deleted for good on" in shown and not re.search(r"\d{4}-\d\d-\d\dT\d\d:", shown)


def test_the_people_on_a_page_are_named_in_one_query(app, make_user, monkeypatch):
    """Issue 19: a page of events by and about many people asks the user store once,
    not once per person (100 lookups cost the audit page and the media stats ~100 ms)."""
    from app.audit import service as audit
    from app.users.repository import UserRepository

    people = [make_user(f"person{n:02d}") for n in range(12)]
    with app.app_context():
        for person in people:
            audit.record("deactivate_user", "ok", audit.Context(actor_id=person.id),
                         target_type="user", target_id=people[0].id)
    admin = Browser(app.test_client(), "founder", "founder-password")
    lookups = []
    for name in ("get", "names"):
        original = getattr(UserRepository, name)

        def spy(self, *args, _name=name, _original=original, **kwargs):
            lookups.append(_name)
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(UserRepository, name, spy)
    page = admin.request("GET", "/admin/audit", htmx=False).text
    for person in people:
        assert f"<strong>{person.username}</strong>" in page
    assert lookups.count("names") == 1
    assert lookups.count("get") <= 1  # the signed-in admin, nobody on the page
