"""The sign-in form counts against the client's failed-authentication limit, as a wrong bearer
token does: past it the form answers 429 with Retry-After and checks nothing."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ledger.settings import Settings
from tests.api.helpers import MAX_EVIDENCE_BYTES, SOURCES_DIR
from tests.workspace.conftest import hidden


@pytest.fixture(scope="module")
def api_settings(settings: Settings) -> Settings:
    """The API tests' settings with 3 failed authentications a minute per client."""
    return settings.model_copy(update={"max_evidence_bytes": MAX_EVIDENCE_BYTES, "sources_dir": SOURCES_DIR,
                                       "failed_auth_rate_limit": "3/minute"})


def test_the_fourth_failed_sign_in_of_a_client_in_a_minute_is_answered_429_even_with_the_right_credentials(
    browser: TestClient, running: FastAPI, make_person: Any
) -> None:
    person = make_person()
    token = hidden(browser.get("/staff/sign-in?lang=en").text, "sign_in_token")
    wrong = {"sign_in_token": token, "login": "nobody-here", "password": "x", "code": "123456"}
    assert [browser.post("/staff/sign-in?lang=en", data=wrong).status_code for _ in range(3)] == [400, 400, 400]
    code = running.state.staff_accounts.current_code(person.credentials.totp_secret, int(time.time()))
    refused = browser.post("/staff/sign-in?lang=en", data={**wrong, "login": person.account.login,
                                                           "password": person.credentials.password, "code": code})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "Too many failed sign-ins from this computer. Try again in" in refused.text
    assert "ledger_staff_session" not in refused.headers.get("set-cookie", "")
