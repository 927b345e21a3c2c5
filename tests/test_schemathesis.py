"""A bounded schemathesis run: a few generated requests per operation, sent with each role's key
(public, dispatcher, planner, admin) to the app on the tiny staffed district; any 5xx (or an
exception escaping the app) fails. Kept small (max_examples per operation) so the run stays short.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from sqlalchemy import Engine

from tests.overrides import nested_conn

ROLES = ("public", "dispatcher", "planner", "admin")
MAX_EXAMPLES = 6


@pytest.fixture(scope="module")
def fuzzed(engine: Engine) -> Iterator[tuple[object, dict[str, dict[str, str]]]]:
    """The app on a staffed tiny district with a draft, in one transaction rolled back at the end,
    and the headers of each role."""
    from api.app import create_app
    from api.deps import get_conn
    from gridmap.config import Settings
    from gridmap.storage.keys import create_key
    from tests.test_staffing import partition, staffed

    conn = engine.connect()
    trans = conn.begin()
    staffed(conn)
    partition(conn, "p2", split_col=1, publish=False)
    headers = {role: ({} if role == "public" else {"X-API-Key": create_key(conn, role)}) for role in ROLES}
    app = create_app(Settings(tiles="none"), engine=engine)
    app.dependency_overrides[get_conn] = nested_conn(conn, threading.Lock())
    try:
        yield app, headers
    finally:
        trans.rollback()
        conn.close()


@pytest.fixture(scope="module")
def api_schema(fuzzed):
    app, _ = fuzzed
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.generate], derandomize=True, database=None)
def test_no_server_errors(case, fuzzed) -> None:
    _, headers = fuzzed
    for role in ROLES:
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in ("x-api-key",
                                                                                           "authorization")}
        case.headers.update(headers[role])
        response = case.call()
        assert response.status_code < 500, (role, case.method, case.formatted_path, case.query, case.body,
                                             response.status_code, response.text[:500])
