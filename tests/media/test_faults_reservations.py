"""Issue 18, item 13 (code-review N14): reservations never block early. A unit reserved
and left unspent (a slow or busy worker: it expires after UNIT_LIFE_S) is given back to
the auto-block count in the next call, so a client is blocked exactly past its threshold.

Before: every expired unit stayed counted, and a loaded worker blocked its client for a
day a few requests early (the suite's own threshold test failed under load).
"""

from __future__ import annotations

import time

import pytest

from app.media import counters
from tests.media.conftest import REDIS_URL, redis_answers
from tests.media.helpers import set_media_config
from tests.media.test_protection_counting import app, fetch, link  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(not redis_answers(),
                                reason=f"Redis is not answering at {REDIS_URL}")


class SlowWorker:
    """``time`` for the counters: wall time as it is, a monotonic clock the test moves."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now

    @staticmethod
    def time():
        return time.time()


def test_units_left_unspent_do_not_block_early(app, link, monkeypatch):  # noqa: F811
    clock = SlowWorker()
    monkeypatch.setattr(counters, "time", clock)
    set_media_config(app, auto_block={"threshold_per_image_per_hour": 50, "block_for_s": 60})
    client = app.test_client()
    answers = []
    while len(answers) < 52:
        for _ in range(5):  # a burst: the worker reserves several units...
            answers.append(fetch(client, link).status_code)
            clock.now += 0.01
        clock.now += 1.5  # ...then stalls, and the rest of them expire unspent
    assert answers[:52] == [200] * 50 + [403] * 2
