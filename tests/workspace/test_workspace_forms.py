"""The staff workspace over HTTP, as a browser without JavaScript uses it: sign-in, the
registrar's forms (refusals at their field, nothing written), the 403 of another
municipality, a form sent twice recorded once, the admin's accounts and the confirmer's queue."""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ledger.db import outbox as outbox_store
from tests.api.helpers import Tokens, register
from tests.workspace.conftest import Person, form_of, hidden, sign_in, wait_final


def _writes(running: FastAPI, municipality_id: int = 1) -> int:
    with running.state.session_factory() as session:
        return outbox_store.list_writes(session, municipality_id, limit=1)[1]


def _new_commitment(browser: TestClient, **fields: str) -> Any:
    form = form_of(browser, "/staff/commitments/new?lang=nl")
    data = {"external_ref": f"ws-{time.monotonic_ns()}", "title": "200 sociale huurwoningen renoveren",
            "target_quantity": "200", "unit": "woningen", "promised_at": "2025-01-15", "due_date": "2030-12-31",
            **form, **fields}
    return browser.post("/staff/commitments/new?lang=nl", data=data), data


def test_a_page_of_the_workspace_without_a_session_sends_the_browser_to_the_sign_in_page(browser: TestClient) -> None:
    answer = browser.get("/staff/commitments/new?lang=en")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/staff/sign-in?next=%2Fstaff%2Fcommitments%2Fnew%3Flang%3Den&lang=en"


def test_signing_in_sets_an_http_only_same_site_cookie_for_the_workspace_and_opens_the_overview(
    browser: TestClient, running: FastAPI, make_person: Any
) -> None:
    person: Person = make_person(name="Petra de Vries")
    sign_in(browser, running, person)
    cookie = next(c for c in browser.cookies.jar if c.name == "ledger_staff_session")
    assert cookie.path == "/staff" and cookie.has_nonstandard_attr("HttpOnly") and not cookie.secure
    page = browser.get("/staff?lang=nl")
    assert page.status_code == 200
    assert "Ingelogd als Petra de Vries" in page.text
    assert page.headers["cache-control"] == "no-store"


def test_a_wrong_password_is_refused_with_one_message_and_starts_no_session(
    browser: TestClient, running: FastAPI, make_person: Any
) -> None:
    person: Person = make_person()
    form = browser.get("/staff/sign-in?lang=en")
    answer = browser.post("/staff/sign-in?lang=en", data={
        "sign_in_token": hidden(form.text, "sign_in_token"), "login": person.account.login, "password": "wrong-password",
        "code": running.state.staff_accounts.current_code(person.credentials.totp_secret, int(time.time()))})
    assert answer.status_code == 400
    assert "Login, password or code is not right, or the account is locked for a while" in answer.text
    assert "ledger_staff_session" not in answer.headers.get("set-cookie", "")


def test_the_fifth_wrong_attempt_locks_the_account_and_the_page_says_no_more_than_for_any_refusal(
    browser: TestClient, running: FastAPI, make_person: Any
) -> None:
    person: Person = make_person()
    token = hidden(browser.get("/staff/sign-in?lang=en").text, "sign_in_token")
    for _ in range(5):
        answer = browser.post("/staff/sign-in?lang=en", data={"sign_in_token": token, "login": person.account.login,
                                                              "password": "wrong", "code": "000000"})
    assert answer.status_code == 400
    assert "Login, password or code is not right, or the account is locked for a while" in answer.text
    with running.state.session_factory() as session:
        locked = running.state.staff_accounts.get(session, person.account.id)
    assert locked.locked_until is not None and locked.failed_attempts == 5
    right = browser.post("/staff/sign-in?lang=en", data={
        "sign_in_token": token, "login": person.account.login, "password": person.credentials.password,
        "code": running.state.staff_accounts.current_code(person.credentials.totp_secret, int(time.time()))})
    assert right.status_code == 400 and "ledger_staff_session" not in right.headers.get("set-cookie", "")


def test_a_form_without_the_session_csrf_token_is_refused_and_writes_nothing(
    browser: TestClient, running: FastAPI, make_person: Any
) -> None:
    sign_in(browser, running, make_person())
    before = _writes(running)
    answer, _ = _new_commitment(browser, csrf_token="forged")
    assert answer.status_code == 403
    assert 'data-reason="formExpired"' in answer.text
    assert _writes(running) == before


