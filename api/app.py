"""The FastAPI application factory: wires settings into storage and the routes."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from api import errors, middleware, openapi, warm
from api.routes import editing, lookup, maps, meta, plans
from api.routes import event_maps, events, open311, session, staffing
from gridmap import __version__
from gridmap.config import Settings


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app; ``engine`` defaults to the configured database (started lazily at startup)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.engine is None:
            from api.pool import pool_options
            from gridmap.storage import connect_url, make_engine

            url = connect_url(settings.database_url, settings.data_dir, settings.pg_port)
            app.state.engine = make_engine(url, **pool_options(settings))
        warm.start(app)  # the coverage index loads in the background; /v1/health does not wait for it
        timer = None
        if settings.event_tick_seconds > 0:
            timer = asyncio.create_task(events.run_timer(app, settings.event_tick_seconds))
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()

    app = FastAPI(
        title="gridmap",
        version=__version__,
        description="Grids, coverage and lookup for grid governance (网格化治理). Geometry is GeoJSON in "
        "EPSG:4490 unless stated; errors are JSON {error, detail}.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    errors.install(app)
    middleware.install(app)  # request ids, the catch-all 500, 503s, body limit, input checks, rate limits
    openapi.install(app)
    app.include_router(meta.router)
    app.include_router(session.router)
    app.include_router(editing.router)
    app.include_router(editing.pages)
    app.include_router(plans.router)
    app.include_router(plans.generations)
    app.include_router(staffing.router)
    app.include_router(events.router)
    app.include_router(open311.router)
    app.include_router(lookup.router)
    app.include_router(event_maps.router)
    app.include_router(maps.router)
    maps.mount_static(app)
    return app
