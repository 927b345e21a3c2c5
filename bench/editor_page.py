"""Benchmark of the editor page (not a test): first paint of /maps/editor on a street of N grids.

    python bench/editor_page.py [--grids 1000] [--runs 5]

On a throwaway local cluster, the synthetic street of ``bench/edits.py`` (20 grids per community,
two compounds per grid) is served by uvicorn; Debian's headless Chromium (tests/browser.py)
opens the page with a planner key (CDP ``Network.setExtraHTTPHeaders``) and reports the time
from navigation start to the page being drawn (grids, compounds and the log loaded:
``window.gridmap.readyAt``), median of ``--runs``, and the features drawn.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grids", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    import uvicorn
    from sqlalchemy import create_engine

    from api.app import create_app
    from bench.edits import free_port, populate
    from gridmap.config import Settings
    from gridmap.storage import migrate
    from gridmap.storage.cluster import LocalCluster
    from gridmap.storage.keys import create_key
    from tests.browser import chromium, wait_for

    base = Path(tempfile.mkdtemp(prefix="gridmap-bench-editor-"))
    base.chmod(0o755)
    cluster = LocalCluster(base / "cluster", free_port(), durable=False)
    cluster.start()
    try:
        migrate.upgrade(cluster.url)
        engine = create_engine(cluster.url)
        populate(engine, args.grids, "street")
        with engine.begin() as conn:
            key = create_key(conn, "planner")
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(Settings(tiles="none"), engine=engine), host="127.0.0.1",
                                               port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        times, drawn = [], 0
        with chromium() as browser:
            browser.execute_cdp_cmd("Network.enable", {})
            browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"X-API-Key": key}})
            for _ in range(args.runs):
                browser.get(f"http://127.0.0.1:{port}/maps/editor?plan=street")
                wait_for(browser, "window.gridmap && window.gridmap.ready", timeout=60)
                times.append(browser.execute_script("return window.gridmap.readyAt"))
                drawn = browser.execute_script("return document.querySelectorAll('path.leaflet-interactive').length")
        server.should_exit = True
        thread.join(10)
        engine.dispose()
    finally:
        cluster.destroy()
    print(f"| grids | features drawn | first paint (median of {args.runs}) | min | max |")
    print("|------:|------:|------:|------:|------:|")
    print(f"| {args.grids:,} | {drawn:,} | {statistics.median(times):.0f} ms | {min(times):.0f} ms | "
          f"{max(times):.0f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
