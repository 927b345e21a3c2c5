"""One table from domain errors to HTTP statuses; every error is JSON {"error", "detail"}.

One answer that is not an error shares the shape: an ambiguous address (300 Multiple Choices) carries
``error: "ambiguous"`` and a detail, so a client that shows ``detail`` for any non-2xx still says
something true, plus the grids to choose from (``api.models.AmbiguousAnswer``).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridmap import errors as e

STATUS: dict[type[e.GridmapError], int] = {
    e.InvalidInput: 422,
    e.UnknownCRS: 422,
    e.OutOfRange: 422,
    e.InvalidFile: 422,
    e.InvalidBoundary: 422,
    e.NotFound: 404,
    e.AddressNotFound: 404,
    e.NoCoveringGrid: 404,
    e.AmbiguousLocation: 300,
    e.PlanError: 409,
    e.Unauthorized: 401,
    e.Forbidden: 403,
    e.DatabaseUnavailable: 503,
    e.PreconditionRequired: 428,
    e.StaleVersion: 412,
    e.Leased: 423,
    e.InvalidTransition: 409,
}


def status_of(exc: e.GridmapError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def body(exc: e.GridmapError) -> dict:
    out = {"error": exc.code, "detail": exc.detail}
    nearest = getattr(exc, "nearest", None)
    if nearest:
        out["nearest"] = nearest
    issues = getattr(exc, "issues", None)
    if issues:  # an import file's problems, each with layer, feature, column, value, problem, severity
        out["issues"] = [i.as_dict() for i in issues]
        out["issues_omitted"] = exc.omitted
    for name in ("current", "holder", "until"):  # StaleVersion's ETag now, Leased's holder
        value = getattr(exc, name, None)
        if value is not None:
            out[name] = value
    choices = getattr(exc, "choices", None)
    if choices:
        out.update(choices)
    return out


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into the JSON shape above."""

    @app.exception_handler(e.GridmapError)
    async def domain_error(_: Request, exc: e.GridmapError) -> JSONResponse:
        return JSONResponse(body(exc), status_code=status_of(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        return JSONResponse({"error": "invalid_input", "detail": "; ".join(parts)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # Allow: every method the path answers, over all its routes
            from api.openapi import allowed_methods

            methods = allowed_methods(request.app, request.url.path)
            if methods:
                headers["Allow"] = ", ".join(methods)
        return JSONResponse({"error": code, "detail": str(exc.detail)}, status_code=exc.status_code,
                            headers=headers or None)
