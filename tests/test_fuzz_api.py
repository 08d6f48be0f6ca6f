"""Fuzz the JSON API from its own OpenAPI document: no generated request may get a 500.

schemathesis reads ``GET /api/v1/openapi.json`` and calls every operation in-process
through the WSGI app, as the founder with a bearer token, with valid and invalid input.
The token routes are left out (revoking the token would turn the rest into 401s). The
budget is small and the examples derandomised, so ``make test`` stays quick and a failure
reproduces; raise it with ``FUZZ_MAX_EXAMPLES`` for a longer hunt.

Hypothesis is driven here per operation rather than through schemathesis's pytest
plugin, whose lazy loader reads a node attribute pytest 9 no longer has.
"""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance

from tests.conftest import ADMIN_PASSWORD, login_api

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "12"))
CHECKS = [not_a_server_error, content_type_conformance]


def operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    found = [result.ok() for result in schema.exclude(path="/auth/token").get_all_operations()]
    assert found, "the OpenAPI document lists no operation"
    return found


def test_api_never_answers_a_server_error(app, subtests):
    """On SQLite and on PostgreSQL (whose column lengths SQLite does not enforce)."""
    token = login_api(app.test_client(), "founder", ADMIN_PASSWORD)
    bearer = {"Authorization": f"Bearer {token}"}
    for operation in operations(app):
        cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE))

        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=cases)
        def fuzz(case):
            case.call_and_validate(headers=bearer, checks=CHECKS)

        with subtests.test(operation=operation.label):
            fuzz()
