"""A truthful OpenAPI document and documentation pages that work offline.

FastAPI describes its own validation error shape (``HTTPValidationError``) and no other error; this
API answers every error as ``{"error", "detail", …}`` (api/errors.py). :func:`install` rewrites the
generated document so each operation lists the statuses it can really give with that schema, and
declares how callers authenticate (``X-API-Key``, ``Authorization: Bearer`` or the browser session
cookie). ``/docs`` (Swagger UI) and ``/redoc`` load their scripts from the vendored copies under
``/maps/static/docs`` (gridmap/maps/static/docs/README.md), never from a CDN.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse

__all__ = ["allowed_methods", "install"]

DOCS_STATIC = "/maps/static/docs"
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "a stable code, e.g. invalid_input, not_found, forbidden, "
                                                   "stale_version, precondition_required"},
        "detail": {"type": "string", "description": "what is wrong, Chinese and/or English"},
        "request_id": {"type": "string", "description": "the request's id, as logged (server errors)"},
        "current": {"type": "string", "description": "412: the resource's ETag now"},
        "nearest": {"type": "object", "description": "404 of a lookup: the nearest grid"},
        "issues": {"type": "array", "items": {"type": "object"}, "description": "an import file's problems"},
    },
    "additionalProperties": True,
}
WHY = {
    400: "bad request (e.g. a malformed body)",
    401: "API key or session unknown, revoked or expired",
    403: "the caller's role may not do this (or a cross-site request of a signed-in browser)",
    404: "not found",
    405: "method not allowed (the Allow header lists the methods)",
    409: "conflict with the current state (e.g. a plan that cannot be published, a generation conflict)",
    412: "If-Match names a version that is no longer current (stale_version; `current` has the ETag now)",
    413: "request body too large",
    422: "invalid input: the detail names the parameter or field and the problem",
    423: "locked by another editor",
    428: "this change needs If-Match with the ETag you read (precondition_required)",
    429: "too many requests (Retry-After says when to try again)",
    500: "internal error (logged with the request id)",
    503: "database unavailable (Retry-After)",
}
EVERY = (401, 403, 422, 429, 500, 503)
CHANGES = {"post", "put", "patch", "delete"}


def install(app: FastAPI) -> None:
    """Serve the rewritten document at /openapi.json and the offline /docs and /redoc pages."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            raw = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = truthful(raw)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} · API",
                                   swagger_js_url=f"{DOCS_STATIC}/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_STATIC}/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_STATIC}/swagger-ui/favicon-32x32.png",
                                   swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True})

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} · API",
                              redoc_js_url=f"{DOCS_STATIC}/redoc/redoc.standalone.js",
                              redoc_favicon_url=f"{DOCS_STATIC}/swagger-ui/favicon-32x32.png",
                              with_google_fonts=False)


def truthful(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the real error shape and statuses on every operation, and the security schemes."""
    out = copy.deepcopy(schema)
    components = out.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                   "description": "an API key (gridmap keys create ROLE); no key = the public role"},
        "Bearer": {"type": "http", "scheme": "bearer", "description": "the same key as a bearer token"},
        "Session": {"type": "apiKey", "in": "cookie", "name": "gridmap_session",
                    "description": "a browser signed in with POST /v1/session (same-origin changes only)"},
    }
    out["security"] = [{}, {"ApiKey": []}, {"Bearer": []}, {"Session": []}]
    for path, item in out.get("paths", {}).items():
        for method, op in item.items():
            if isinstance(op, dict) and "responses" in op:
                _statuses(path, method, op)
    return out


def _statuses(path: str, method: str, op: dict[str, Any]) -> None:
    params = {p.get("name", "").lower(): p for p in op.get("parameters", [])}
    if_match = params.get("if-match")
    if if_match is not None and "428 without" in if_match.get("description", ""):
        if_match["required"] = True  # declared optional so that a missing one is our 428, not a 422
    codes = set(EVERY)
    if "{" in path or "plan" in params or path.endswith("/staff") and method == "get":
        codes.add(404)
    if method in CHANGES:
        codes |= {400, 409, 413}
    if "if-match" in params:
        codes |= {412, 428}
    if path.startswith("/v1/plans/") or path.startswith("/v1/generations/rollback") or "plan" in params:
        codes.add(409)
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for code in sorted(codes):
        key = str(code)
        entry = op["responses"].get(key)
        if entry is None or code == 422:
            op["responses"][key] = {"description": WHY[code], "content": ref}
    for key, entry in op["responses"].items():
        if key.isdigit() and int(key) >= 400:
            entry["content"] = ref


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the documented operations of ``path`` answer (for a 405's Allow header)."""
    found: set[str] = set()
    for template, item in app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\{[^/]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            found |= {m.upper() for m in item if m in ("get", "post", "put", "patch", "delete")}
    if "GET" in found:
        found.add("HEAD")
    return sorted(found)
