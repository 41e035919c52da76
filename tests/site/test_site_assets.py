"""Static files of the site (``frontend.assets``): versioned names, a year's immutable
caching only for the current version, revalidation otherwise (304 while unchanged), 404 for
unknown names and for any way out of the static folder, the vendored ethers build, and the
generated ABI JSON (events, errors and views; nothing that writes)."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path
from typing import Iterator

import pytest
from fastapi import FastAPI, HTTPException

with warnings.catch_warnings():  # starlette asks for httpx2, which the pinned env does not have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from api.problems import install_problem_handlers
from frontend.assets import GENERATED, IMMUTABLE, REVALIDATE, STATIC_DIR, VENDORED, Assets, static_router
from ledger.abi import ledger_abi

SITE_ASSETS = ["css/app.css", "css/print.css", "css/charts.css", "js/chain.js"]


def app_for(assets: Assets) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(static_router(assets))
    return app


@pytest.fixture(scope="module")
def assets() -> Assets:
    return Assets()


@pytest.fixture(scope="module")
def client(assets: Assets) -> Iterator[TestClient]:
    with TestClient(app_for(assets)) as test_client:
        yield test_client


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A static folder with ``css/site.css``, a file whose own name looks versioned, and a
    secret beside (not inside) the folder."""
    static = tmp_path / "static"
    (static / "css").mkdir(parents=True)
    (static / "css" / "site.css").write_bytes(b"body{color:#000}")
    (static / "img").mkdir()
    (static / "img" / "logo.0123456789.svg").write_bytes(b"<svg/>")
    (static / "data.bin").write_bytes(b"\x00\x01")
    (tmp_path / "secret.txt").write_bytes(b"not for the web")
    return static


def version_of(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:10]


# ---------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", SITE_ASSETS)
def test_a_versioned_url_carries_ten_hex_of_the_sha256(assets: Assets, name: str) -> None:
    body = (STATIC_DIR / name).read_bytes()
    stem, _, suffix = name.rpartition(".")
    assert assets.url(name) == f"/static/{stem}.{version_of(body)}.{suffix}"
    assert re.fullmatch(r"/static/[a-z/]+\.[0-9a-f]{10}\.(css|js)", assets.url(name))


def test_vendored_and_generated_assets_have_versioned_urls(assets: Assets) -> None:
    ethers = VENDORED["vendor/ethers.min.js"].read_bytes()
    assert assets.url("vendor/ethers.min.js") == f"/static/vendor/ethers.min.{version_of(ethers)}.js"
    abi = GENERATED["abi/ledger.json"]()
    assert assets.url("abi/ledger.json") == f"/static/abi/ledger.{version_of(abi)}.json"


def test_a_template_naming_a_missing_asset_fails_loudly(assets: Assets) -> None:
    with pytest.raises(KeyError, match="css/nope.css"):
        assets.url("css/nope.css")


def test_a_changed_file_gets_a_new_name(folder: Path) -> None:
    before = Assets(folder).url("css/site.css")
    (folder / "css" / "site.css").write_bytes(b"body{color:#111}")
    after = Assets(folder).url("css/site.css")
    assert before != after
    assert after == f"/static/css/site.{version_of(b'body{color:#111}')}.css"


# ---------------------------------------------------------------------------- caching


@pytest.mark.parametrize("name", SITE_ASSETS)
def test_the_current_version_is_immutable_for_a_year(client: TestClient, assets: Assets, name: str) -> None:
    response = client.get(assets.url(name))
    assert response.status_code == 200
    assert response.headers["cache-control"] == IMMUTABLE == "public, max-age=31536000, immutable"
    assert response.content == (STATIC_DIR / name).read_bytes()
    assert response.headers["etag"] == f'"{version_of(response.content)}"'
    assert response.headers["x-content-type-options"] == "nosniff"


