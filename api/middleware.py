"""The edge of the API: one error path and input checks before any route (or key check) runs.

:class:`Edge` is a pure ASGI middleware, outermost after Starlette's own:

* every response carries ``X-Request-ID`` (the caller's, when it is short and plain, else a new one);
* an unhandled exception is logged with its traceback and the request id and answered
  ``500 {"error": "internal", "detail", "request_id"}`` (JSON, keep-alive kept);
* a body larger than ``settings.max_body_bytes`` is refused with 413 — from ``Content-Length`` at
  once, or while it streams in — before it is parsed and before any key is looked up;
* NUL and other control characters in the path or the query string, over-long query values, JSON
  bodies nested deeper than ``MAX_JSON_DEPTH`` and JSON strings with control characters or longer
  than ``MAX_JSON_STRING`` are refused with 422 naming the field.

:func:`install` adds it (with the rate limits of :mod:`api.limits`, the page cache of :mod:`api.caching`
and gzip) and the handlers that
turn an unreachable or overloaded database into ``503`` with ``Retry-After``.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.middleware.gzip import GZipMiddleware

from gridmap.errors import DatabaseUnavailable
from gridmap.storage.db import UNAVAILABLE

log = logging.getLogger("gridmap.api")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
MAX_JSON_DEPTH = 32
MAX_JSON_STRING = 65_536  # characters in one JSON string
MAX_QUERY_VALUE = 4_096  # characters in one query parameter
RETRY_DB = 5  # seconds: Retry-After while the database is away
RETRY_BUSY = 1  # seconds: Retry-After when the connection pool is saturated
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


class BodyTooLarge(Exception):
    pass


class Refused(Exception):
    """An input the edge refuses: status, error code and detail."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # Cc but tab, newline, return


def _control(text: str, pattern: re.Pattern = _CONTROL) -> str | None:
    """The first control character of ``text``, if any."""
    m = pattern.search(text)
    return m.group() if m else None


def check_target(path: str, query: bytes) -> None:
    """Refuse control characters in the path and the query, and over-long query values."""
    if (ch := _control(path)) is not None:
        raise Refused(422, "invalid_input", f"路径含控制字符 (the path contains the control character {ch!r})")
    try:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise Refused(422, "invalid_input", "查询参数不是 UTF-8 (the query string is not UTF-8)") from None
    for name, value in pairs:
        if (ch := _control(name + value)) is not None:
            raise Refused(422, "invalid_input",
                          f"参数 {name!r} 含控制字符 (query parameter {name!r} contains the control character {ch!r})")
        if len(value) > MAX_QUERY_VALUE:
            raise Refused(422, "invalid_input", f"参数 {name!r} 过长 (query parameter {name!r} has {len(value)} "
                                                f"characters; at most {MAX_QUERY_VALUE})")


