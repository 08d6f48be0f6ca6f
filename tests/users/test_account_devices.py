"""The account page names each signed-in browser in words ("Firefox on Windows"), with
the raw User-Agent kept in the title, in the reader's language."""

from __future__ import annotations

import pytest

from tests.conftest import USER_PASSWORD
from tests.helpers import Browser

FIREFOX_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 "
                   "Firefox/133.0")
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1")


@pytest.mark.parametrize("agent, shown", [
    (FIREFOX_WINDOWS, "Firefox on Windows"),
    (SAFARI_IPHONE, "Safari on iOS"),
    ("curl/8.5.0", "curl/8.5.0"),  # unknown: as it came
])
def test_sessions_are_named_by_browser_and_system(app, alice, agent, shown):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = agent
    browser = Browser(client, "alice", USER_PASSWORD)
    page = browser.request("GET", "/account", htmx=False).text
    panel = page[page.index('id="sessions-panel"'):]
    assert shown in panel
    if shown != agent:
        assert f'title="{agent}"' in panel
    spanish = browser.request("GET", "/account", htmx=False,
                              headers={"Accept-Language": "es"}).text
    assert shown.replace(" on ", " en ") in spanish
