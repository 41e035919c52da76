"""Fixtures of the API tests: the real app (lifespan included) on this module's fresh ledger
(tests/conftest.py: municipality 1 Baarn with ``roles.registrar``, 2 Utrecht with
``roles.other_registrar``), the real indexer filling the module's SQLite index, and staff
tokens issued into the module's key file."""

from __future__ import annotations

import warnings
from typing import Any, Iterator

import pytest
from fastapi import FastAPI

with warnings.catch_warnings():  # starlette asks for httpx2, which the pinned env does not have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from api.main import create_app
from indexer.loop import Indexer
from ledger.chain import LedgerChain
from ledger.settings import Settings
from ledger.staff import issue_token, set_relayer_key
from tests.api.helpers import CONFIRMER, RELAYER, SIGNER, MAX_EVIDENCE_BYTES, SOURCES_DIR, Made, Part2Tokens, Tokens, register


@pytest.fixture(scope="module")
def api_settings(settings: Settings) -> Settings:
    """The module's settings with a small evidence limit and one test source mapping
    (tests/api/sources: Baarn only)."""
    return settings.model_copy(update={"max_evidence_bytes": MAX_EVIDENCE_BYTES, "sources_dir": SOURCES_DIR})


@pytest.fixture(scope="module")
def tokens(api_settings: Settings, roles: Any) -> Tokens:
    path = api_settings.staff_keys_file
    return Tokens(
        baarn=issue_token(path, 1, roles.registrar.key),
        utrecht=issue_token(path, 2, roles.other_registrar.key),
        baarn_stranger=issue_token(path, 1, roles.stranger.key),
    )


@pytest.fixture(scope="module")
def app(api_settings: Settings, tokens: Tokens) -> FastAPI:
    return create_app(api_settings)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client of the running app (lifespan entered once per module). It sends
    ``Prefer: wait=30`` with every request, so a staff write answers 201 with its body once the
    write outbox confirmed it (``api.routes.writes``), as writes did before the outbox."""
    with TestClient(app, headers={"Prefer": "wait=30"}) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def indexer(client: TestClient, app: FastAPI, chain: LedgerChain, api_settings: Settings) -> Indexer:
    """The real indexer writing the index the app reads."""
    return Indexer(chain, app.state.session_factory, api_settings)


@pytest.fixture(scope="module")
def index(indexer: Indexer) -> Any:
    """Call after writes: indexes up to the chain head, returns the events applied."""
    return indexer.run_once


@pytest.fixture()
def commitment(client: TestClient, tokens: Tokens, index: Any) -> Made:
    """A fresh Baarn commitment of this test alone (target 10 stuks, due 2030), indexed."""
    index()
    made = register(client, tokens.baarn)
    index()
    return made


@pytest.fixture()
def utrecht_commitment(client: TestClient, tokens: Tokens, index: Any) -> Made:
    """A fresh Utrecht commitment of this test alone, indexed."""
    index()
    made = register(client, tokens.utrecht)
    index()
    return made


@pytest.fixture(scope="module")
def part2(api_settings: Settings, chain: LedgerChain, roles: Any, tokens: Tokens) -> Part2Tokens:
    """The 2.1.0 roles of this module's Baarn (only for the modules that ask): ``CONFIRMER`` a
    confirmer with a confirmer-only token; ``roles.registrar`` also a confirmer, with a token
    holding both roles (its own deliveries are self-confirmations); ``SIGNER`` a registrar who
    signs with its own wallet (no token); ``RELAYER`` the API's relayer key; a
    confirmer-role token of ``roles.stranger``, who is no confirmer on chain."""
    admin = roles.council_admin.key
    chain.send("addConfirmer", [1, CONFIRMER.address], admin)
    chain.send("addConfirmer", [1, roles.registrar.address], admin)
    chain.send("addRegistrar", [1, SIGNER.address], admin)
    path = api_settings.staff_keys_file
    set_relayer_key(path, RELAYER.key)
    return Part2Tokens(
        confirmer=issue_token(path, 1, CONFIRMER.key, ["confirmer"]),
        registrar_and_confirmer=issue_token(path, 1, roles.registrar.key, ["registrar", "confirmer"]),
        stranger_confirmer=issue_token(path, 1, roles.stranger.key, ["confirmer"]),
    )
