"""Bulk imports in the staff workspace, under ``/staff/import`` (registrars of the account's
municipality only; each page in Dutch and English, complete without JavaScript):

- ``GET /staff/import``: the form (a saved mapping of the municipality, from
  ``settings.sources_dir``, or an uploaded mapping YAML; the CSV file(s) it reads) and the
  municipality's jobs;
- ``POST /staff/import`` (multipart): store the job and dry-run it (303 to its page); a
  refusal is shown at its field and nothing is stored: a mapping of another municipality
  (403), one that does not validate or a CSV that does not fit it (422);
- ``GET /staff/import/{job}``: the plan row by row (register, record a delivery, revoke,
  already on the ledger, skipped, invalid, and why), the run's progress (rows settled of
  rows, a plain "Refresh" link) and its outcome;
- ``POST /staff/import/{job}/apply``: run it (again) as the signed-in person;
  ``POST /staff/import/{job}/plan``: dry-run it again;
- ``GET /staff/import/{job}/report.json``: the importer's report (the last run's, else the
  dry run's), as a download.

Routes only do HTTP: jobs, plans and runs are :mod:`frontend.import_jobs` (the importer's own
code plans and applies); sessions, CSRF, roles and rendering are :mod:`frontend.workspace`'s.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from frontend import import_jobs as jobs
from frontend import staff_forms as forms
from frontend.web import internal_url, request_lang
from frontend.workspace import (
    SessionNow,
    WorkspaceForbidden,
    WorkspaceNotFound,
    check_csrf,
    page,
    require,
)
from ledger.accounts import REGISTRAR, StaffSession
from ledger.db import repository

router = APIRouter(prefix="/staff/import", include_in_schema=False)

JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


def _root(request: Request) -> FilePath:
    return jobs.imports_dir(request.app.state.settings.data_dir)


def _code(request: Request, municipality_id: int) -> str:
    with request.app.state.session_factory() as db:
        return repository.municipality_codes(db, [municipality_id]).get(municipality_id) or ""


def _redirect(request: Request, path: str) -> Response:
    return Response(status_code=303, headers={"Location": internal_url(path, request_lang(request).code)})


def _transport(request: Request, loop: asyncio.AbstractEventLoop) -> jobs.InProcessTransport:
    return jobs.InProcessTransport(request.app, loop)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _own_job(request: Request, session: StaffSession, job_id: str) -> jobs.Job:
    """The job, if of the account's municipality.

    Raises:
        WorkspaceNotFound: no such job. WorkspaceForbidden: another municipality's.
    """
    job = jobs.load_job(_root(request), job_id)
    if job is None:
        raise WorkspaceNotFound(job_id)
    if job.municipality_id != session.account.municipality_id:
        raise WorkspaceForbidden("otherMunicipality")
    return job


def _job_view(request: Request, job: jobs.Job) -> dict[str, Any]:
    lang = request_lang(request)
    return {**job.model_dump(), "created_text": lang.datetime(job.created_at), "updated_text": lang.datetime(job.updated_at),
            "state_text": lang.t(f"staff.import.state.{job.state}")}


# ------------------------------------------------------------------ the form


def _start_page(request: Request, session: StaffSession, *, status_code: int = 200,
                errors: dict[str, list[forms.FieldError]] | None = None, values: dict[str, Any] | None = None) -> Response:
    me = session.account
    saved = jobs.saved_mappings(request.app.state.settings.sources_dir, _code(request, me.municipality_id))
    listed = [_job_view(request, j) for j in jobs.list_jobs(_root(request), me.municipality_id)]
    return page(request, "import.html", title_key="staff.import.title", session=session, status_code=status_code,
                saved=saved, jobs=listed, errors=errors or {}, values=values or {},
                max_csv_mb=jobs.MAX_CSV_BYTES // (1024 * 1024))


@router.get("")
def import_page(request: Request, session: SessionNow) -> Response:
    """The upload form and the municipality's jobs."""
    require(session, REGISTRAR)
    return _start_page(request, session)


