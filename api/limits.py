"""Rate limits: a token bucket per API key, and per client address for callers without a key.

Defaults a resident never meets but a scraper does: 10 requests/s with a burst of 50 per address
without a key, 200/s with a burst of 1,000 per key (a dispatcher centre behind one key); settings
``anonymous_rate``, ``anonymous_burst``, ``key_rate``, ``key_burst``, ``rate_limits`` (off = no limit).
Above the limit: ``429 {"error": "rate_limited", "detail", "request_id"}`` with ``Retry-After``.
``/v1/health`` is never limited. The key is not checked here (that is the route's job): an unknown
key is counted on its own bucket and then refused with 401 by the route.

Buckets live in the worker's memory (with several workers each has its own, so the limit per
worker); idle buckets are dropped.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time

from fastapi.responses import JSONResponse

from gridmap.config import Settings

UNLIMITED_PATHS = ("/v1/health",)
MAX_BUCKETS = 100_000


class Buckets:
    """Token buckets by name: ``rate`` tokens a second up to ``burst``; a request takes one."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._tokens: dict[str, tuple[float, float]] = {}  # name -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, name: str, now: float | None = None) -> float:
        """0 when admitted, else the seconds until a token is back."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._tokens.get(name, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._tokens[name] = (tokens - 1, now)
                if len(self._tokens) > MAX_BUCKETS:
                    self._forget(now)
                return 0.0
            self._tokens[name] = (tokens, now)
            return (1 - tokens) / self.rate

    def _forget(self, now: float) -> None:
        """Drop buckets that are full again (idle long enough)."""
        full = self.burst / self.rate
        for name in [n for n, (_, at) in self._tokens.items() if now - at > full]:
            del self._tokens[name]


def _key_of(headers: dict[bytes, bytes]) -> str | None:
    key = headers.get(b"x-api-key", b"").decode("latin-1").strip()
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    return key or None


class RateLimit:
    """ASGI middleware applying the buckets before any route work."""

    def __init__(self, app, *, settings: Settings) -> None:
        self.app = app
        self.on = settings.rate_limits
        self.anonymous = Buckets(settings.anonymous_rate, settings.anonymous_burst)
        self.keys = Buckets(settings.key_rate, settings.key_burst)

    async def __call__(self, scope, receive, send) -> None:
        if not self.on or scope["type"] != "http" or scope.get("path") in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        key = _key_of(dict(scope.get("headers") or []))
        if key is not None:
            wait = self.keys.take(hashlib.sha256(key.encode()).hexdigest())
        else:
            client = scope.get("client") or ("unknown", 0)
            wait = self.anonymous.take(str(client[0]))
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry = max(1, math.ceil(wait))
        rid = scope.get("state", {}).get("request_id")
        who = "this API key" if key else "this address (no API key)"
        body = {"error": "rate_limited", "request_id": rid,
                "detail": f"请求过于频繁，请 {retry} 秒后重试 (too many requests from {who}; retry after {retry} s)"}
        await JSONResponse(body, status_code=429, headers={"Retry-After": str(retry)})(scope, receive, send)
