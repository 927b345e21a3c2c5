"""The map pages in a real browser (Debian's headless Chromium via selenium).

A live uvicorn server runs the app on the test data of tests/test_maps.py,
inside one transaction rolled back at the end (requests take turns on the
connection). Each page must load with no SEVERE console message, draw the
expected features, and not be blank. Tiles are off (no internet here).

Screenshots go to a temporary folder, or to GRIDMAP_SCREENSHOTS (a folder,
e.g. docs/) when set; load figures are printed (run with -s to see them).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Connection, Engine

from tests.browser import chromium, screenshot, severe, timings, wait_for
from tests.live import live_uvicorn
from tests.overrides import nested_conn
from tests.test_maps import G1, G2, G3, PRIVATE_PHONE, load_map_data

pytestmark = pytest.mark.browser
MIN_VARIANCE = 50.0  # grey-level variance of a page with a map drawn (a blank page is ~0)



@pytest.fixture(scope="module")
def live_server(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Connection]]:
    """Base URL of a uvicorn server whose requests share one rolled-back transaction, and that
    transaction's connection."""
    from api.app import create_app
    from api.deps import get_conn
    from gridmap.config import Settings

    conn = engine.connect()
    trans = conn.begin()
    load_map_data(conn, tmp_path_factory.mktemp("maps-browser"))
    app = create_app(Settings(tiles="none"), engine=engine)
    app.dependency_overrides[get_conn] = nested_conn(conn, threading.Lock())
    try:
        with live_uvicorn(app) as url:
            yield url, conn
    finally:
        trans.rollback()
        conn.close()


@pytest.fixture(scope="module")
def live(live_server: tuple[str, Connection]) -> str:
    return live_server[0]


