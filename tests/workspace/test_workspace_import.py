"""Bulk imports in the staff workspace (``/staff/import``), as a browser without JavaScript
uses them: a CSV of Baarn's coalition agreement (the real data, trimmed to a few rows, written
to tmp_path) with Baarn's real mapping is uploaded, its dry-run plan shown row by row, run as
the signed-in registrar, and run again writing nothing; a mapping of another municipality is
refused at its field with nothing stored; another municipality's registrar gets the 403 page;
a run cut by a restart reads "interrupted" and runs again safely."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import re
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from frontend import import_jobs
from ledger.db import outbox as outbox_store
from ledger.staff import StaffIdentity, UnknownStaffTokenError
from tests.conftest import REPO_ROOT, SHARED_DATA_DIR
from tests.workspace.conftest import Person, form_of, sign_in

MAPPING = REPO_ROOT / "scripts" / "mappings" / "baarn-coalitieakkoord.yaml"
SOURCE = SHARED_DATA_DIR / "baarn-coalitieakkoord" / "coalitieakkoord_baarn_2022-2026_afspraken.csv"
REAL = ["bestuurlijke_vernieuwing-001", "bestuurlijke_vernieuwing-002", "bestuurlijke_vernieuwing-003"]


def _rows(keys: list[str], themes: tuple[str, ...] = ("inleiding", "bijlage_portefeuilles")) -> bytes:
    """The header and the source's rows with these ids, plus the first row of each theme of
    ``themes`` (rows the mapping skips), as CSV bytes."""
    with SOURCE.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        header = reader.fieldnames or []
    chosen = [r for r in rows if r["id"] in keys]
    chosen += [next(r for r in rows if r["thema_key"] == theme) for theme in themes]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(chosen)
    return out.getvalue().encode("utf-8")


def _root(running: FastAPI) -> Path:
    return import_jobs.imports_dir(running.state.settings.data_dir)


def _upload(browser: TestClient, csv_bytes: bytes, mapping: bytes | None = None, saved: str = "") -> Any:
    form = form_of(browser, "/staff/import?lang=en")
    files = [("csv", ("afspraken.csv", csv_bytes, "text/csv"))]
    if mapping is not None:
        files.append(("mapping_file", ("baarn.yaml", mapping, "application/yaml")))
    return browser.post("/staff/import?lang=en", data={**form, "saved_mapping": saved}, files=files)


def _job_id(answer: Any) -> str:
    assert answer.status_code == 303, answer.text
    found = re.match(r"^/staff/import/([0-9a-f]{32})\?lang=en$", answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


def _actions(html: str) -> dict[str, str]:
    """Row key → the action its row shows (``data-action``)."""
    return dict(re.findall(r'data-testid="row" data-line="\d+" data-key="([^"]*)" data-action="([^"]*)"', html))


def _outcomes(html: str) -> list[str]:
    return re.findall(r'data-op="register" data-outcome="([^"]*)"', html)


def _apply(browser: TestClient, running: FastAPI, job_id: str) -> import_jobs.Job:
    answer = browser.post(f"/staff/import/{job_id}/apply?lang=en", data=form_of(browser, f"/staff/import/{job_id}?lang=en"))
    assert answer.status_code == 303, answer.text
    job = import_jobs.wait_until_settled(_root(running), job_id, timeout_seconds=120)
    assert job is not None and job.state == "done", job
    return job


def _writes(running: FastAPI) -> int:
    with running.state.session_factory() as session:
        return outbox_store.list_writes(session, 1, limit=1)[1]


def _refs(client: TestClient) -> set[str]:
    page = client.get("/api/v1/commitments", params={"municipality_id": 1, "limit": 100}).json()
    return {c["external_ref"] for c in page["data"]}


def test_an_upload_shows_the_plan_row_by_row_then_runs_as_the_registrar_and_a_second_run_writes_nothing(
    browser: TestClient, running: FastAPI, make_person: Any, index: Any, client: TestClient
) -> None:
    person: Person = make_person(name="Ria Bulk")
    sign_in(browser, running, person, "en")
    index()
    job_id = _job_id(_upload(browser, _rows(REAL), MAPPING.read_bytes()))

    page = browser.get(f"/staff/import/{job_id}?lang=en")
    assert page.status_code == 200
    actions = _actions(page.text)
    assert {k: v for k, v in actions.items() if k in REAL} == {k: "register" for k in REAL}
    assert sorted(v for k, v in actions.items() if k not in REAL) == ["skip", "skip"]
    assert "portfolio annex, not a commitment" in page.text and "introduction, not a commitment" in page.text
    assert 'data-testid="plan-summary">3 to register, 0 written by the run, 0 already on the ledger, 2 skipped, 0 invalid, of 5 rows.' in page.text
    assert _outcomes(page.text) == ["would_do"] * 3
    assert "This is the dry run: nothing has been written yet." in page.text
    dutch = browser.get(f"/staff/import/{job_id}?lang=nl")
    assert "3 vast te leggen, 0 vastgelegd door de run, 0 al in het register, 2 overgeslagen, 0 ongeldig, van 5 regels." in dutch.text
    assert "De toezegging vastleggen: wordt vastgelegd" in dutch.text
    dry = browser.get(f"/staff/import/{job_id}/report.json")
    assert dry.status_code == 200 and dry.json()["dry_run"] is True
    assert not REAL[0] in _refs(client)  # nothing written by the dry run

    job = _apply(browser, running, job_id)
    assert job.counts["applied"]["commitments"]["done"] == 3
    with running.state.session_factory() as session:
        newest = outbox_store.list_writes(session, 1, limit=1)[0][0]
    assert newest["kind"] == "register_commitments"  # one batch of 3, one transaction
    assert newest["account"] == person.account.signer and newest["token_id"] == f"import-{job_id[:16]}"
    assert job.counts["progress"] == {"rows_with_operations": 3, "rows_settled": 3, "operations": 3, "operations_settled": 3}
    page = browser.get(f"/staff/import/{job_id}?lang=en")
    assert 'data-testid="job-done">Done: 3 written, 0 already on the ledger, 0 failed or not possible.' in page.text
    assert _outcomes(page.text) == ["done"] * 3
    index()
    assert set(REAL) <= _refs(client)

    report = browser.get(f"/staff/import/{job_id}/report.json")
    assert report.status_code == 200
    assert report.headers["content-type"] == "application/json"
    assert report.headers["content-disposition"] == f'attachment; filename="import-{job_id}-report.json"'
    body = report.json()
    assert body["complete"] is True and body["dry_run"] is False and body["interrupted"] is False
    assert body["summary"]["applied"]["commitments"]["done"] == 3
    assert [op["outcome"] for row in body["rows"] for op in row["operations"]] == ["done"] * 3

    writes = _writes(running)
    again = _apply(browser, running, job_id)
    assert again.runs == 2
    assert again.counts["applied"]["commitments"] == {"done": 0, "already_present": 3, "would_do": 0, "failed": 0,
                                                      "blocked": 0}
    assert _writes(running) == writes  # nothing new was sent
    page = browser.get(f"/staff/import/{job_id}?lang=en")
    assert "Done: 0 written, 3 already on the ledger, 0 failed or not possible." in page.text
    assert {k: v for k, v in _actions(page.text).items() if k in REAL} == {k: "present" for k in REAL}

    listing = browser.get("/staff/import?lang=nl")
    assert f'data-job="{job_id}"' in listing.text and "Klaar" in listing.text


def test_a_mapping_of_another_municipality_is_refused_at_its_field_and_nothing_is_stored(
    browser: TestClient, running: FastAPI, make_person: Any
) -> None:
    sign_in(browser, running, make_person(), "en")
    utrecht = MAPPING.read_text(encoding="utf-8").replace("name: Baarn", "name: Utrecht").replace(
        "code: GM0308", "code: GM0344")
    root = _root(running)
    before = sorted(p.name for p in root.iterdir()) if root.exists() else []
    answer = _upload(browser, _rows(REAL[:1]), utrecht.encode("utf-8"))
    assert answer.status_code == 403
    assert ('data-testid="error-mapping_file">This mapping is for Utrecht (GM0344), not for your municipality: '
            "refused, nothing was stored.</p>") in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert (sorted(p.name for p in root.iterdir()) if root.exists() else []) == before

    neither = _upload(browser, _rows(REAL[:1]))  # neither a saved nor an uploaded mapping
    assert neither.status_code == 422
    assert 'data-testid="error-saved_mapping">Choose a saved mapping or upload one.</p>' in neither.text
    form = form_of(browser, "/staff/import?lang=nl")
    broken = browser.post("/staff/import?lang=nl", data=form, files=[
        ("csv", ("a.csv", _rows(REAL[:1]), "text/csv")), ("mapping_file", ("m.yaml", b"kind: commitments\n", "text/yaml"))])
    assert broken.status_code == 422
    assert 'data-testid="error-mapping_file">Deze mapping is niet geldig: ' in broken.text
    assert '<a href="#mapping_file">Mappingbestand</a>' in broken.text
    assert (sorted(p.name for p in root.iterdir()) if root.exists() else []) == before


def test_a_registrar_of_another_municipality_gets_the_403_page_for_the_job_and_its_report(
    browser: TestClient, running: FastAPI, make_person: Any
) -> None:
    sign_in(browser, running, make_person(), "en")
    job_id = _job_id(_upload(browser, _rows(REAL[:1]), MAPPING.read_bytes()))
    other = TestClient(running, follow_redirects=False)
    sign_in(other, running, make_person(municipality_id=2), "en")
    for path in (f"/staff/import/{job_id}?lang=en", f"/staff/import/{job_id}/report.json?lang=en"):
        answer = other.get(path)
        assert answer.status_code == 403
        assert 'data-reason="otherMunicipality"' in answer.text
    refused = other.post(f"/staff/import/{job_id}/apply?lang=en", data=form_of(other, "/staff/import?lang=en"))
    assert refused.status_code == 403
    assert f'data-job="{job_id}"' not in other.get("/staff/import?lang=en").text
    assert import_jobs.load_job(_root(running), job_id).state == "planned"  # type: ignore[union-attr]


def test_a_saved_mapping_of_the_municipality_is_offered_and_one_of_another_is_not(
    browser: TestClient, running: FastAPI, make_person: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "baarn.yaml").write_bytes(MAPPING.read_bytes())
    (tmp_path / "utrecht.yaml").write_text(MAPPING.read_text(encoding="utf-8").replace("code: GM0308", "code: GM0344"),
                                          encoding="utf-8")
    monkeypatch.setattr(running.state.settings, "sources_dir", tmp_path)
    sign_in(browser, running, make_person(), "en")
    page = browser.get("/staff/import?lang=en")
    assert '<option value="baarn.yaml">' in page.text and "utrecht.yaml" not in page.text
    refused = _upload(browser, _rows(REAL[:1]), saved="utrecht.yaml")
    assert refused.status_code == 422 and 'data-testid="error-saved_mapping">Choose one of the listed mappings.' in refused.text
    job_id = _job_id(_upload(browser, _rows(REAL[:1]), saved="baarn.yaml"))
    job = import_jobs.load_job(_root(running), job_id)
    assert job is not None and job.mapping_origin == "saved" and job.mapping_name == "baarn.yaml"


def test_a_run_cut_by_a_restart_reads_interrupted_and_runs_again_writing_only_what_is_missing(
    browser: TestClient, running: FastAPI, make_person: Any, index: Any, client: TestClient
) -> None:
    sign_in(browser, running, make_person(), "en")
    index()
    keys = ["bestuurlijke_vernieuwing-004", "bestuurlijke_vernieuwing-005"]
    job_id = _job_id(_upload(browser, _rows(keys, themes=()), MAPPING.read_bytes()))
    folder = _root(running) / job_id
    path = folder / "job.json"
    cut = {**json.loads(path.read_text(encoding="utf-8")), "state": "running", "runs": 1}
    path.write_text(json.dumps(cut), encoding="utf-8")
    (folder / "report.json").write_text(json.dumps({"dry_run": False, "complete": False, "rows": [], "progress": {
        "rows_with_operations": 2, "rows_settled": 1, "operations": 2, "operations_settled": 1}}), encoding="utf-8")

    fd = os.open(folder / "run.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a run going on (in some process of the server)
    try:
        page = browser.get(f"/staff/import/{job_id}?lang=en")
        assert 'data-settled="1" data-total="2">Running: 1 of 2 rows settled.' in page.text
        assert f'<a href="/staff/import/{job_id}?lang=en">Refresh</a>' in page.text
        assert 'data-testid="apply"' not in page.text
    finally:
        os.close(fd)  # the server is killed: the kernel drops its lock, job.json still says running

    page = browser.get(f"/staff/import/{job_id}?lang=en")
    assert 'data-testid="job-interrupted">Interrupted — run again (safe: only what is missing is written).' in page.text
    assert "The server stopped while the import ran." in page.text
    assert 'data-testid="apply">Run again</button>' in page.text
    left = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert left["complete"] is False and left["interrupted"] is True
    assert left["interruption"]["reason"] == "restart"
    assert left["interruption"]["at"] == int((folder / "report.json").stat().st_mtime) or left["interruption"]["at"] > 0
    job = _apply(browser, running, job_id)
    assert job.interruption is None and job.counts["applied"]["commitments"]["done"] == 2
    index()
    assert set(keys) <= _refs(client)


def test_an_ephemeral_token_stands_for_its_identity_until_revoked_or_expired_and_is_never_written(
    running: FastAPI, roles: Any
) -> None:
    registry = running.state.staff_registry
    before = registry.keys_file.read_bytes()
    identity = StaffIdentity(1, roles.registrar.address, roles.registrar.key)
    token = registry.issue_ephemeral(identity, 60, label="import-test")
    found = registry.authenticate(token)
    assert (found.municipality_id, found.registrar, found.token_id) == (1, roles.registrar.address, "import-test")
    registry.revoke_ephemeral(token)
    with pytest.raises(UnknownStaffTokenError):
        registry.authenticate(token)
    short = registry.issue_ephemeral(identity, 0.05)
    assert registry.authenticate(short).token_id.startswith("eph_")
    time.sleep(0.1)
    with pytest.raises(UnknownStaffTokenError):
        registry.authenticate(short)
    assert registry.keys_file.read_bytes() == before


def test_the_same_upload_form_sent_twice_is_one_job(
    browser: TestClient, running: FastAPI, make_person: Any, index: Any
) -> None:
    index()
    sign_in(browser, running, make_person())
    form = form_of(browser, "/staff/import?lang=en")
    files = [("csv", ("afspraken.csv", _rows(REAL[:1]), "text/csv")),
             ("mapping_file", ("baarn.yaml", MAPPING.read_bytes(), "application/yaml"))]
    data = {**form, "saved_mapping": ""}
    first = _job_id(browser.post("/staff/import?lang=en", data=data, files=files))
    second = _job_id(browser.post("/staff/import?lang=en", data=data, files=files))
    assert first == second
    assert [p.name for p in _root(running).iterdir() if p.name == first] == [first]


def test_a_dry_run_after_a_run_shows_the_ledger_as_it_is_now(
    browser: TestClient, running: FastAPI, make_person: Any, index: Any
) -> None:
    index()
    sign_in(browser, running, make_person())
    job_id = _job_id(_upload(browser, _rows(REAL[:2], themes=()), MAPPING.read_bytes()))
    _apply(browser, running, job_id)
    after_run = _actions(browser.get(f"/staff/import/{job_id}?lang=en").text)
    assert set(after_run.values()) <= {"written", "present"} and len(after_run) == 2
    index()
    again = browser.post(f"/staff/import/{job_id}/plan?lang=en", data=form_of(browser, f"/staff/import/{job_id}?lang=en"))
    assert again.status_code == 303
    page = browser.get(f"/staff/import/{job_id}?lang=en").text
    assert set(_actions(page).values()) == {"present"}
    job = import_jobs.load_job(_root(running), job_id)
    assert import_jobs.report_path(_root(running), job).name == "plan.json"


def test_a_big_plan_is_shown_a_page_of_rows_at_a_time_with_the_counts_of_all_rows(
    browser: TestClient, running: FastAPI, make_person: Any, index: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from frontend import workspace_import

    monkeypatch.setattr(workspace_import, "ROWS_PAGE_SIZE", 50)
    index()
    sign_in(browser, running, make_person())
    job_id = _job_id(_upload(browser, SOURCE.read_bytes(), MAPPING.read_bytes()))
    first = browser.get(f"/staff/import/{job_id}?lang=en").text
    total = len(SOURCE.read_text(encoding="utf-8").splitlines()) - 1
    assert f"of {total} rows.</p>" in first
    assert len(_actions(first)) == 50
    assert f'<p data-testid="rows-shown">Rows 1 to 50 of {total}.</p>' in first
    next_link = re.search(r'<a rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = browser.get(next_link).text
    assert f'<p data-testid="rows-shown">Rows 51 to 100 of {total}.</p>' in second
    assert not set(_actions(first)) & set(_actions(second))
    last = browser.get(f"/staff/import/{job_id}?lang=en&rows_from=999999").text
    assert f'<p data-testid="rows-shown">Rows 151 to {total} of {total}.</p>' in last
    assert 'rel="next"' not in last


def test_an_issuers_mapping_plans_only_the_signed_in_municipalitys_rows(
    browser: TestClient, running: FastAPI, make_person: Any, index: Any
) -> None:
    sign_in(browser, running, make_person(), "en")
    index()
    text = MAPPING.read_text(encoding="utf-8")
    block = re.search(r"^municipality:\n(?:  .*\n)+", text, re.MULTILINE)
    assert block is not None
    many = text.replace(block.group(0), "issuers:\n  column: gemeente\n  table:\n"
                        "    Baarn: {name: Baarn, code: GM0308}\n    Utrecht: {name: Utrecht, code: GM0344}\n")
    many = re.sub(r"  - column: gemeente\n    reason: .*\n", "", many)
    records = list(csv.reader(io.StringIO(_rows(REAL[:2]).decode("utf-8"))))
    records[2][records[0].index("gemeente")] = "Utrecht"  # REAL[1] becomes Utrecht's

    def as_csv(chosen: list[list[str]]) -> bytes:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(chosen)
        return out.getvalue().encode("utf-8")

    mixed = as_csv(records)
    job = import_jobs.load_job(_root(running), _job_id(_upload(browser, mixed, many.encode("utf-8"))))
    assert job is not None and job.plan_counts["commitments"] == 1
    page = browser.get(f"/staff/import/{job.id}?lang=en")
    assert _actions(page.text).get(REAL[0]) and REAL[1] not in _actions(page.text)  # Utrecht's row is not Baarn's to see

    refused = _upload(browser, as_csv([records[0], records[2]]), many.encode("utf-8"))
    assert refused.status_code == 403
    assert ('data-testid="error-mapping_file">The files hold no row of your municipality (GM0308) in the '
            "issuers column of the mapping: refused, nothing was stored.</p>") in refused.text
