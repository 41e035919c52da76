"""Share link and QR code of ``frontend.share``: the link, and an SVG that is well-formed, titled,
black on white, about 200 px wide and draws exactly segno's matrix of that link (read back
from its path), in the request's language; 404 and 422."""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

import pytest
import segno
from fastapi import FastAPI

with warnings.catch_warnings():  # starlette asks for httpx2, which the pinned env does not have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from api.problems import install_problem_handlers
from frontend import share
from ledger.db.projection import apply_events
from ledger.settings import Settings
from tests.db.databases import fresh_database
from tests.db.script import Script

SVG = "{http://www.w3.org/2000/svg}"
SITE = "https://register.example"


def make_app(sessions: object, settings: Settings) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(share.router)
    app.state.settings = settings
    app.state.session_factory = sessions
    return app


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """An index with commitments 1 and 2 of Baarn."""
    s = Script()
    s.next_block().municipality(1)
    s.registrar(1)
    s.next_block().commitment(1)
    s.commitment(2)
    with fresh_database("sqlite", tmp_path_factory.mktemp("share")) as database:
        with database.sessions.begin() as session:
            apply_events(session, s.events, s.block_times)
        yield database


@pytest.fixture(scope="module")
def client(db: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("settings"), site_url=SITE)
    with TestClient(make_app(db.sessions, settings)) as test_client:
        yield test_client


def dark_modules(path_data: str) -> set[tuple[int, int]]:
    """The (row, column) of every module drawn by a segno SVG path: ``M x y`` / ``m dx dy``
    move, ``h dx`` draws a 1-module-high line of ``dx`` modules centred on ``y``."""
    dark: set[tuple[int, int]] = set()
    x = y = 0.0
    for command, args in re.findall(r"([Mmh])([^Mmh]*)", path_data):
        numbers = [float(n) for n in args.replace(",", " ").split()]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        else:
            row = int(y - 0.5)
            dark |= {(row, int(x) + i) for i in range(int(numbers[0]))}
            x += numbers[0]
    return dark


def segno_dark(url: str) -> tuple[set[tuple[int, int]], int]:
    """segno's own dark modules of ``url`` (quiet zone included) and the symbol width."""
    code = segno.make(url, error="m")
    rows = list(code.matrix_iter(scale=1, border=4))
    return {(r, c) for r, row in enumerate(rows) for c, v in enumerate(row) if v}, len(rows[0])


def test_share_url_names_the_commitment_and_language() -> None:
    assert share.share_url("https://register.baarn.nl", 12, "nl") == "https://register.baarn.nl/commitments/12?lang=nl"
    assert share.share_url("https://register.baarn.nl/", 12, "en") == "https://register.baarn.nl/commitments/12?lang=en"


@pytest.mark.parametrize(
    "query, headers, lang, title",
    [
        ("?lang=en", {}, "en", "QR code: link to commitment 2"),
        ("", {"Accept-Language": "en-GB,en;q=0.8"}, "en", "QR code: link to commitment 2"),
        ("", {"Cookie": "lang=nl", "Accept-Language": "en"}, "nl", "QR-code: link naar belofte 2"),
        ("", {}, "nl", "QR-code: link naar belofte 2"),
    ],
    ids=["query", "accept-language", "cookie", "default"],
)
def test_qr_code_draws_the_share_link(client: TestClient, query: str, headers: dict[str, str], lang: str, title: str) -> None:
    response = client.get(f"/commitments/2/qr.svg{query}", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert response.headers["vary"] == "Accept-Language, Cookie"
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    svg = ET.fromstring(response.content)
    assert svg.tag == f"{SVG}svg"
    url = f"{SITE}/commitments/2?lang={lang}"
    assert svg.find(f"{SVG}title").text == title
    assert svg.find(f"{SVG}desc").text == url
    expected, modules = segno_dark(url)
    scale = round(200 / modules)
    assert (svg.get("width"), svg.get("height")) == (str(modules * scale),) * 2
    assert 180 <= modules * scale <= 220
    group = svg.find(f"{SVG}g")
    assert group.get("transform") == f"scale({scale})"
    background, line = group.findall(f"{SVG}path")
    assert background.get("fill") == "#fff"
    assert background.get("d") == f"M0 0h{modules}v{modules}h-{modules}z"
    assert line.get("stroke") == "#000"
    assert dark_modules(line.get("d")) == expected


def test_qr_code_without_site_url_uses_the_request_address(db: object, tmp_path: Path) -> None:
    with TestClient(make_app(db.sessions, Settings(data_dir=tmp_path))) as test_client:
        svg = ET.fromstring(test_client.get("/commitments/1/qr.svg?lang=en").content)
    url = "http://testserver/commitments/1?lang=en"
    assert svg.find(f"{SVG}desc").text == url
    assert dark_modules(svg.find(f"{SVG}g").findall(f"{SVG}path")[1].get("d")) == segno_dark(url)[0]


@pytest.mark.parametrize("path, status", [("/commitments/3/qr.svg", 404), ("/commitments/abc/qr.svg", 422), ("/commitments/0/qr.svg", 422)])
def test_unknown_commitment_has_no_qr_code(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