def check_json(raw: bytes) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH, or with bad strings; malformed JSON is left to the route."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Refused(422, "invalid_input", "请求体不是 UTF-8 (the JSON body is not UTF-8)") from None
    depth = 0
    for m in _TOKENS.finditer(text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise Refused(422, "invalid_input", f"JSON 嵌套过深 (the JSON body is nested deeper than "
                                                    f"{MAX_JSON_DEPTH} levels)")
        elif tok in "]}":
            depth -= 1
    try:
        value = json.loads(text)
    except ValueError:
        return  # the route says what is wrong with it
    _check_strings(value, "body")


def _check_strings(value: Any, where: str) -> None:
    stack = [(value, where)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                _check_string(k, f"{at} (a key)")
                stack.append((v, f"{at}.{k}"))
        elif isinstance(item, list):
            stack.extend((v, f"{at}[{i}]") for i, v in enumerate(item))
        elif isinstance(item, str):
            _check_string(item, at)


def _check_string(text: str, at: str) -> None:
    if (ch := _control(text, _CONTROL_IN_TEXT)) is not None:
        raise Refused(422, "invalid_input", f"字段 {at} 含控制字符 (field {at} contains the control character {ch!r})")
    if len(text) > MAX_JSON_STRING:
        raise Refused(422, "invalid_input", f"字段 {at} 过长 (field {at} has {len(text)} characters; at most "
                                            f"{MAX_JSON_STRING})")


def _is_json(headers: dict[bytes, bytes]) -> bool:
    kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    return kind == b"application/json" or kind.endswith(b"+json")


def _error(status: int, code: str, detail: str, request_id: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail, "request_id": request_id}, status_code=status,
                        headers=headers)


class Edge:
    """Request ids, the catch-all 500, the body limit and input checks (see the module text)."""

    def __init__(self, app, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = False
        too_large = [False]  # set when the body passes the limit while streaming

        async def send_with_id(message) -> None:
            nonlocal started
            if too_large[0] and not started:  # whatever the route made of the cut body, the answer is 413
                started = True
                await self._too_large(request_id)(scope, receive, send_with_id_raw)
                return
            if too_large[0]:
                return
            await send_with_id_raw(message)

        async def send_with_id_raw(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            check_target(scope.get("path", ""), scope.get("query_string", b""))
            receive = await self._checked_body(headers, receive, too_large)
            await self.app(scope, receive, send_with_id)
        except Refused as exc:
            if not started:
                await _error(exc.status, exc.code, exc.detail, request_id)(scope, receive, send_with_id_raw)
        except BodyTooLarge:
            if not started:
                await self._too_large(request_id)(scope, receive, send_with_id_raw)
        except Exception:
            log.exception("request %s %s %s failed", request_id, scope.get("method"), scope.get("path"))
            if not started:
                detail = f"服务器内部错误，请联系管理员并提供 request_id {request_id} (internal server error)"
                await _error(500, "internal", detail, request_id)(scope, receive, send_with_id_raw)

    def _too_large(self, request_id: str) -> JSONResponse:
        return _error(413, "body_too_large", f"请求体超过 {self.max_body} 字节 (the request body is larger than "
                                             f"{self.max_body} bytes; settings.max_body_bytes)", request_id)

    async def _checked_body(self, headers: dict[bytes, bytes], receive, too_large: list[bool]):
        """``receive`` limited to max_body bytes; a JSON body read whole, checked and replayed."""
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                raise Refused(400, "invalid_input", "Content-Length is not a number")
            if int(length) > self.max_body:
                raise BodyTooLarge()
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    too_large[0] = True
                    raise BodyTooLarge()
            return message

        if not _is_json(headers):
            return limited
        chunks, more = [], True
        while more:
            message = await limited()
            if message["type"] != "http.request":
                return receive  # the client went away
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        if raw:
            check_json(raw)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        return replay


def _unavailable(request: Request, detail: str) -> JSONResponse:
    rid = getattr(request.state, "request_id", None)
    return JSONResponse({"error": "database_unavailable", "detail": detail, "request_id": rid}, status_code=503,
                        headers={"Retry-After": str(RETRY_DB)})


def install(app: FastAPI) -> None:
    """The edge middleware (with rate limits and gzip) and the 503 handlers for database trouble."""
    from api.caching import PageCache
    from api.limits import RateLimit
    from api.pool import Overloaded

    settings = app.state.settings

    async def database_away(request: Request, exc: Exception) -> JSONResponse:
        detail = exc.detail if isinstance(exc, DatabaseUnavailable) else type(exc).__name__
        log.warning("request %s: database unavailable: %s", getattr(request.state, "request_id", None), exc)
        return _unavailable(request, f"数据库暂时不可用，请稍后重试 (the database is unavailable: {detail})")

    for cls in UNAVAILABLE:
        app.add_exception_handler(cls, database_away)

    async def overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        rid = getattr(request.state, "request_id", None)
        return JSONResponse({"error": "overloaded", "detail": str(exc), "request_id": rid}, status_code=503,
                            headers={"Retry-After": str(RETRY_BUSY)})

    app.add_exception_handler(Overloaded, overloaded)

    async def bad_data(request: Request, exc: DataError) -> JSONResponse:
        rid = getattr(request.state, "request_id", None)
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig else "invalid value"
        return JSONResponse({"error": "invalid_input", "detail": f"数据库拒绝了输入值 (the database refused a "
                             f"value: {detail})", "request_id": rid}, status_code=422)

    app.add_exception_handler(DataError, bad_data)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(PageCache)  # api/caching.py
    app.add_middleware(RateLimit, settings=settings)
    app.add_middleware(Edge, max_body_bytes=settings.max_body_bytes)
