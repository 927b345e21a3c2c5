"""Build the coverage index in the background when a worker starts, so the first lookups find it ready
and /v1/health (which never waits for it) answers at once. Each worker builds its own."""

from __future__ import annotations

import logging
import threading

from fastapi import FastAPI

from gridmap.services.coverage import CoverageCache

log = logging.getLogger("gridmap.api")


def start(app: FastAPI) -> threading.Thread | None:
    """Load the current generation into the app's CoverageCache in a daemon thread (not under a test's
    get_conn override: a test's rows live in its own transaction)."""
    from api.deps import get_conn

    if app.dependency_overrides.get(get_conn) is not None or app.state.engine is None:
        return None
    state = app.state
    cache = getattr(state, "coverage", None)
    if cache is None:
        cache = state.coverage = CoverageCache(edge_m=state.settings.edge_distance_m)
    engine = state.engine

    def warm() -> None:
        try:
            cache.current(engine.begin)
            cache.addresses(engine.begin)
        except Exception as exc:  # noqa: BLE001 — the first lookup will say what is wrong
            log.info("coverage index not preloaded: %s", exc)

    thread = threading.Thread(target=warm, name="gridmap-warm", daemon=True)
    thread.start()
    return thread
