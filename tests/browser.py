"""A small selenium helper: Debian's headless Chromium, console errors, waits, screenshots, timings.

Never downloads a browser: the driver is /usr/bin/chromedriver and the
binary /usr/bin/chromium (or GRIDMAP_CHROMIUM / GRIDMAP_CHROMEDRIVER).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = os.environ.get("GRIDMAP_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("GRIDMAP_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,860", "--lang=zh-CN")


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """A headless Chromium with browser console logging, quit at the end."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="gridmap-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def severe(driver: webdriver.Chrome) -> list[str]:
    """Console messages at SEVERE level since the last call (JS errors, failed loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def wait_for(driver: webdriver.Chrome, script: str, timeout: float = 15.0) -> Any:
    """Poll ``return <script>`` until it is truthy; raise with the last value on timeout."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return {script}")
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {script!r} (last value {value!r})")


_VARIANCE_JS = """
const [b64, done] = arguments;
const img = new Image();
img.onload = () => {
  const c = document.createElement('canvas');
  c.width = img.width; c.height = img.height;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let n = 0, sum = 0, sq = 0;
  for (let i = 0; i < d.length; i += 4 * 7) {  // every 7th pixel is plenty
    const g = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    n += 1; sum += g; sq += g * g;
  }
  const mean = sum / n;
  done({variance: sq / n - mean * mean, width: c.width, height: c.height});
};
img.onerror = () => done({variance: -1});
img.src = 'data:image/png;base64,' + b64;
"""


def screenshot(driver: webdriver.Chrome, path: str | os.PathLike | None = None) -> dict[str, float]:
    """Take a screenshot (saved to ``path`` if given) and measure its grey-level variance in the browser."""
    b64 = driver.get_screenshot_as_base64()
    if path is not None:
        driver.get_screenshot_as_file(str(path))
    return driver.execute_async_script(_VARIANCE_JS, b64)


_TIMING_JS = """
const nav = performance.getEntriesByType('navigation')[0];
const res = performance.getEntriesByType('resource');
const fetched = res.filter(r => r.initiatorType === 'fetch');
return {
  html_bytes: nav.decodedBodySize,
  transfer_bytes: nav.transferSize + res.reduce((s, r) => s + (r.transferSize || 0), 0),
  assets_bytes: res.filter(r => r.initiatorType !== 'fetch').reduce((s, r) => s + (r.decodedBodySize || 0), 0),
  fetched_bytes: fetched.reduce((s, r) => s + (r.decodedBodySize || 0), 0),
  dom_content_loaded_ms: nav.domContentLoadedEventEnd,
  load_ms: nav.loadEventEnd,
  last_fetch_ms: fetched.reduce((m, r) => Math.max(m, r.responseEnd), 0),
};
"""


def timings(driver: webdriver.Chrome) -> dict[str, float]:
    """Page weight and load times from the Navigation and Resource Timing APIs."""
    return driver.execute_script(_TIMING_JS)


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.browser URL OUT.png [--ready JS]``: load a page, wait, report, screenshot.

    Used to make the README screenshots in docs/ from a running server.
    """
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--ready", default="true", help="JS expression true once the page is drawn")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    with chromium() as driver:
        driver.get(args.url)
        wait_for(driver, f"window.gridmap && ({args.ready})", args.timeout)
        wait_for(driver, "window.gridmap.pending() === 0", args.timeout)
        report = {"url": args.url, **timings(driver), "severe": severe(driver), **screenshot(driver, args.out)}
    print(json.dumps(report, ensure_ascii=False))
    return 1 if report["severe"] or report["variance"] <= 0 else 0


if __name__ == "__main__":
    raise SystemExit(main())