async def _read(upload: UploadFile, limit: int) -> jobs.Upload:
    """An uploaded file's name and bytes (at most ``limit`` + 1 read: more is refused later)."""
    return jobs.Upload(upload.filename or "", await upload.read(limit + 1))


def _files(form: FormData, name: str) -> list[UploadFile]:
    return [f for f in form.getlist(name) if isinstance(f, UploadFile) and (f.filename or f.size)]


@router.post("")
async def upload(request: Request, session: SessionNow) -> Response:
    """Store the job of the form and dry-run it (303 to its page), or show why not (422)."""
    form = await request.form(max_files=jobs.MAX_CSV_FILES + 2, max_fields=20, max_part_size=64 * 1024)
    try:
        check_csrf(request, form, session)
        require(session, REGISTRAR)
        csv_files = [await _read(f, jobs.MAX_CSV_BYTES) for f in _files(form, "csv")]
        mapping_files = [await _read(f, jobs.MAX_MAPPING_BYTES) for f in _files(form, "mapping_file")]
        loop = asyncio.get_running_loop()
        return await run_in_threadpool(_upload, request, session, forms.text(form, "saved_mapping").strip(),
                                       mapping_files, csv_files, loop, forms.text(form, "form_key"))
    finally:
        await form.close()


def _upload(request: Request, session: StaffSession, saved_name: str, mapping_files: list[jobs.Upload],
            csv_files: list[jobs.Upload], loop: asyncio.AbstractEventLoop, form_key: str) -> Response:
    me = session.account
    values = {"saved_mapping": saved_name}
    code = _code(request, me.municipality_id)
    try:
        saved = None
        if saved_name and mapping_files:
            raise jobs.JobInputError("mapping_file", "import.mappingTwice")
        if not saved_name and not mapping_files:
            raise jobs.JobInputError("saved_mapping", "import.mappingNeeded")
        if saved_name:
            saved = next((m for m in jobs.saved_mappings(request.app.state.settings.sources_dir, code)
                          if m.name == saved_name), None)
            if saved is None:
                raise jobs.JobInputError("saved_mapping", "import.savedUnknown")
        job = jobs.create_job(_root(request), municipality_id=me.municipality_id, municipality_code=code,
                              account_id=me.id, created_by=me.display_name, csv_files=csv_files, saved=saved,
                              uploaded_mapping=mapping_files[0] if mapping_files else None,
                              job_id=jobs.form_job_id(me.id, form_key))  # the form sent twice: one job
    except jobs.JobInputError as exc:
        error = forms.FieldError(exc.field, exc.code, exc.params)
        status = 403 if exc.code in ("import.otherMunicipality", "import.noRowsOfYours") else 422  # not yours / not valid
        return _start_page(request, session, status_code=status, errors=forms.by_field([error]), values=values)
    if job.state == "planned" and jobs.report_path(_root(request), job) is None:  # not dry-run yet
        jobs.dry_run(_root(request), job, _transport(request, loop), _base_url(request))
    return _redirect(request, f"/staff/import/{job.id}")


# ------------------------------------------------------------------ a job


def _op_view(request: Request, op: jobs.OperationView) -> dict[str, Any]:
    lang = request_lang(request)
    return {"kind": op.kind, "outcome": op.outcome, "kind_text": lang.t(f"staff.import.op.{op.kind}"),
            "outcome_text": lang.t(f"staff.import.result.{op.outcome}"), "detail": op.detail,
            "warnings": list(op.warnings), "ledger_id": op.ledger_id}


ROWS_PAGE_SIZE = 200
"""Rows of a job's plan shown on one page (a 10,000-row source made a 3.4 MB page)."""


