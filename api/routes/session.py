"""Browser sessions: sign in with an API key (``POST /v1/session``), sign out (``DELETE``), the sign-in page.

The cookie ``gridmap_session`` is HttpOnly, SameSite=Strict (Secure over https) and holds a random id
whose hash the server keeps (``api_session``) with the key it was opened with; revoking the key ends
it at once. A cookie-authenticated change must come from this origin (api.deps.session_of).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from api.deps import SESSION_COOKIE, ConnDep, SettingsDep, api_key_of, require_same_origin
from gridmap.errors import InvalidInput, Unauthorized
from gridmap.maps.login import login_page, safe_next
from gridmap.storage import keys

router = APIRouter(tags=["session"])
FORM = "application/x-www-form-urlencoded"
MAX_KEY = 200

SESSION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {
                "type": "object", "required": ["key"], "additionalProperties": False,
                "properties": {"key": {"type": "string", "minLength": 1, "maxLength": MAX_KEY,
                                       "description": "an API key (dispatcher, planner or admin)"}}}},
            FORM: {"schema": {
                "type": "object", "required": ["key"],
                "properties": {"key": {"type": "string", "minLength": 1, "maxLength": MAX_KEY},
                               "next": {"type": "string", "maxLength": 2000,
                                        "description": "a path on this server to go to (form only)"}}}},
        },
    }
}


@router.post("/v1/session", openapi_extra=SESSION_BODY,
             responses={200: {"description": "signed in (JSON): the role and the session's lifetime"},
                        303: {"description": "signed in (form): on to `next`"}})
async def sign_in(request: Request, conn: ConnDep, settings: SettingsDep) -> Response:
    """Sign a browser in with an API key: sets the HttpOnly session cookie. JSON ``{"key": …}`` answers
    JSON; the /maps/login form is sent on to its ``next`` (a wrong key shows the page again, 401)."""
    _refuse_cross_site(request)
    is_form = request.headers.get("content-type", "").split(";")[0].strip().lower() == FORM
    key, next_url = await (_form(request) if is_form else _json_key(request))
    ttl = settings.session_hours * 3600
    try:
        session_id, role = keys.open_session(conn, key, ttl_s=ttl)
    except Unauthorized as exc:
        if is_form:
            page = login_page(next_url=next_url, error="密钥无效或已吊销 / key unknown or revoked")
            return HTMLResponse(page, status_code=401)
        raise exc
    if role == "public":  # a public key signs in nobody
        raise Unauthorized("a public key needs no sign-in")
    if is_form:
        response: Response = RedirectResponse(safe_next(next_url), status_code=303)
    else:
        response = JSONResponse({"role": role, "expires_in": int(ttl)})
    response.set_cookie(SESSION_COOKIE, session_id, max_age=int(ttl), path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.delete("/v1/session", status_code=204, responses={204: {"description": "signed out"}})
def sign_out(request: Request, conn: ConnDep) -> Response:
    """Sign out: the session ends on the server and the cookie is cleared (same origin only)."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        require_same_origin(request)
        keys.close_session(conn, session)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response


@router.get("/maps/login", response_class=HTMLResponse, tags=["maps"])
def login(request: Request, conn: ConnDep,
          next: Annotated[str | None, Query(max_length=2000, description="path to go to after signing in")] = None,
          ) -> HTMLResponse:
    """The sign-in page (登录): an API key field; a signed-in browser is told its role and may sign out."""
    role = None
    session = request.cookies.get(SESSION_COOKIE)
    if session and not api_key_of(request):
        try:
            role = keys.role_for_session(conn, session)
        except Unauthorized:
            role = None
    return HTMLResponse(login_page(next_url=next, role=role))


def _refuse_cross_site(request: Request) -> None:
    """Signing in from another site's page is refused (login CSRF); clients without browser headers pass."""
    if request.headers.get("origin") is not None or request.headers.get("sec-fetch-site") not in (None, "none"):
        require_same_origin(request)


async def _json_key(request: Request) -> tuple[str, None]:
    try:
        data = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("body: send JSON {\"key\": \"gm_…\"} or the /maps/login form") from None
    if not isinstance(data, dict) or not isinstance(data.get("key"), str):
        raise InvalidInput("key: required, a string (your API key) / 请提供 API 密钥")
    return _checked(data["key"]), None


async def _form(request: Request) -> tuple[str, str | None]:
    form = await request.form(max_files=0, max_fields=10)
    key, next_url = form.get("key"), form.get("next")
    if not isinstance(key, str):
        raise InvalidInput("key: required (your API key) / 请提供 API 密钥")
    return _checked(key), next_url if isinstance(next_url, str) else None


def _checked(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY or any(ord(ch) < 32 for ch in key):
        raise InvalidInput(f"key: 1 to {MAX_KEY} printable characters / 密钥格式不正确")
    return key
