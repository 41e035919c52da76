"""Fixtures of the staff workspace tests: the API tests' app on this module's fresh ledger
(tests/api/conftest.py: Baarn = municipality 1 with ``roles.registrar``, Utrecht = 2 with
``roles.other_registrar``), its indexer, and personal staff accounts made with a fast
password hasher (argon2id at its lowest cost: the rules are the same, the test is quick)."""

from __future__ import annotations

import itertools
import re
import time
import warnings
from dataclasses import dataclass
from typing import Any, Iterator

import argon2
import pytest
from fastapi import FastAPI

with warnings.catch_warnings():  # starlette asks for httpx2, which the pinned env does not have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tests.api.conftest import api_settings, app, client, index, indexer, tokens  # noqa: F401 - the API tests' fixtures
from ledger.accounts import Credentials, StaffAccount, StaffAccounts

FAST_HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

_logins = itertools.count(1)


@dataclass(frozen=True)
class Person:
    """A staff account and the credentials it was given."""

    account: StaffAccount
    credentials: Credentials


@pytest.fixture(scope="module")
def running(app: FastAPI, client: TestClient) -> FastAPI:
    """The app with its lifespan entered (outbox running: ``client``, the API tests' client that
    waits for writes) and the fast accounts service."""
    app.state.staff_accounts = StaffAccounts(hasher=FAST_HASHER)
    return app


@pytest.fixture()
def browser(running: FastAPI) -> Iterator[TestClient]:
    """A browser of this test alone (its own cookies), not following redirects."""
    with TestClient(running, follow_redirects=False) as browser:
        yield browser


@pytest.fixture()
def make_person(running: FastAPI, roles: Any) -> Any:
    """``make_person(municipality_id=1, roles=("registrar",), signer=<Baarn registrar>)`` → Person."""

    def make(municipality_id: int = 1, account_roles: tuple[str, ...] = ("registrar",), signer: str | None = "default",
             name: str = "Jan Jansen") -> Person:
        if signer == "default":
            signer = roles.registrar.address if municipality_id == 1 else roles.other_registrar.address
        accounts: StaffAccounts = running.state.staff_accounts
        with running.state.session_factory() as session, session.begin():
            account, credentials = accounts.create(
                session, municipality_id=municipality_id, login=f"medewerker{next(_logins)}", display_name=name,
                roles=account_roles, signer=signer, now=int(time.time()))
        return Person(account, credentials)

    return make


def hidden(html: str, name: str) -> str:
    """The value of the page's first hidden field ``name``."""
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name}"
    return found.group(1)


def sign_in(client: TestClient, running: FastAPI, person: Person, lang: str = "nl") -> None:
    """Sign ``person`` in through the form (the code of the current 30-second step)."""
    form = client.get(f"/staff/sign-in?lang={lang}")
    code = running.state.staff_accounts.current_code(person.credentials.totp_secret, int(time.time()))
    answer = client.post("/staff/sign-in", data={"sign_in_token": hidden(form.text, "sign_in_token"), "next": "/staff",
                                                 "login": person.account.login, "password": person.credentials.password,
                                                 "code": code})
    assert answer.status_code == 303, answer.text


def form_of(client: TestClient, path: str) -> dict[str, str]:
    """The hidden fields (CSRF token, form key) of the form page at ``path``."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return {"csrf_token": hidden(page.text, "csrf_token"), "form_key": hidden(page.text, "form_key")}


def wait_final(client: TestClient, location: str, timeout_seconds: float = 30.0) -> dict[str, Any]:
    """Poll the write of a 303 ``location`` (``/staff/writes/{id}?lang=..``) until it is final."""
    write_id = location.split("/staff/writes/")[1].split("?")[0]
    deadline = time.monotonic() + timeout_seconds
    while True:
        state = client.get(f"/staff/writes/{write_id}.json").json()
        if state["final"] or time.monotonic() > deadline:
            return state
        time.sleep(0.1)