def test_a_registered_commitment_goes_from_queued_to_confirmed_and_opens_in_the_workspace(
    browser: TestClient, running: FastAPI, make_person: Any, index: Any
) -> None:
    sign_in(browser, running, make_person())
    answer, data = _new_commitment(browser)
    assert answer.status_code == 303
    state = wait_final(browser, answer.headers["location"])
    assert state["state"] == "confirmed"
    commitment_id = state["result"]["commitment_id"]
    index()
    page = browser.get(f"/staff/commitments/{commitment_id}?lang=nl")
    assert page.status_code == 200
    assert "200 sociale huurwoningen renoveren" in page.text and data["external_ref"] in page.text


def test_a_due_date_before_the_promise_date_is_refused_next_to_the_due_date_and_nothing_is_written(
    browser: TestClient, running: FastAPI, make_person: Any
) -> None:
    sign_in(browser, running, make_person())
    before = _writes(running)
    answer, _ = _new_commitment(browser, due_date="2024-12-31")
    assert answer.status_code == 422
    assert re.search(r'data-testid="error-due_date">De uiterste datum moet na de datum van de toezegging liggen.<', answer.text)
    assert re.search(r'<input id="due_date"[^>]*>', answer.text).group(0) == (
        '<input id="due_date" name="due_date" type="date" value="2024-12-31" required aria-describedby="due_date-hint '
        'due_date-error-1" aria-invalid="true" >')
    assert _writes(running) == before


def test_an_external_reference_already_used_is_refused_at_that_field_naming_the_commitment(
    browser: TestClient, running: FastAPI, make_person: Any, tokens: Any, index: Any, client: TestClient
) -> None:
    sign_in(browser, running, make_person())
    made = register(client, tokens.baarn)
    index()
    answer, _ = _new_commitment(browser, external_ref=made.external_ref)
    assert answer.status_code == 422
    assert f'data-testid="error-external_ref">Dit kenmerk is al in gebruik bij toezegging #{made.id}.<' in answer.text