@router.get("/{job_id}")
def job_page(request: Request, job_id: JobId, session: SessionNow,
             rows_from: Annotated[int, Query(ge=0, le=10**9)] = 0) -> Response:
    """The job: its plan row by row (:data:`ROWS_PAGE_SIZE` rows a page from row
    ``rows_from``, 0-based, with links to the pages around it) with what happened to each row
    so far, its progress and outcome, and the buttons to run it (again) and to plan it again.
    The counts above the rows are of all rows."""
    require(session, REGISTRAR)
    lang = request_lang(request)
    job = _own_job(request, session, job_id)
    report = jobs.report_of(_root(request), job)
    rows = jobs.rows_of(jobs.plan_of(_root(request), job), report)
    start = min(rows_from, max(0, (len(rows) - 1) // ROWS_PAGE_SIZE * ROWS_PAGE_SIZE))
    shown = [{"file": r.file, "line": r.line, "key": r.key, "action": r.action,
              "action_text": lang.t(f"staff.import.action.{r.action}"), "reason": r.reason, "warnings": list(r.warnings),
              "cleaned": r.cleaned, "operations": [_op_view(request, op) for op in r.operations]}
             for r in rows[start:start + ROWS_PAGE_SIZE]]
    by_action = Counter(r.action for r in rows)
    outcomes = Counter(op.outcome for r in rows for op in r.operations)
    progress = (report or {}).get("progress") or {}
    ledger = (report or {}).get("ledger") or {}
    return page(request, "import_job.html", title_key="staff.import.job.title", session=session,
                job=_job_view(request, job), rows=shown, rows_total=len(rows), rows_start=start,
                rows_prev=start - ROWS_PAGE_SIZE if start > 0 else None,
                rows_next=start + ROWS_PAGE_SIZE if start + ROWS_PAGE_SIZE < len(rows) else None,
                by_action=by_action, outcomes=outcomes,
                is_run=bool(report) and not report.get("dry_run"), progress=progress,
                ledger_error=ledger.get("error"), ledger_warnings=list(ledger.get("warnings") or []),
                interruption_text=(lang.t(f"staff.import.interrupted.{job.interruption.reason}")
                                   if job.interruption else None))


@router.post("/{job_id}/apply")
async def apply(request: Request, job_id: JobId, session: SessionNow) -> Response:
    """Run the job (again) as the signed-in person, in the background (303 to its page)."""
    form = await request.form()
    check_csrf(request, form, session)
    require(session, REGISTRAR)
    loop = asyncio.get_running_loop()
    return await run_in_threadpool(_apply, request, session, job_id, loop)


def _apply(request: Request, session: StaffSession, job_id: str, loop: asyncio.AbstractEventLoop) -> Response:
    job = _own_job(request, session, job_id)
    account = session.account
    if not account.signer:
        raise WorkspaceForbidden("noSigner")
    identity = request.app.state.staff_registry.signing_identity(account.municipality_id, account.signer, account.roles)
    jobs.start_run(_root(request), job, account_id=account.id, identity=identity,
                   registry=request.app.state.staff_registry, transport=_transport(request, loop),
                   base_url=_base_url(request))  # False: it runs already; its page shows that
    return _redirect(request, f"/staff/import/{job.id}")


@router.post("/{job_id}/plan")
async def plan_again(request: Request, job_id: JobId, session: SessionNow) -> Response:
    """Dry-run the job again against the ledger as it is now (not while it runs)."""
    form = await request.form()
    check_csrf(request, form, session)
    require(session, REGISTRAR)
    loop = asyncio.get_running_loop()
    return await run_in_threadpool(_plan_again, request, session, job_id, loop)


def _plan_again(request: Request, session: StaffSession, job_id: str, loop: asyncio.AbstractEventLoop) -> Response:
    job = _own_job(request, session, job_id)
    if job.state != "running":
        jobs.dry_run(_root(request), job, _transport(request, loop), _base_url(request))
    return _redirect(request, f"/staff/import/{job.id}")


@router.get("/{job_id}/report.json")
def report_download(request: Request, job_id: JobId, session: SessionNow) -> Response:
    """The importer's JSON report of the job (the last run's, else the dry run's)."""
    require(session, REGISTRAR)
    job = _own_job(request, session, job_id)
    path = jobs.report_path(_root(request), job)
    if path is None:
        raise WorkspaceNotFound(job_id)
    return Response(path.read_bytes(), media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="import-{job.id}-{path.stem}.json"', "Cache-Control": "no-store"})


__all__ = ["router"]
