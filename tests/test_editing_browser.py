"""The plan editor in a real browser (Debian's headless Chromium via selenium).

A live uvicorn server runs the app on the tiny district with one more compound, inside one
rolled-back transaction. The planner's key is sent on every request (CDP
``Network.setExtraHTTPHeaders``, as a signed-in browser would send its cookie); a move changes
the displayed counts, undo restores them; without a key the page is refused; split then merge
change the grids shown, and the diff toggle against the published copy hatches the moved compound.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from selenium.webdriver.common.by import By
from shapely.geometry import box
from sqlalchemy import Engine

from tests.browser import chromium, screenshot, severe, wait_for
from tests.live import live_uvicorn
from tests.overrides import nested_conn
from tests.tiny import tiny_layers, write_tiny

pytestmark = pytest.mark.browser
WEST, EAST = "320214050001", "320214050002"
W1, W2, E1 = f"{WEST}001", f"{WEST}002", f"{EAST}001"



def load(conn, folder: Path) -> None:
    """Tiny with compound C4 (100 households) north of C1; draft 'draft': the west community in
    two halves (C1 + C4 | C2), the east one grid; the same grids published as 'base' (the current
    generation the diff toggle compares with)."""
    from gridmap.storage import plans
    from gridmap.storage.grids import write_plan
    from gridmap.storage.load import import_file

    layers = tiny_layers()
    extra = gpd.GeoDataFrame([{"id": "C4", "name": "北岸小区", "community_code": WEST, "households": 100,
                               "geometry": box(120.301, 31.506, 120.304, 31.509), "provenance": "synthetic: test"}],
                             geometry="geometry", crs=4490)
    layers["compounds"] = pd.concat([layers["compounds"], extra], ignore_index=True)
    import_file(conn, write_tiny(folder / "tiny.gpkg", layers))
    grids = gpd.GeoDataFrame([
        {"code": W1, "name": "新光社区第1网格", "community_code": WEST, "households": 420,
         "geometry": box(120.30, 31.50, 120.3045, 31.51)},
        {"code": W2, "name": "新光社区第2网格", "community_code": WEST, "households": 410,
         "geometry": box(120.3045, 31.50, 120.31, 31.51)},
        {"code": E1, "name": "春雷社区第1网格", "community_code": EAST, "households": 350,
         "geometry": box(120.31, 31.50, 120.32, 31.51)}], crs=4490)
    members = pd.DataFrame([(W1, "C1", None, 320), (W1, "C4", None, 100), (W2, "C2", None, 410),
                            (E1, "C3", None, 350)], columns=["grid_code", "compound_id", "building_id", "households"])
    write_plan(conn, "base", grids, members, [WEST, EAST], {"violations": []})
    plans.publish(conn, "base", created_by="test", force=True, reason="test: unstaffed")
    write_plan(conn, "draft", grids, members, [WEST, EAST], {"violations": []})


@pytest.fixture(scope="module")
def live(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """(base URL, planner key, another planner's key) of a uvicorn server whose requests share one rolled-back transaction."""
    from api.app import create_app
    from api.deps import get_conn
    from gridmap.config import Settings
    from gridmap.storage.keys import create_key

    conn = engine.connect()
    trans = conn.begin()
    load(conn, tmp_path_factory.mktemp("editor-browser"))
    key = create_key(conn, "planner")
    second = create_key(conn, "planner")  # another planner
    app = create_app(Settings(tiles="none"), engine=engine)
    app.dependency_overrides[get_conn] = nested_conn(conn, threading.Lock())
    try:
        with live_uvicorn(app) as url:
            yield url, key, second
    finally:
        trans.rollback()
        conn.close()


def shown(browser, code: str) -> str | None:
    return browser.execute_script(
        f"const c = document.querySelector('tr[data-code=\"{code}\"] td.households'); return c && c.textContent")


def test_anonymous_callers_are_refused(live) -> None:
    url, _, _ = live
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{url}/maps/editor?plan=draft")
    assert refused.value.code == 403


def test_a_move_changes_the_counts_and_undo_restores_them(live, tmp_path: Path) -> None:
    url, key, _ = live
    with chromium() as browser:
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"X-API-Key": key}})
        browser.get(f"{url}/maps/editor?plan=draft")
        wait_for(browser, "window.gridmap && window.gridmap.ready && window.gridmap.pending() === 0")
        assert (shown(browser, W1), shown(browser, W2)) == ("420", "410")
        assert browser.execute_script("return document.querySelectorAll('path.leaflet-interactive').length") >= 7
        browser.execute_script("window.gridmap.select('C4')")
        browser.find_element(By.CSS_SELECTOR, f'tr[data-code="{W2}"]').click()
        assert browser.find_element(By.ID, "target").text == W2
        browser.find_element(By.ID, "move").click()
        wait_for(browser, f"document.querySelector('tr[data-code=\"{W2}\"] td.households').textContent === '510'")
        wait_for(browser, "window.gridmap.pending() === 0")
        assert shown(browser, W1) == "320"
        message = browser.find_element(By.ID, "message").text
        assert "已保存 v3" in message and "规则提示" in message and "510 households > max 500" in message
        wait_for(browser, "document.querySelectorAll('#log li').length === 2")  # the partition's write, the move
        assert "移动" in browser.find_element(By.ID, "log").text
        browser.find_element(By.ID, "undo").click()
        wait_for(browser, f"document.querySelector('tr[data-code=\"{W2}\"] td.households').textContent === '410'")
        wait_for(browser, "window.gridmap.pending() === 0")
        assert shown(browser, W1) == "420"
        wait_for(browser, "document.querySelectorAll('#log li').length === 3")
        assert "撤销" in browser.find_element(By.ID, "log").text
        assert [m for m in severe(browser) if "favicon" not in m] == []
        assert screenshot(browser, tmp_path / "editor.png")["variance"] > 50


