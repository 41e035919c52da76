"""/docs is Swagger UI served from this server (node_modules/swagger-ui-dist), so it works
offline and under a strict Content-Security-Policy; without those files it points to
/openapi.json instead of showing a blank page."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import api.main
from api.main import create_app
from ledger.settings import Settings


def test_docs_page_loads_swagger_ui_from_this_server(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<script src="/static/swagger/swagger-ui-bundle.js"></script>' in page
    assert 'href="/static/swagger/swagger-ui.css"' in page
    assert 'href="/static/swagger/favicon-32x32.png"' in page
    assert "url: '/openapi.json'" in page
    assert "https://" not in page  # nothing from a CDN
    inline = re.findall(r"<script>(.*?)</script>", page, flags=re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    csp = response.headers["content-security-policy"]
    assert f"script-src 'self' 'sha256-{digest}';" in csp
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/static/swagger/swagger-ui-bundle.js", "javascript"),
        ("/static/swagger/swagger-ui.css", "text/css"),
        ("/static/swagger/favicon-32x32.png", "image/png"),
    ],
)
def test_swagger_ui_files_are_served(client: TestClient, path: str, media_type: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert media_type in response.headers["content-type"]
    assert len(response.content) > 100


def test_the_sites_own_static_files_are_still_served(client: TestClient) -> None:
    assert client.get("/static/css/app.css").status_code == 200


def test_there_is_no_redoc_page(client: TestClient) -> None:
    assert client.get("/redoc").status_code == 404


def test_without_swagger_ui_files_docs_points_to_the_openapi_document(
    api_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(api.main, "SWAGGER_UI_DIR", tmp_path / "missing")
    with caplog.at_level(logging.WARNING, logger="api"):
        app = create_app(api_settings)
    assert "Swagger UI not found" in caplog.text
    response = TestClient(app).get("/docs")  # no lifespan needed
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<a href="/openapi.json">/openapi.json</a>' in response.text
    assert "npm install" in response.text
    assert TestClient(app).get("/static/swagger/swagger-ui-bundle.js").status_code == 404
