"""The OpenAPI document tells the truth, and /docs and /redoc work with no network."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.browser import chromium, severe, wait_for


@pytest.fixture(scope="module")
def schema() -> dict:
    from api.app import create_app

    return TestClient(create_app()).get("/openapi.json").json()


def operations(schema: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in schema["paths"].items():
        for method, op in item.items():
            yield path, method, op


def test_every_operation_documents_the_real_error_shape(schema) -> None:
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert schema["components"]["schemas"]["Error"]["required"] == ["error", "detail"]
    for path, method, op in operations(schema):
        for code in ("401", "403", "422", "500", "503"):
            content = op["responses"][code]["content"]["application/json"]["schema"]
            assert content == {"$ref": "#/components/schemas/Error"}, (path, method, code)
        if "{" in path:
            assert "404" in op["responses"], (path, method)
    for path in ("/v1/staff/{staff_id}", "/v1/posts/{post_id}"):
        for method in ("patch", "delete"):
            op = schema["paths"][path][method]
            assert {"412", "428"} <= set(op["responses"])
            assert [p["required"] for p in op["parameters"] if p["name"].lower() == "if-match"] == [True]
    assert "409" in schema["paths"]["/v1/plans/{plan}/publish"]["post"]["responses"]


def test_security_schemes_and_required_parameters(schema) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["Session"]["in"] == "cookie" and schemes["Bearer"]["scheme"] == "bearer"
    assert {} in schema["security"] and {"ApiKey": []} in schema["security"]  # a key is optional (public)
    bbox = [p for p in schema["paths"]["/maps/data/grids"]["get"]["parameters"] if p["name"] == "bbox"]
    assert bbox[0]["required"] is True
    session = schema["paths"]["/v1/session"]["post"]["requestBody"]
    assert session["required"] is True and set(session["content"]) == {
        "application/json", "application/x-www-form-urlencoded"}


def test_405_says_allow(client) -> None:
    r = client.put("/v1/health")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    r = client.put("/v1/staff/H1")
    assert r.status_code == 405
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "PATCH", "DELETE"}


def test_docs_pages_reference_only_local_assets(client) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        urls = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert urls and all(u.startswith("/maps/static/docs/") for u in urls), (page, urls)
        assert "https://" not in html and "http://" not in html, page
        for url in urls:
            assert client.get(url).status_code == 200, url
    assert "fonts.googleapis" not in client.get("/redoc").text


@pytest.mark.browser
def test_docs_render_in_chromium_without_network(engine: Engine) -> None:
    """Swagger UI draws every operation and ReDoc its menu from the vendored assets alone
    (Chromium here has no internet: any CDN request would fail and log a SEVERE error)."""
    import uvicorn

    from api.app import create_app
    from gridmap.config import Settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(Settings(), engine=engine), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        with chromium() as browser:
            browser.get(f"http://127.0.0.1:{port}/docs")
            count = wait_for(browser, "document.querySelectorAll('.opblock').length", timeout=30)
            assert count >= 25
            assert wait_for(browser, "!!document.querySelector('.btn.authorize')")  # the security scheme
            assert severe(browser) == []
            browser.get(f"http://127.0.0.1:{port}/redoc")
            assert wait_for(browser, "document.querySelectorAll('[role=menuitem], li[data-item-id]').length",
                            timeout=30) > 10
            assert severe(browser) == []
    finally:
        server.should_exit = True
        thread.join(10)