def post(url: str, key: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"X-API-Key": key, "If-Match": "*", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def test_a_second_planner_sees_the_lease_message(live) -> None:
    url, key, second = live
    post(f"{url}/v1/plans/draft/edits", key, {"op": "move", "compounds": ["C4"], "to": W2})  # leases W1, W2
    with chromium() as browser:
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"X-API-Key": second}})
        browser.get(f"{url}/maps/editor?plan=draft")
        wait_for(browser, "window.gridmap && window.gridmap.ready && window.gridmap.pending() === 0")
        assert shown(browser, W2) == "510"
        browser.execute_script("window.gridmap.select('C4')")
        browser.find_element(By.CSS_SELECTOR, f'tr[data-code="{W1}"]').click()
        browser.find_element(By.ID, "move").click()
        wait_for(browser, "document.getElementById('message').className === 'leased'")
        message = browser.find_element(By.ID, "message").text
        assert "正由 planner:" in message and "编辑" in message
        assert shown(browser, W2) == "510"  # nothing changed
    post(f"{url}/v1/plans/draft/undo", key, {})


def rows(browser) -> list[str]:
    return browser.execute_script("return [...document.querySelectorAll('#grids tbody tr')].map(r => r.dataset.code)")


def test_split_merge_and_the_diff_toggle(live, tmp_path: Path) -> None:
    """拆分 C4 off W1 → a new grid shown (4 rows); 合并 it back → 3 rows; a move of C4 to W2, then
    与现行对比 outlines W1 and W2 and hatches C4; unticking clears it."""
    url, key, _ = live
    with chromium() as browser:
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"X-API-Key": key}})
        browser.get(f"{url}/maps/editor?plan=draft")
        wait_for(browser, "window.gridmap && window.gridmap.ready && window.gridmap.pending() === 0")
        assert rows(browser) == [W1, W2, E1]
        assert browser.find_element(By.ID, "split").get_attribute("disabled")
        # the diff against the published copy is empty at first
        browser.find_element(By.ID, "diff").click()
        wait_for(browser, "window.gridmap.pending() === 0 && window.gridmap.diff() !== null")
        assert browser.execute_script("return window.gridmap.diff()") == {"grids": [], "compounds": []}
        browser.find_element(By.ID, "diff").click()
        assert browser.execute_script("return window.gridmap.diff()") is None

        browser.execute_script("window.gridmap.select('C4')")
        browser.find_element(By.ID, "split").click()
        wait_for(browser, "window.gridmap.pending() === 0 && document.querySelectorAll('#grids tbody tr').length === 4")
        codes = rows(browser)
        new = next(c for c in codes if c not in (W1, W2, E1))
        assert new.startswith(WEST) and new > W2
        assert (shown(browser, W1), shown(browser, new)) == ("320", "100")
        assert "拆分" in browser.find_element(By.ID, "log").text

        for code in (W1, new):
            browser.find_element(By.CSS_SELECTOR, f'tr[data-code="{code}"] input.merge').click()
        assert browser.find_element(By.ID, "target").text == "无"  # ticking is not choosing a target
        browser.find_element(By.ID, "merge").click()
        wait_for(browser, "window.gridmap.pending() === 0 && document.querySelectorAll('#grids tbody tr').length === 3")
        assert rows(browser) == [W1, W2, E1]
        assert shown(browser, W1) == "420"
        assert "合并" in browser.find_element(By.ID, "log").text

        browser.execute_script("window.gridmap.select('C4')")
        browser.find_element(By.CSS_SELECTOR, f'tr[data-code="{W2}"]').click()
        browser.find_element(By.ID, "move").click()
        wait_for(browser, f"document.querySelector('tr[data-code=\"{W2}\"] td.households').textContent === '510'")
        wait_for(browser, "window.gridmap.pending() === 0")
        browser.find_element(By.ID, "diff").click()
        wait_for(browser, "window.gridmap.pending() === 0 && window.gridmap.diff() !== null")
        shown_diff = browser.execute_script("return window.gridmap.diff()")
        assert shown_diff["compounds"] == ["C4"]
        assert set(shown_diff["grids"]) >= {W1, W2} and E1 not in shown_diff["grids"]
        assert "移动小区 1" in browser.find_element(By.ID, "diffinfo").text
        assert browser.execute_script(f"return document.querySelector('tr[data-code=\"{W2}\"]').classList.contains('changed')")
        assert browser.execute_script("return document.querySelectorAll('path[fill=\"url(#moved-hatch)\"]').length") == 1
        # the changed grids but the target W2 (outlined black) and the hatched compound have the diff's stroke
        outlined = len(set(shown_diff["grids"]) - {W2}) + 1
        assert browser.execute_script("return document.querySelectorAll('path[stroke=\"#7a0177\"]').length") == outlined
        assert [m for m in severe(browser) if "favicon" not in m] == []
        assert screenshot(browser, tmp_path / "editor-diff.png")["variance"] > 50
        browser.find_element(By.ID, "diff").click()
        assert browser.execute_script("return document.querySelectorAll('path[fill=\"url(#moved-hatch)\"]').length") == 0
