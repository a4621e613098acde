"""A fuzzing pass over the JSON API: schemathesis generates requests from the OpenAPI
document (served to an authenticated caller) and the app, in-process, must never answer
with a server error. Runs as an officer, so the write routes are exercised too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("schemathesis", reason="schemathesis (dev extra) is not installed")
pytest.importorskip("fastapi", reason="the web extra is not installed")

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from auditor.store import open_store, save_audit
from auditor.users import create_token
from tests._web import add_users, fast_hashing, insert_letter, make_app  # noqa: F401
from tests.factories import make_result


@pytest.fixture
def officer_api(tmp_path: Path, fast_hashing: None) -> tuple[Any, str]:  # noqa: F811
    """The app over a small store (one audit, one letter) and an officer's token."""
    root = tmp_path
    url = f"sqlite:///{root / 'fuzz.db'}"
    result = make_result(name="fuzzed")
    with open_store(url) as store:
        add_users(store)
        with store.session() as session:
            save_audit(session, result)
        insert_letter(store, result.audit_id, "D-1", pdf=None)
        token = create_token(store, "otto", actor="test")
    return make_app(url, root), token


@pytest.fixture
def api_schema(officer_api: tuple[Any, str]) -> Any:
    app, token = officer_api
    return schemathesis.openapi.from_asgi(
        "/api/openapi.json", app, headers={"Authorization": f"Bearer {token}"}
    )


def test_api_never_answers_with_a_server_error(
    api_schema: Any, officer_api: tuple[Any, str]
) -> None:
    _, token = officer_api
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {
        "/api/audits", "/api/audits/{audit_id}", "/api/letters", "/api/letters/{letter_id}",
        "/api/schedules", "/api/schedules/{name}", "/api/policies", "/api/jobs/{job_id}",
    }  # fmt: skip
    for operation in operations:

        @settings(
            max_examples=15,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: report the first failure
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def fuzz(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        fuzz()
