"""Cache headers, and the heavy public map pages rendered once per 30 s (see :class:`PageCache`)."""

from __future__ import annotations

import time

HEAVY_PAGES = ("/maps/coverage", "/maps/service-points")  # ~1 s of CPU and megabytes each
PUBLIC_MAX_AGE = 60  # seconds browsers and proxies may keep an anonymous map page


class PageCache:
    """Cache headers, and the heavy public map pages kept for ``ttl`` seconds.

    A request without a key or session for a ``/maps/`` page gets ``Cache-Control: public, max-age=60``
    (and ``Vary: Cookie, X-API-Key, Authorization``) on a 200, never on a redirect to the sign-in page;
    any answer to a request with a key or a session cookie gets ``private, no-store`` (it may carry private phones). The pages of
    HEAVY_PAGES asked for without a key are rendered once per ``ttl`` seconds and query string (``X-Cache:
    hit`` when served from memory): a published plan shows on them within ``ttl`` seconds.
    """

    def __init__(self, app, *, ttl: float = 30.0, size: int = 64) -> None:
        self.app, self.ttl, self.size = app, ttl, size
        self._pages: dict[tuple[str, bytes, bool], tuple[float, dict, list]] = {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        keyed = (b"x-api-key" in headers or headers.get(b"authorization", b"").lower().startswith(b"bearer ")
                 or b"gridmap_session=" in headers.get(b"cookie", b""))  # a signed-in browser: its role's page
        path, method = scope.get("path", ""), scope.get("method")
        public_page = not keyed and method in ("GET", "HEAD") and path.startswith("/maps/")
        name = (path, scope.get("query_string", b""), b"gzip" in headers.get(b"accept-encoding", b""))
        heavy = public_page and path in HEAVY_PAGES and method == "GET"
        if heavy and (hit := self._pages.get(name)) and hit[0] > time.monotonic():
            start = {**hit[1], "headers": [*hit[1]["headers"], (b"x-cache", b"hit")]}
            await send(start)
            for message in hit[2]:
                await send(message)
            return
        value = b"public, max-age=%d" % PUBLIC_MAX_AGE if public_page else b"private, no-store" if keyed else None
        kept: list = []
        start: dict = {}

        async def send_marked(message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                # only a page itself is public (not a redirect to sign-in); it varies with who asks
                if value is not None and b"cache-control" not in names and (
                        message["status"] == 200 or (keyed and message["status"] < 400)):
                    extra = [(b"cache-control", value)]
                    if public_page:
                        extra.append((b"vary", b"Cookie, X-API-Key, Authorization"))
                    message["headers"] = [*message.get("headers", []), *extra]
                start = message
            elif heavy and start.get("status") == 200:
                kept.append(message)
                if not message.get("more_body", False):
                    if len(self._pages) >= self.size:
                        self._pages.clear()
                    self._pages[name] = (time.monotonic() + self.ttl, start, kept)
            await send(message)

        await self.app(scope, receive, send_marked)
