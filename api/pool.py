"""Database connections for requests without freezing under overload.

A sync route runs in Starlette's threadpool (40 threads). If its connection is taken in one thread
while the route waits for another, 60 waiting requests can hold every pooled connection while the
routes that would release them wait for a thread: nothing moves until the pool times out. So
:func:`get_conn` first takes a slot of a gate no larger than the pool (waiting on the event loop, not
in a thread, at most ``settings.db_wait_s`` — then ``503 overloaded`` with ``Retry-After``), and only
then a connection. Fewer requests hold connections than there are threads, so each gets its thread.

:func:`health_check` answers ``/v1/health`` from a separate one-connection engine on its own two
threads, with a timeout: it stays fast while the pool and the threadpool are busy, or the database
is away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from fastapi import Request
from sqlalchemy import Connection, Engine, create_engine
from starlette.concurrency import run_in_threadpool

from gridmap.config import Settings

HEALTH_TIMEOUT_S = 1.5
_health_threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gridmap-health")


class Overloaded(Exception):
    """Every database slot stayed busy for ``settings.db_wait_s``."""


def pool_options(settings: Settings) -> dict:
    """make_engine options from the settings."""
    return {"pool_size": settings.db_pool_size, "max_overflow": settings.db_max_overflow,
            "pool_timeout": settings.db_pool_timeout_s}


def _gate(request: Request) -> asyncio.Semaphore:
    """One semaphore per app and event loop, as large as the pool."""
    state = request.app.state
    loop = asyncio.get_running_loop()
    held = getattr(state, "db_gate", None)
    if held is None or held[0] is not loop:
        s = state.settings
        held = state.db_gate = (loop, asyncio.Semaphore(max(1, s.db_pool_size + s.db_max_overflow)))
    return held[1]


def _begin(engine: Engine) -> tuple[Connection, object]:
    conn = engine.connect()
    try:
        return conn, conn.begin()
    except BaseException:
        conn.close()
        raise


def _end(conn: Connection, trans, commit: bool) -> None:
    try:
        if trans.is_active:
            trans.commit() if commit else trans.rollback()
    finally:
        conn.close()


async def get_conn(request: Request) -> AsyncIterator[Connection]:
    """A connection in a transaction committed when the request succeeds (a database slot first)."""
    gate = _gate(request)
    wait = request.app.state.settings.db_wait_s
    try:
        await asyncio.wait_for(gate.acquire(), timeout=wait)
    except asyncio.TimeoutError:
        raise Overloaded(f"服务器繁忙，请稍后重试 (every database connection stayed busy for {wait:g} s; "
                         "retry shortly)") from None
    try:
        conn, trans = await run_in_threadpool(_begin, request.app.state.engine)
        try:
            yield conn
        except BaseException:
            await run_in_threadpool(_end, conn, trans, False)
            raise
        await run_in_threadpool(_end, conn, trans, True)
    finally:
        gate.release()


# ---------------------------------------------------------------- /v1/health


def _health_engine(request: Request) -> Engine:
    state = request.app.state
    eng = getattr(state, "health_engine", None)
    if eng is None:
        url = state.engine.url
        args = {"connect_timeout": 1} if url.drivername.startswith("postgresql") else {}
        eng = state.health_engine = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=1.0,
                                                  pool_pre_ping=True, connect_args=args)
    return eng


async def health_check(request: Request, check) -> object:
    """``check(conn)`` on the health engine (or a test's override of get_conn), within HEALTH_TIMEOUT_S."""
    override = request.app.dependency_overrides.get(get_conn)
    opener = contextmanager(override) if override is not None else _health_engine(request).connect

    def run():
        with opener() as conn:
            return check(conn)

    loop = asyncio.get_running_loop()
    return await asyncio.wait_for(loop.run_in_executor(_health_threads, run), timeout=HEALTH_TIMEOUT_S)