def test_no_version_or_an_old_one_is_revalidated(client: TestClient, assets: Assets) -> None:
    body = (STATIC_DIR / "css" / "app.css").read_bytes()
    for path in ("/static/css/app.css", "/static/css/app.0000000000.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == REVALIDATE == "no-cache"
        assert response.content == body
        assert response.headers["content-type"] == "text/css; charset=utf-8"


def test_an_unchanged_asset_revalidates_with_304(client: TestClient, assets: Assets) -> None:
    etag = client.get("/static/css/app.css").headers["etag"]
    for sent in (etag, f"W/{etag}", f'"0000000000", {etag}', "*"):
        response = client.get("/static/css/app.css", headers={"If-None-Match": sent})
        assert response.status_code == 304, sent
        assert response.content == b""
        assert response.headers["etag"] == etag
    changed = client.get("/static/css/app.css", headers={"If-None-Match": '"0000000000"'})
    assert changed.status_code == 200
    assert changed.content == (STATIC_DIR / "css" / "app.css").read_bytes()


def test_media_types(folder: Path) -> None:
    with TestClient(app_for(Assets(folder))) as local:
        assert local.get("/static/css/site.css").headers["content-type"] == "text/css; charset=utf-8"
        assert local.get("/static/img/logo.0123456789.svg").headers["content-type"] == "image/svg+xml; charset=utf-8"
        assert local.get("/static/data.bin").headers["content-type"] == "application/octet-stream"


def test_a_file_whose_own_name_looks_versioned_is_served_by_that_name(folder: Path) -> None:
    with TestClient(app_for(Assets(folder))) as local:
        response = local.get("/static/img/logo.0123456789.svg")
        assert response.status_code == 200
        assert response.content == b"<svg/>"
        assert response.headers["cache-control"] == REVALIDATE


# ---------------------------------------------------------------------------- 404


@pytest.mark.parametrize(
    "path",
    [
        "/static/nope.css",
        "/static/css/nope.0123456789.css",
        "/static/css/",
        "/static/",
        "/static/css/..%2F..%2Fassets.py",  # the router sees css/../../assets.py
        "/static/css/%2e%2e/%2e%2e/assets.py",
        "/static/%2Fetc%2Fpasswd",  # an absolute path
        "/static//etc/passwd",
        "/static/vendor/..%2F..%2Fsite.py",
        "/static/abi/..%2F..%2F..%2Fapi%2Fmain.py",
    ],
)
def test_unknown_names_and_paths_out_of_the_folder_are_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404, path
    assert response.headers["content-type"] == "application/problem+json"


def test_paths_out_of_the_folder_are_refused_before_any_read(folder: Path) -> None:
    local = Assets(folder)
    (folder / "css" / "link.txt").symlink_to(folder.parent / "secret.txt")
    for name in ("../secret.txt", "css/../../secret.txt", str(folder.parent / "secret.txt"), "css/link.txt", "", "css"):
        assert local.get(name) is None, name
        with pytest.raises(HTTPException) as refused:
            local.response(name)
        assert refused.value.status_code == 404
    assert local.get("css/../css/site.css") is not None  # inside the folder after all


# ---------------------------------------------------------------------------- vendored and generated


def test_the_vendored_ethers_build_is_served_as_javascript(client: TestClient, assets: Assets) -> None:
    response = client.get(assets.url("vendor/ethers.min.js"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.content == VENDORED["vendor/ethers.min.js"].read_bytes()
    assert len(response.content) > 100_000
    package = json.loads((VENDORED["vendor/ethers.min.js"].parents[1] / "package.json").read_text())
    assert package["name"] == "ethers" and package["version"].startswith("6.")
    assert f'"{package["version"]}"'.encode() in response.content  # the build names its own version


def test_the_generated_abi_has_the_events_errors_and_views_only(client: TestClient, assets: Assets) -> None:
    response = client.get(assets.url("abi/ledger.json"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    abi = json.loads(response.content)
    full = ledger_abi()
    events = {e["name"] for e in abi if e["type"] == "event"}
    assert {"DeliveryRecorded", "CommitmentRegistered", "CommitmentAmended", "DeliveryRevoked", "BatchAnchored",
            "BatchedDeliveryRevoked", "DeliveryConfirmed", "DeliveryDisputed"} <= events
    assert events == {e["name"] for e in full if e["type"] == "event"}
    assert {e["name"] for e in abi if e["type"] == "error"} == {e["name"] for e in full if e["type"] == "error"}
    functions = {e["name"]: e["stateMutability"] for e in abi if e["type"] == "function"}
    assert {"version", "statusOf", "verifyBatchedDelivery"} <= set(functions)
    assert set(functions.values()) <= {"view", "pure"}
    writes = {e["name"] for e in full if e["type"] == "function" and e["stateMutability"] in ("nonpayable", "payable")}
    assert "recordDelivery" in writes and not writes & set(functions)
    assert {e["type"] for e in abi} == {"event", "error", "function"}  # no constructor, fallback or receive