def test_a_form_sent_twice_is_one_write(browser: TestClient, running: FastAPI, make_person: Any) -> None:
    sign_in(browser, running, make_person())
    before = _writes(running)
    first, data = _new_commitment(browser)
    second = browser.post("/staff/commitments/new?lang=nl", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert _writes(running) == before + 1


def test_a_registrar_opening_another_municipalitys_commitment_gets_the_403_page(
    browser: TestClient, running: FastAPI, make_person: Any, tokens: Any, index: Any, client: TestClient
) -> None:
    utrecht = register(client, tokens.utrecht)
    index()
    sign_in(browser, running, make_person(municipality_id=1))
    for path in (f"/staff/commitments/{utrecht.id}", f"/staff/commitments/{utrecht.id}/amend",
                 f"/staff/commitments/{utrecht.id}/deliveries/new", f"/staff/deliveries/{utrecht.id * 1_000_000 + 1}/revoke"):
        answer = browser.get(path + "?lang=en")
        assert answer.status_code == 403, path
        assert 'data-reason="otherMunicipality"' in answer.text


def test_an_amendment_shows_before_and_after_then_publishes(
    browser: TestClient, running: FastAPI, make_person: Any, tokens: Any, index: Any, client: TestClient
) -> None:
    made = register(client, tokens.baarn)
    index()
    sign_in(browser, running, make_person())
    page = browser.get(f"/staff/commitments/{made.id}/amend?lang=en")
    fields = {name: hidden(page.text, name) for name in ("csrf_token", "form_key", "expected_amendment_count")}
    data = {**fields, "title": "Belofte", "description": "", "target_quantity": "12", "due_date": "2030-12-31",
            "reason": "Raadsbesluit 2026-14"}
    preview = browser.post(f"/staff/commitments/{made.id}/amend?lang=en", data={**data, "action": "preview"})
    assert preview.status_code == 200
    assert re.search(r'<tr data-field="target_quantity"><th scope="row">Target quantity</th><td>10</td><td>12</td></tr>', preview.text)
    published = browser.post(f"/staff/commitments/{made.id}/amend?lang=en",
                            data={**data, "form_key": hidden(preview.text, "form_key"), "action": "publish"})
    assert published.status_code == 303
    state = wait_final(browser, published.headers["location"])
    assert state["state"] == "confirmed" and state["result"]["amendment_number"] == 1


def test_an_amendment_that_changes_nothing_is_refused_above_the_form(
    browser: TestClient, running: FastAPI, make_person: Any, tokens: Any, index: Any, client: TestClient
) -> None:
    made = register(client, tokens.baarn)
    index()
    sign_in(browser, running, make_person())
    page = browser.get(f"/staff/commitments/{made.id}/amend?lang=en")
    data = {name: hidden(page.text, name) for name in ("csrf_token", "form_key", "expected_amendment_count")}
    answer = browser.post(f"/staff/commitments/{made.id}/amend?lang=en", data={
        **data, "title": "Belofte", "target_quantity": "10", "due_date": "2030-12-31", "reason": "Niets", "action": "publish"})
    assert answer.status_code == 422
    assert 'data-testid="error-_form">This is what it already says: change it, or leave the amendment.<' in answer.text


def test_a_delivery_with_a_file_is_recorded_and_the_same_file_again_is_refused_at_the_evidence_field(
    browser: TestClient, running: FastAPI, make_person: Any, tokens: Any, index: Any, client: TestClient
) -> None:
    made = register(client, tokens.baarn)
    index()
    sign_in(browser, running, make_person())
    path = f"/staff/commitments/{made.id}/deliveries/new?lang=en"
    report = (f"opleverrapport {time.monotonic_ns()}").encode()
    answer = browser.post(path, data={**form_of(browser, path), "quantity": "4", "delivered_at": "2026-03-01"},
                         files={"evidence": ("rapport.pdf", report, "application/pdf")})
    assert answer.status_code == 303
    state = wait_final(browser, answer.headers["location"])
    assert state["state"] == "confirmed"
    index()
    before = _writes(running)
    again = browser.post(path, data={**form_of(browser, path), "quantity": "1", "delivered_at": "2026-03-02"},
                        files={"evidence": ("rapport-kopie.pdf", report, "application/pdf")})
    assert again.status_code == 422
    assert (f'data-testid="error-evidence">This file is already cited on the ledger (commitment #{made.id}): one file '
            "proves one delivery. Choose another file.<") in again.text
    assert _writes(running) == before


def test_a_registrar_without_the_admin_role_gets_the_403_page_for_the_accounts(
    browser: TestClient, running: FastAPI, make_person: Any
) -> None:
    sign_in(browser, running, make_person())
    answer = browser.get("/staff/accounts?lang=en")
    assert answer.status_code == 403 and 'data-reason="role.admin"' in answer.text


def test_an_admin_adds_an_account_that_can_sign_in_and_disabling_it_ends_its_session(
    browser: TestClient, running: FastAPI, make_person: Any, roles: Any
) -> None:
    sign_in(browser, running, make_person(account_roles=("admin",), signer=None))
    form = form_of(browser, "/staff/accounts?lang=en")
    login = f"nieuw{time.monotonic_ns()}"
    made = browser.post("/staff/accounts/new?lang=en", data={**form, "login": login, "display_name": "Nieuwe Collega",
                                                             "roles": ["registrar"], "signer": roles.registrar.address})
    assert made.status_code == 200
    password = re.search(r'data-testid="new-password">([^<]+)<', made.text).group(1)
    secret = re.search(r'data-testid="new-totp">([^<]+)<', made.text).group(1)
    with TestClient(running, follow_redirects=False) as other:
        token = hidden(other.get("/staff/sign-in").text, "sign_in_token")
        code = running.state.staff_accounts.current_code(secret, int(time.time()))
        assert other.post("/staff/sign-in", data={"sign_in_token": token, "login": login, "password": password,
                                                  "code": code}).status_code == 303
        assert other.get("/staff").status_code == 200
        account_id = re.search(rf'action="/staff/accounts/(\d+)/disable\?lang=en"', made.text.split(f'data-account="{login}"')[1]).group(1)
        disabled = browser.post(f"/staff/accounts/{account_id}/disable?lang=en", data=form_of(browser, "/staff/accounts?lang=en"))
        assert disabled.status_code == 303
        assert other.get("/staff").status_code == 303  # its session ended: back to the sign-in page


def test_signing_out_ends_the_session(browser: TestClient, running: FastAPI, make_person: Any) -> None:
    sign_in(browser, running, make_person())
    csrf = hidden(browser.get("/staff").text, "csrf_token")
    cookie = browser.cookies.get("ledger_staff_session")
    out = browser.post("/staff/sign-out?lang=en", data={"csrf_token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/staff/sign-in?signed_out=1&lang=en"
    browser.cookies.set("ledger_staff_session", cookie, path="/staff")
    assert browser.get("/staff").status_code == 303


def test_the_admin_grants_a_role_on_chain_with_the_municipality_admins_key_and_a_second_grant_is_refused_at_the_account(
    browser: TestClient, running: FastAPI, make_person: Any, roles: Any, index: Any
) -> None:
    index()
    running.state.staff_registry.keystore.write(roles.council_admin.key)  # the server holds Baarn's admin key
    sign_in(browser, running, make_person(account_roles=("admin",), signer=None))
    newcomer = "0x" + f"{time.monotonic_ns():040x}"[-40:]
    data = {**form_of(browser, "/staff/accounts?lang=en"), "account": newcomer, "role": "confirmer", "action": "grant"}
    answer = browser.post("/staff/roles?lang=en", data=data)
    assert answer.status_code == 303
    state = wait_final(browser, answer.headers["location"])
    assert state["state"] == "confirmed"
    assert state["result"]["role"] == "confirmer" and state["result"]["granted"] is True
    assert state["result"]["by"] == roles.council_admin.address
    write_page = browser.get(answer.headers["location"])
    assert f'<p data-testid="write-role">Confirmer role granted to {state["result"]["account"]}.' in write_page.text
    index()
    page = browser.get("/staff/accounts?lang=en")
    assert f'data-signer="{state["result"]["account"]}"' in page.text
    history = page.text.split('id="h-role-history"')[1]
    assert re.search(rf'<tr><td class="mono hash">{state["result"]["account"]}</td><td>Confirmer</td>', history)
    again = browser.post("/staff/roles?lang=en", data={**data, **form_of(browser, "/staff/accounts?lang=en")})
    assert again.status_code == 422
    assert ('data-testid="error-role-account">This account already has this role on chain, or does not have it to '
            "revoke.<") in again.text


def test_the_commitments_list_shows_only_the_own_municipality_searches_and_pages_by_cursor(
    browser: TestClient, running: FastAPI, make_person: Any, tokens: Any, index: Any, client: TestClient
) -> None:
    marker = f"zoekwoord{time.monotonic_ns()}"
    made = [register(client, tokens.baarn, title=f"{marker} {i}") for i in range(27)]
    other = register(client, tokens.utrecht, title=f"{marker} utrecht")
    index()
    sign_in(browser, running, make_person())
    first = browser.get(f"/staff/commitments?lang=en&q={marker}&sort=-id")
    assert first.status_code == 200
    assert '<p role="status" data-testid="list-total">27 found</p>' in first.text
    shown = [int(x) for x in re.findall(r'<tr data-commitment="(\d+)">', first.text)]
    assert shown == [m.id for m in reversed(made)][:25]
    assert f'data-commitment="{other.id}"' not in first.text
    next_link = re.search(r'<a rel="next" href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
    second = browser.get(next_link)
    assert [int(x) for x in re.findall(r'<tr data-commitment="(\d+)">', second.text)] == [made[1].id, made[0].id]
    assert browser.get("/staff/commitments?lang=en&after=not-a-cursor").status_code == 200


def test_a_delivery_form_larger_than_sixteen_evidence_files_can_be_is_refused_at_the_evidence_field_unread(
    browser: TestClient, running: FastAPI, make_person: Any, tokens: Any, index: Any, client: TestClient
) -> None:
    made = register(client, tokens.baarn)
    index()
    sign_in(browser, running, make_person())
    path = f"/staff/commitments/{made.id}/deliveries/new?lang=en"
    limit = running.state.settings.max_evidence_bytes
    before = _writes(running)
    answer = browser.post(path, content=b"x", headers={"Content-Type": "multipart/form-data; boundary=b",
                                                        "Content-Length": str(16 * limit + 1024 * 1024 + 1)})
    assert answer.status_code == 413
    assert f'data-testid="error-evidence">A file is too large: at most {limit:,} bytes each.<' in answer.text
    assert _writes(running) == before


def test_an_account_whose_signer_has_no_keystore_here_is_refused_at_the_signer_field(
    browser: TestClient, running: FastAPI, make_person: Any
) -> None:
    sign_in(browser, running, make_person(account_roles=("admin",), signer=None))
    stranger = "0x" + f"{time.monotonic_ns():040x}"[-40:]
    answer = browser.post("/staff/accounts/new?lang=en", data={
        **form_of(browser, "/staff/accounts?lang=en"), "login": f"zonder{time.monotonic_ns()}",
        "display_name": "Zonder Sleutel", "roles": ["registrar"], "signer": stranger})
    assert answer.status_code == 422
    assert ('data-testid="error-signer">This server holds no key for this account: the operator imports it first '
            "(python -m scripts.admin keys import).<") in answer.text


def test_a_source_link_that_is_no_web_address_and_a_due_date_of_9999_12_31_get_their_answers_at_their_fields(
    browser: TestClient, running: FastAPI, make_person: Any
) -> None:
    sign_in(browser, running, make_person())
    before = _writes(running)
    answer, _ = _new_commitment(browser, source_uri="javascript:alert(1)")
    assert answer.status_code == 422
    assert ('data-testid="error-source_uri">Geef een webadres dat begint met https:// (of http://, of ipfs://).<'
            in answer.text)
    assert _writes(running) == before
    far, _ = _new_commitment(browser, due_date="9999-12-31")
    assert far.status_code == 303  # the last day the contract takes (before 10000-01-01 UTC)


def test_the_forms_of_a_withdrawn_commitment_answer_409_instead_of_opening(
    browser: TestClient, running: FastAPI, make_person: Any, tokens: Any, index: Any, client: TestClient
) -> None:
    made = register(client, tokens.baarn)
    withdrawn = client.post(f"/api/v1/staff/commitments/{made.id}/withdrawal", json={"reason": "Vervallen"},
                            headers=Tokens.header(tokens.baarn))
    assert withdrawn.status_code == 201, withdrawn.text
    index()
    sign_in(browser, running, make_person())
    for path in ("amend", "withdraw", "deliveries/new"):
        answer = browser.get(f"/staff/commitments/{made.id}/{path}?lang=en")
        assert answer.status_code == 409, path
        assert 'data-reason="withdrawn"' in answer.text


def test_a_text_field_larger_than_the_form_takes_gets_the_413_page_of_the_workspace(
    browser: TestClient, running: FastAPI, make_person: Any
) -> None:
    sign_in(browser, running, make_person())
    form = form_of(browser, "/staff/commitments/new?lang=en")
    answer = browser.post("/staff/commitments/new?lang=en", files={"csrf_token": (None, form["csrf_token"]),
                                                                   "title": (None, "x" * (2 * 1024 * 1024))})
    assert answer.status_code == 413
    assert 'data-reason="tooLarge"' in answer.text


def test_the_amendment_preview_writes_a_due_date_as_the_workspace_writes_dates(
    browser: TestClient, running: FastAPI, make_person: Any, tokens: Any, index: Any, client: TestClient
) -> None:
    made = register(client, tokens.baarn)
    index()
    sign_in(browser, running, make_person())
    page = browser.get(f"/staff/commitments/{made.id}/amend?lang=en")
    data = {name: hidden(page.text, name) for name in ("csrf_token", "form_key", "expected_amendment_count")}
    preview = browser.post(f"/staff/commitments/{made.id}/amend?lang=en", data={
        **data, "title": "Belofte", "target_quantity": "10", "due_date": "2031-06-30", "reason": "Later", "action": "preview"})
    assert re.search(r'<tr data-field="due_date"><th scope="row">Due date</th><td>[^<]+2030</td><td>30 June 2031</td></tr>',
                     preview.text)
