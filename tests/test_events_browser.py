"""The events map in a real browser (headless Chromium): markers by state, overdue in red, counts per grid.

The tiny district of tests/test_maps.py is loaded in one rolled-back transaction served by uvicorn;
three events are reported, one closed, one pushed past its limit. The dispatcher key is sent with
CDP ``Network.setExtraHTTPHeaders`` (the page's fetch of /maps/events.json needs it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from tests.browser import chromium, severe, wait_for
from tests.live import live_uvicorn
from tests.overrides import nested_conn
from tests.test_maps import load_map_data

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, list[int]]]:
    from api.app import create_app
    from api.deps import get_conn
    from gridmap.config import Settings
    from gridmap.services.coverage import OneShot
    from gridmap.services.events import create
    from gridmap.storage.keys import create_key

    conn = engine.connect()
    trans = conn.begin()
    load_map_data(conn, tmp_path_factory.mktemp("events-browser"))
    key = create_key(conn, "dispatcher", label="browser")
    from contextlib import nullcontext

    source = OneShot(lambda: nullcontext(conn))
    points = conn.execute(text("SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grid "
                               "ORDER BY code")).all()
    ids = []
    for k, (x, y) in enumerate(points):
        ev = create(conn, source, {"category": ["noise", "sanitation", "other"][k % 3], "description": "t",
                                   "lon": float(x), "lat": float(y), "crs": "cgcs2000"}, role="dispatcher")
        ids.append(ev["id"])
    conn.execute(text("UPDATE event SET due_at = now() - interval '1 hour' WHERE id = :i"), {"i": ids[0]})
    conn.execute(text("UPDATE event SET status = 'closed', closed_at = now() WHERE id = :i"), {"i": ids[1]})
    app = create_app(Settings(tiles="none", event_tick_seconds=0), engine=engine)
    app.dependency_overrides[get_conn] = nested_conn(conn, threading.Lock())
    try:
        with live_uvicorn(app) as url:
            yield url, key, ids
    finally:
        trans.rollback()
        conn.close()


def test_events_map_and_event_page(live) -> None:
    url, key, ids = live
    with chromium() as browser:
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"X-API-Key": key}})
        browser.get(f"{url}/maps/events")
        wait_for(browser, "window.gridmap && (window.gridmap.loaded || window.gridmap.failed)")
        assert browser.execute_script("return window.gridmap.failed") is None
        assert browser.execute_script("return document.querySelectorAll('path.gm-event').length") == len(ids)
        assert browser.execute_script("return document.querySelectorAll('path.gm-overdue').length") == 1
        assert browser.execute_script("return document.querySelectorAll('path.gm-event-closed').length") == 1
        fill = browser.execute_script("return document.querySelector('path.gm-overdue').getAttribute('fill')")
        assert fill == "#d62728"
        assert browser.execute_script("return document.querySelectorAll('tr.gm-grid-count').length") == len(ids)
        assert "超期 1 件" in browser.find_element("css selector", "#summary").text
        assert severe(browser) == []
        browser.get(f"{url}/maps/events/{ids[0]}")
        assert "派单" in browser.page_source and browser.find_elements("css selector", "tr.gm-history")
        # Without the key the data is refused, and the page says so instead of drawing nothing silently.
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
        browser.get(f"{url}/maps/events")
        wait_for(browser, "window.gridmap && (window.gridmap.loaded || window.gridmap.failed)")
        assert browser.execute_script("return window.gridmap.failed")
