"""FastAPI dependency overrides shared by the test client and the browser tests' server."""

from __future__ import annotations

from contextlib import nullcontext

from sqlalchemy import Connection


def nested_conn(conn: Connection, lock=None):
    """A get_conn override: each request runs in a savepoint of ``conn`` (the test's transaction,
    rolled back at the end); ``lock`` serialises requests from server threads."""

    def dependency():
        with lock or nullcontext():
            nested = conn.begin_nested()
            try:
                yield conn
            finally:
                if nested.is_active:
                    nested.commit()

    return dependency