@pytest.fixture
def signed_in(browser, live_server: tuple[str, Connection]) -> Iterator[str]:
    """The browser signed in as a dispatcher through the /maps/login form; signed out afterwards."""
    from gridmap.storage.keys import create_key

    url, conn = live_server
    key = create_key(conn, "dispatcher")
    browser.get(f"{url}/maps/login")
    browser.find_element("id", "key").send_keys(key)
    browser.find_element("id", "login-submit").click()
    wait_for(browser, "location.pathname === '/maps/lookup'")
    cookies = browser.get_cookies()
    assert [(c["name"], c["httpOnly"], c["sameSite"]) for c in cookies] == [("gridmap_session", True, "Strict")]
    assert browser.execute_script("return document.cookie") == ""  # HttpOnly: no script sees it
    try:
        yield url
    finally:
        browser.get(f"{url}/maps/login")
        browser.find_element("id", "logout").click()
        wait_for(browser, "!!document.getElementById('login-form') && !document.getElementById('logout')")
        assert browser.get_cookies() == []


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("GRIDMAP_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def open_page(browser, url: str, ready: str) -> dict:
    """Load ``url``, wait for ``ready`` and for pending fetches; return the load figures."""
    severe(browser)  # drop messages of earlier pages
    browser.get(url)
    wait_for(browser, f"window.gridmap && ({ready})")
    wait_for(browser, "window.gridmap.pending() === 0")
    figures = timings(browser)
    print(f"\n{url}: {json.dumps(figures)}")
    return figures


def check_clean_and_drawn(browser, shot: Path) -> None:
    assert severe(browser) == []
    measured = screenshot(browser, shot)
    assert measured["variance"] > MIN_VARIANCE, f"screenshot looks blank: {measured}"


def test_coverage_page(browser, live: str, shots: Path) -> None:
    figures = open_page(browser, f"{live}/maps/coverage?tiles=none", "gridmap.count('grids') === 3")
    assert browser.execute_script("return document.querySelectorAll('path.gm-grid').length") == 3
    assert browser.execute_script("return document.querySelectorAll('path.gm-violation').length") == 3
    assert browser.execute_script("return document.querySelectorAll('.gm-label').length") == 3
    assert browser.execute_script("return document.querySelectorAll('path.gm-compound').length") == 3
    labels = browser.execute_script("return [...document.querySelectorAll('.leaflet-control-layers label')]"
                                    ".map(l => l.textContent.trim())")
    assert "网格（按户数着色）" in labels and "小区" in labels and "障碍：主干道" in labels
    assert "户数超过上限" in browser.find_element("css selector", ".gm-legend").text
    assert figures["html_bytes"] < 5_000_000
    check_clean_and_drawn(browser, shots / "map-coverage.png")


def test_coverage_popup_shows_grid_card(browser, live: str) -> None:
    open_page(browser, f"{live}/maps/coverage?tiles=none", "gridmap.count('grids') === 3")
    browser.execute_script(f"gridmap.layers.grids.eachLayer(l => {{ if (l.feature.properties.code === '{G1}') "
                           "l.openPopup(); })")
    text = wait_for(browser, "document.querySelector('.leaflet-popup-content')?.innerText")
    assert "网格长" in text and "王芳" in text and "新光社区第1网格党支部" in text and "赵警官" in text
    assert PRIVATE_PHONE not in text
    assert severe(browser) == []


def test_coverage_page_loads_grids_by_viewport(browser, live: str) -> None:
    open_page(browser, f"{live}/maps/coverage?tiles=none&load=viewport", "gridmap.count('grids') === 3")
    assert browser.execute_script("return document.querySelectorAll('path.gm-grid').length") == 3
    browser.execute_script("const m = Object.values(window).find(v => v instanceof L.Map);"
                           "m.setView([31.505, 120.318], 18, {animate: false});")
    wait_for(browser, "gridmap.pending() === 0 && gridmap.count('grids') === 1")
    assert browser.execute_script("return gridmap.layers.grids.getLayers()[0].feature.properties.code") == G3
    assert severe(browser) == []


def test_lookup_page(browser, live: str, shots: Path) -> None:
    open_page(browser, f"{live}/maps/lookup?lon=120.3049&lat=31.505&crs=wgs84&tiles=none",
              "gridmap.count('grid') === 1")
    assert browser.execute_script("return gridmap.count('neighbours')") == 1  # on the G1|G2 edge
    assert browser.execute_script("return document.querySelectorAll('path.gm-focus').length") == 1
    card = wait_for(browser, "document.querySelector('.leaflet-popup-content .gm-staff')?.innerText")
    assert "网格边界" in card and G1 in card
    check_clean_and_drawn(browser, shots / "map-lookup.png")


def test_service_points_page_and_find_my_grid(browser, live: str, shots: Path) -> None:
    open_page(browser, f"{live}/maps/service-points?tiles=none", "gridmap.count('walk') === 1")
    for kind in ("party_service_centre", "red_station", "grid_service_station", "convenience_centre"):
        assert browser.execute_script(f"return gridmap.count('sp_{kind}')") == 1
        assert browser.execute_script(f"return document.querySelectorAll('.gm-sp-{kind}').length") >= 1
    assert browser.execute_script("return document.querySelectorAll('path.gm-outside').length") == 1  # C3
    assert "覆盖户数 660/1310" in browser.find_element("css selector", ".gm-legend").text
    check_clean_and_drawn(browser, shots / "map-service-points.png")

    box = browser.find_element("css selector", ".gm-find input[name=q]")
    box.send_keys("120.302,31.502")
    browser.find_element("css selector", ".gm-find select[name=crs] option[value=wgs84]").click()
    browser.find_element("css selector", ".gm-find button").click()
    state = wait_for(browser, "document.querySelector('.gm-find-result').getAttribute('data-state') !== 'pending'"
                              " && document.querySelector('.gm-find-result').getAttribute('data-state')")
    result = browser.find_element("css selector", ".gm-find-result")
    assert state == "found", f"find my grid failed: {result.text}"
    assert result.get_attribute("data-code") == G1
    assert "新光社区第1网格" in result.text and "李强" in result.text
    assert PRIVATE_PHONE not in result.text
    assert browser.execute_script("return document.querySelectorAll('path.gm-focus').length") == 1
    assert severe(browser) == []


def test_officers_page(browser, signed_in: str, shots: Path) -> None:
    live = signed_in
    open_page(browser, f"{live}/maps/officers?tiles=none", "gridmap.count('officers_police') === 3")
    assert browser.execute_script("return document.querySelectorAll('path.gm-compound').length") == 3
    assert "赵警官" in browser.find_element("css selector", ".gm-scroll").text
    check_clean_and_drawn(browser, shots / "map-officers.png")


def test_anonymous_officers_page_sends_to_sign_in(browser, live: str) -> None:
    browser.get(f"{live}/maps/officers?tiles=none")
    wait_for(browser, "location.pathname === '/maps/login'")
    assert "next=%2Fmaps%2Fofficers" in browser.current_url
    assert browser.find_element("css selector", "input[name=next]").get_attribute("value") == \
        "/maps/officers?tiles=none"


def test_signed_in_dispatcher_map_shows_private_phones(browser, live_server: tuple[str, Connection]) -> None:
    """Signed in on /maps/login as a dispatcher, the lookup map's staff card shows the private phone
    that the public never sees; signed out, it is gone again."""
    from gridmap.storage.keys import create_key

    live, conn = live_server
    page = f"{live}/maps/lookup?lon=120.302&lat=31.502&crs=wgs84&tiles=none"
    open_page(browser, page, "gridmap.count('grid') === 1")
    assert PRIVATE_PHONE not in browser.page_source
    key = create_key(conn, "dispatcher")
    browser.get(f"{live}/maps/login?next=" + quote("/maps/lookup?lon=120.302&lat=31.502&crs=wgs84&tiles=none"))
    browser.find_element("id", "key").send_keys(key)
    browser.find_element("id", "login-submit").click()
    wait_for(browser, "location.pathname === '/maps/lookup' && window.gridmap && gridmap.count('grid') === 1")
    assert PRIVATE_PHONE in browser.page_source
    assert severe(browser) == []
    browser.get(f"{live}/maps/login")
    assert browser.find_element("id", "login-state").get_attribute("data-role") == "dispatcher"
    browser.find_element("id", "logout").click()
    wait_for(browser, "!document.getElementById('logout')")
    open_page(browser, page, "gridmap.count('grid') === 1")
    assert PRIVATE_PHONE not in browser.page_source


def test_exported_file_works_offline(browser, engine: Engine, tmp_path: Path) -> None:
    """`gridmap map coverage` output opened from disk: inlined Leaflet, no server needed."""
    from gridmap.maps import coverage_map, render_html
    from tests.test_maps import map_layers

    page = tmp_path / "coverage.html"
    page.write_text(render_html(coverage_map(map_layers()["grids"], tiles="none")), encoding="utf-8")
    open_page(browser, page.as_uri(), "gridmap.count('grids') === 3")
    assert browser.execute_script("return document.querySelectorAll('path.gm-grid').length") == 3
    assert severe(browser) == []
    assert G2 in browser.page_source and G3 in browser.page_source
