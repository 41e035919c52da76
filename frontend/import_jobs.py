"""Bulk imports of the staff workspace: each job's inputs, plan and report in a folder of its
own, and the run that applies it, all done by the importer's own code (``scripts.importer``:
`load_mapping`/`parse_mapping`, `plan_source`, `check_municipality`, `wait_until_indexed`,
`read_state`, `apply_plan`, `build_report`, `write_report`), never planned here.

A job's folder is ``<settings.data_dir>/imports/<job id>/`` (job id: 32 random lowercase hex):

- ``job.json``: the job (:class:`Job`), rewritten atomically (temporary file, ``os.replace``);
- ``mapping.yaml``: the mapping, as uploaded or copied from the saved one;
- ``data/<path>``: each CSV file at the path the mapping names for it, so
  ``plan_source(mapping, <folder>/data)`` reads exactly what was uploaded;
- ``plan.json``: the dry run (the importer's report with ``"dry_run": true``): the plan
  compared with the ledger when the job was made (or planned again);
- ``report.json``: the report of the last run, rewritten as it goes (``"complete": false``,
  its ``progress`` counting the rows settled), at the end with ``"complete": true``;
- ``run.lock``: locked (``flock``, exclusive) by the process whose thread runs the job, for as
  long as it runs.

States (``Job.state``): ``planned`` (stored and dry-run, nothing written) → ``running`` →
``done`` (the importer went through every row; some may have failed) or ``interrupted`` (the
run ended early: ``Job.interruption`` says why). ``done`` and ``interrupted`` jobs may run
again: the importer writes only what the ledger is missing, so that is always safe.

A restart: the inputs are on disk before the upload is answered, so nothing submitted is
lost. A run cut by a restart (or a crash of the process) leaves ``job.json`` saying
``running`` while nobody holds ``run.lock`` (the kernel drops a dead process's lock): the
next read (:func:`load_job`) records it as ``interrupted`` (reason ``restart``). Several API
processes share the folder safely: the lock, not memory, says whether a job runs.

The importer speaks HTTP to the API (`scripts.importer.client.LedgerClient`); here through
:class:`InProcessTransport`, which serves each request by the API app itself on the server's
event loop (all middleware, authentication and the write outbox included, no network), as
the signed-in person: an ephemeral bearer token of ``StaffRegistry.issue_ephemeral`` for
their signing identity, ended when the run ends.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import formatdate
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import httpx
import yaml
from pydantic import BaseModel, Field

from scripts.importer.apply import ApplyResult, apply_plan, check_municipality, find_municipality, wait_until_indexed
from scripts.importer.client import MAX_BATCH_SIZE, LedgerClient
from scripts.importer.errors import ImporterError, IndexerLagError, MappingError, SourceDataError
from scripts.importer.mapping import CommitmentsMapping, ProgressSnapshotsMapping, load_mapping, load_yaml, parse_mapping
from scripts.importer.plan import Plan, RecordDelivery, RegisterCommitment
from scripts.importer.issuers import for_code, names_issuer
from scripts.importer.pipeline import DEFAULT_WINDOW
from scripts.importer.reimport import needs_texts
from scripts.importer.planner import plan_source
from scripts.importer.report import build_report, summary, write_report
from scripts.importer.state import LedgerState, read_state

logger = logging.getLogger("frontend.import_jobs")

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
"""A job id: 32 lowercase hex (16 random bytes)."""

State = Literal["planned", "running", "done", "interrupted"]

MAX_CSV_BYTES = 20 * 1024 * 1024
"""Most bytes of one uploaded CSV file."""

MAX_MAPPING_BYTES = 256 * 1024
"""Most bytes of an uploaded mapping."""

MAX_CSV_FILES = 10
"""Most CSV files of one job (a progress-snapshots mapping reads several)."""

MAX_IN_FLIGHT = DEFAULT_WINDOW
"""Writes a run keeps unconfirmed at once, as the command line does (``--max-in-flight``)."""

TOKEN_TTL_SECONDS = 6 * 3600
"""Lifetime of a run's ephemeral token, seconds (it is ended sooner, when the run ends)."""

REQUEST_TIMEOUT_SECONDS = 180.0
"""Most time one in-process request may take (a write is held at most ``Prefer: wait``)."""

REPORT_INTERVAL_SECONDS = 0.5
"""A run's report is rewritten at most this often while it goes (and always at the end)."""

REPORT_TIME_SHARE_INVERSE = 4
"""…and no sooner than this many times as long as its last rewrite took after it: a run spends
at most a fifth of its time rewriting its report (a 10,000-row report took a large share of a
run that slowed from about 100 to 8 rows a second)."""

Mapping = CommitmentsMapping | ProgressSnapshotsMapping


class JobInputError(ValueError):
    """An upload refused (nothing stored): the form field it concerns and the message's code
    (the text key below ``staff.error.``) with its values.

    Attributes:
        field: ``saved_mapping``, ``mapping_file`` or ``csv``.
        code: e.g. ``import.otherMunicipality``.
        params: the values the message names.
    """

    def __init__(self, field_name: str, message_code: str, /, **params: Any) -> None:
        super().__init__(f"{field_name}: {message_code} {params}")
        self.field = field_name
        self.code = message_code
        self.params = params


class Interruption(BaseModel):
    """Why a run ended early: ``reason`` (``restart``, ``refused``, ``consecutive-failures``,
    ``crash``), ``detail`` (the importer's message, English) and ``at`` (Unix seconds)."""

    reason: str
    detail: str = ""
    at: int


class Job(BaseModel):
    """One bulk import, as ``job.json`` holds it.

    Attributes:
        id: 32 lowercase hex.
        municipality_id, municipality_code: whose job it is (only that municipality's staff
            see or run it).
        account_id, created_by: the staff account that uploaded it, and its display name.
        created_at, updated_at: Unix seconds.
        state: ``planned``, ``running``, ``done`` or ``interrupted``.
        mapping_name: the saved mapping's file name or the uploaded file's name.
        mapping_origin: ``saved`` or ``uploaded``.
        source_name: the mapping's ``source.name`` (credit).
        files: the CSV files the mapping reads, relative to ``data/``.
        plan_counts: ``Plan.counts()`` (rows, planned, skipped, invalid, ... operations).
        counts: the last run's (or the dry run's) ``summary``: ``applied`` ``{kind: {outcome:
            n}}``, ``failed_rows``; and ``progress`` of the report.
        runs: how many times it was started.
        started_by: account id of who started the last run.
        interruption: why the last run ended early, or None.
    """

    id: str
    municipality_id: int
    municipality_code: str
    account_id: int
    created_by: str = ""
    created_at: int
    updated_at: int
    state: State = "planned"
    mapping_name: str
    mapping_origin: Literal["saved", "uploaded"]
    source_name: str = ""
    files: list[str] = Field(default_factory=list)
    plan_counts: dict[str, int] = Field(default_factory=dict)
    counts: dict[str, Any] = Field(default_factory=dict)
    runs: int = 0
    started_by: int | None = None
    interruption: Interruption | None = None


@dataclass(frozen=True)
class SavedMapping:
    """A mapping of ``settings.sources_dir`` that validates: its file ``name``, ``path``, and
    the ``source`` it credits and the ``files`` it reads."""

    name: str
    path: Path
    source: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class Upload:
    """An uploaded file: the name the browser gave and its bytes."""

    filename: str
    content: bytes


# ------------------------------------------------------------------ folders


def imports_dir(data_dir: Path) -> Path:
    """``<data_dir>/imports``: where the jobs' folders are."""
    return Path(data_dir) / "imports"


def _job_dir(root: Path, job_id: str) -> Path:
    if not JOB_ID.match(job_id):
        raise ValueError(f"not a job id: {job_id!r}")
    return root / job_id


def _now() -> int:
    return int(time.time())


def _write_json(path: Path, data: Any) -> None:
    """Write ``data`` as UTF-8 JSON atomically (``<name>.tmp`` then ``os.replace``)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _save(root: Path, job: Job) -> None:
    job.updated_at = _now()
    _write_json(_job_dir(root, job.id) / "job.json", job.model_dump(mode="json"))


def _read(root: Path, job_id: str) -> Job | None:
    try:
        return Job.model_validate_json((_job_dir(root, job_id) / "job.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none (yet), or not a job's file
        return None


# ------------------------------------------------------------------ saved mappings


def saved_mappings(sources_dir: Path, municipality_code: str) -> list[SavedMapping]:
    """The mappings of ``sources_dir`` (``*.yaml``, by name) that may hold rows of
    ``municipality_code`` (their ``municipality``, or an issuer of their ``issuers`` block:
    `scripts.importer.issuers.names_issuer`) and that validate (a broken one is not offered)."""
    found = []
    for path in sorted(Path(sources_dir).glob("*.yaml")):
        try:
            mapping = load_mapping(path)
        except MappingError:
            continue
        if names_issuer(mapping, municipality_code):
            found.append(SavedMapping(path.name, path, mapping.source.name, tuple(mapping.files())))
    return found


# ------------------------------------------------------------------ making a job


def _parse(text: bytes, origin: str) -> Mapping:
    """The mapping of an upload (YAML).

    Raises:
        JobInputError: ``import.mappingInvalid`` with the importer's problems.
    """
    try:
        data = load_yaml(text.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise JobInputError("mapping_file", "import.mappingInvalid", detail=f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise JobInputError("mapping_file", "import.mappingInvalid", detail="the document must be a mapping with a 'kind' key")
    try:
        return parse_mapping(data, origin=origin)
    except MappingError as exc:
        raise JobInputError("mapping_file", "import.mappingInvalid", detail="; ".join(exc.problems)) from None


def _place(mapping: Mapping, csv_files: Sequence[Upload]) -> dict[str, bytes]:
    """Each file the mapping reads → the uploaded bytes for it: a mapping of one file takes
    the one upload whatever its name; several are matched by file name.

    Raises:
        JobInputError: ``import.csvNeeded`` / ``import.csvUnknown`` / ``import.tooLarge``.
    """
    wanted = mapping.files()
    names = ", ".join(PurePosixPath(f).name for f in wanted)
    if not csv_files:
        raise JobInputError("csv", "import.csvNeeded", files=names)
    if len(csv_files) > MAX_CSV_FILES:
        raise JobInputError("csv", "import.csvUnknown", name=csv_files[MAX_CSV_FILES].filename, files=names)
    for upload in csv_files:
        if len(upload.content) > MAX_CSV_BYTES:
            raise JobInputError("csv", "import.tooLarge", max_bytes=MAX_CSV_BYTES)
    if len(wanted) == 1 and len(csv_files) == 1:
        return {wanted[0]: csv_files[0].content}
    by_name = {PurePosixPath(f).name: f for f in wanted}
    placed: dict[str, bytes] = {}
    for upload in csv_files:
        target = by_name.get(PurePosixPath(upload.filename.replace("\\", "/")).name)
        if target is None:
            raise JobInputError("csv", "import.csvUnknown", name=upload.filename, files=names)
        placed[target] = upload.content
    missing = [PurePosixPath(f).name for f in wanted if f not in placed]
    if missing:
        raise JobInputError("csv", "import.csvNeeded", files=", ".join(missing))
    return placed


def create_job(
    root: Path,
    *,
    municipality_id: int,
    municipality_code: str,
    account_id: int,
    created_by: str,
    csv_files: Sequence[Upload],
    saved: SavedMapping | None = None,
    uploaded_mapping: Upload | None = None,
    job_id: str | None = None,
) -> Job:
    """Store a new job (state ``planned``): its mapping and CSV files, checked first.

    Exactly one of ``saved`` and ``uploaded_mapping``. The mapping must be of
    ``municipality_code``; the CSV files must be the ones it reads and fit it (the importer
    plans them here once, from the stored files, so a file it cannot read is refused now).
    ``job_id`` (32 lowercase hex; default: random) names the job: when a job of that id
    exists already (the same form sent twice: :func:`form_job_id`), it is returned as it is
    and nothing is stored again.

    Raises:
        JobInputError: what is refused, at its field; nothing is stored then.
    """
    field_name = "saved_mapping" if saved is not None else "mapping_file"
    if saved is not None:
        text = saved.path.read_bytes()
        name = saved.name
        try:
            mapping: Mapping = load_mapping(saved.path)
        except MappingError as exc:
            raise JobInputError(field_name, "import.mappingInvalid", detail="; ".join(exc.problems)) from None
    else:
        assert uploaded_mapping is not None
        if len(uploaded_mapping.content) > MAX_MAPPING_BYTES:
            raise JobInputError(field_name, "import.tooLarge", max_bytes=MAX_MAPPING_BYTES)
        text = uploaded_mapping.content
        name = PurePosixPath(uploaded_mapping.filename.replace("\\", "/")).name or "mapping.yaml"
        mapping = _parse(text, name)
    if not names_issuer(mapping, municipality_code):
        other = mapping.municipality or (mapping.issuers.named() or [None])[0]  # type: ignore[union-attr]
        raise JobInputError(field_name, "import.otherMunicipality", code=getattr(other, "code", ""),
                            name=getattr(other, "name", ""))
    placed = _place(mapping, csv_files)
    root.mkdir(parents=True, exist_ok=True)
    job_id = job_id or secrets.token_hex(16)
    existing = load_job(root, job_id) if (root / job_id).is_dir() else None
    if existing is not None:
        return existing
    staging = root / f".new-{job_id}"
    try:
        (staging / "data").mkdir(parents=True)
        (staging / "mapping.yaml").write_bytes(text)
        for relative, content in placed.items():
            target = staging / "data" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        try:
            mine = for_code(mapping, municipality_code, staging / "data")
            if mine is None:  # an issuers mapping whose files hold no row of this municipality
                raise JobInputError(field_name, "import.noRowsOfYours", code=municipality_code)
            plan = plan_source(mine, staging / "data")
        except SourceDataError as exc:
            raise JobInputError("csv", "import.csvInvalid", detail=str(exc)) from None
        now = _now()
        job = Job(id=job_id, municipality_id=municipality_id, municipality_code=municipality_code,
                  account_id=account_id, created_by=created_by, created_at=now, updated_at=now,
                  mapping_name=name, mapping_origin="saved" if saved is not None else "uploaded",
                  source_name=mapping.source.name, files=list(mapping.files()), plan_counts=plan.counts())
        _write_json(staging / "job.json", job.model_dump(mode="json"))
        try:
            os.replace(staging, root / job_id)
        except OSError:  # the same form's other request stored it a moment ago
            shutil.rmtree(staging, ignore_errors=True)
            existing = load_job(root, job_id)
            if existing is None:
                raise
            return existing
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return job


def form_job_id(account_id: int, form_key: str) -> str | None:
    """The job id of an upload form (its hidden ``form_key``) sent by ``account_id``: the same
    form sent twice (a double click, a reload) names one job. ``None`` for a form without a
    valid key (then the job's id is random)."""
    if not form_key or len(form_key) > 64 or not form_key.isalnum():
        return None
    return hashlib.sha256(f"{account_id}:{form_key}".encode("utf-8")).hexdigest()[:32]


# ------------------------------------------------------------------ reading jobs


def _lock_held(job_dir: Path) -> bool:
    """Whether some process holds the job's ``run.lock`` (its run goes on)."""
    try:
        fd = os.open(job_dir / "run.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the lock just taken
    return False


def load_job(root: Path, job_id: str) -> Job | None:
    """The job ``job_id`` (None: no such job, or not a job id). A job ``running`` whose lock
    nobody holds was cut by a restart: recorded ``interrupted`` (reason ``restart``) now."""
    if not JOB_ID.match(job_id):
        return None
    job = _read(root, job_id)
    if job is not None and job.state == "running" and not _lock_held(_job_dir(root, job_id)):
        job = _read(root, job_id) or job  # the run may have just finished
        if job.state == "running":
            report_file = _job_dir(root, job_id) / "report.json"
            try:  # the report's last rewrite is when the run was last seen going
                last_seen = int(report_file.stat().st_mtime)
            except OSError:
                last_seen = _now()
            job.state = "interrupted"
            job.interruption = Interruption(reason="restart", detail="", at=last_seen)
            _save(root, job)
            _mark_report_interrupted(report_file, "restart", last_seen)
    return job


def _mark_report_interrupted(report_file: Path, reason: str, at: int) -> None:
    """Make a report a killed run left say so, as the importer's own reports do
    (``"interrupted": true``, ``"interruption"``: the reason); a missing or unreadable report
    is left alone."""
    try:
        report = json.loads(report_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(report, dict) or report.get("complete"):
        return
    report["interrupted"] = True
    report["interruption"] = {"reason": reason, "detail": "the server stopped while the run went on; run it again",
                              "at": at}
    _write_json(report_file, report)


def list_jobs(root: Path, municipality_id: int, limit: int = 20) -> list[Job]:
    """The municipality's jobs, newest first, at most ``limit``."""
    jobs = []
    if root.is_dir():
        for path in root.iterdir():
            if JOB_ID.match(path.name):
                job = load_job(root, path.name)
                if job is not None and job.municipality_id == municipality_id:
                    jobs.append(job)
    return sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True)[:limit]


def plan_of(root: Path, job: Job) -> Plan:
    """The job's plan, computed again by the importer from its stored files (pure)."""
    job_dir = _job_dir(root, job.id)
    mapping = for_code(load_mapping(job_dir / "mapping.yaml"), job.municipality_code, job_dir / "data")
    if mapping is None:  # the job was made from these very files: they named the issuer then
        raise SourceDataError(job.mapping_name, f"the job's files no longer hold rows of {job.municipality_code}")
    return plan_source(mapping, job_dir / "data")


def report_of(root: Path, job: Job) -> dict[str, Any] | None:
    """The newest of the last run's report (``report.json``) and the dry run's
    (``plan.json``): a dry run made after a run shows the ledger as it is now. None if
    neither is there (or readable)."""
    path = report_path(root, job)
    if path is None:
        return None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def report_path(root: Path, job: Job) -> Path | None:
    """The file :func:`report_of` reads: of ``report.json`` and ``plan.json``, the one written
    last (by modification time, nanoseconds; a tie: the run's), or None."""
    job_dir = _job_dir(root, job.id)
    found = []
    for rank, name in enumerate(("report.json", "plan.json")):
        try:
            found.append((job_dir.joinpath(name).stat().st_mtime_ns, -rank, job_dir / name))
        except OSError:
            continue
    return max(found)[2] if found else None


# ------------------------------------------------------------------ rows as the page shows them


@dataclass(frozen=True)
class OperationView:
    """One planned operation of a row: ``kind`` (``register``, ``deliver``, ``revoke``),
    ``outcome`` (``planned``: not settled yet, or the importer's ``would_do``,
    ``already_present``, ``done``, ``failed``, ``blocked``), its ``detail`` and ``warnings``
    (the importer's words, English) and ``ledger_id``."""

    kind: str
    outcome: str
    detail: str | None
    warnings: tuple[str, ...]
    ledger_id: Any


@dataclass(frozen=True)
class RowView:
    """One CSV row: where (``file``, ``line``), its ``key``, the ``action`` (``skip``,
    ``invalid``, ``unchanged``, ``present``: all already on the ledger, or the kind of the
    first operation still to write: ``register``, ``deliver``, ``revoke``; ``written``: every
    operation done by the run shown, or already there), ``reason`` (the
    mapping's or the importer's words), its warnings and operations."""

    file: str
    line: int
    key: str
    action: str
    reason: str | None
    warnings: tuple[str, ...]
    cleaned: int
    operations: tuple[OperationView, ...] = field(default=())


_KINDS = {RegisterCommitment: "register", RecordDelivery: "deliver"}


def rows_of(plan: Plan, report: dict[str, Any] | None) -> list[RowView]:
    """The rows of ``plan`` with the outcomes ``report`` (the importer's, of the same plan)
    gives their operations."""
    entries = list((report or {}).get("rows") or [])
    views = []
    for n, row in enumerate(plan.report):
        entry = entries[n] if n < len(entries) else {}
        reported = list(entry.get("operations") or [])
        ops = []
        for k, index in enumerate(row.operations):
            got = reported[k] if k < len(reported) else {}
            ops.append(OperationView(_KINDS.get(type(plan.operations[index]), "revoke"), str(got.get("outcome") or "planned"),
                                     got.get("detail"), tuple(got.get("warnings") or ()), got.get("ledger_id")))
        if row.outcome == "skipped":
            action = "skip"
        elif row.outcome in ("invalid", "unchanged"):
            action = row.outcome
        elif ops and all(op.outcome == "already_present" for op in ops):
            action = "present"
        elif ops and all(op.outcome in ("done", "already_present") for op in ops):
            action = "written"
        else:
            action = next((op.kind for op in ops if op.outcome != "already_present"), "present")
        views.append(RowView(row.file, row.line, row.key, action, row.reason, tuple(row.warnings), len(row.cleaned),
                             tuple(ops)))
    return views


# ------------------------------------------------------------------ the importer's HTTP, in process


class InProcessTransport(httpx.BaseTransport):
    """A synchronous httpx transport that serves each request by the ASGI ``app`` on the
    server's event loop ``loop`` (from another thread: a job's run, a request's worker
    thread), so the importer's client goes through the whole API (middleware, staff
    authentication, the write outbox) without a network or a base URL to configure.

    A failure to reach the loop (the server is stopping) or a request over
    ``timeout_seconds`` is an ``httpx.TransportError``, which the importer retries. Answers
    carry a ``Date`` header (the server's clock), as an HTTP server adds one: the importer
    tells an earlier run's write from its own by it.
    """

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop, timeout_seconds: float = REQUEST_TIMEOUT_SECONDS) -> None:
        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("127.0.0.1", 0))
        self._loop = loop
        self._timeout = timeout_seconds

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        inner = httpx.Request(request.method, request.url, headers=request.headers, content=request.read())

        async def serve() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            response = await self._asgi.handle_async_request(inner)
            body = b"".join([chunk async for chunk in response.aiter_raw()])
            return response.status_code, response.headers.raw, body

        try:
            future = asyncio.run_coroutine_threadsafe(serve(), self._loop)
        except RuntimeError as exc:  # the loop is closed: the server stops
            raise httpx.ConnectError(f"the API is stopping: {exc}", request=request) from None
        try:
            status, raw_headers, body = future.result(self._timeout)
        except TimeoutError:
            future.cancel()
            raise httpx.ReadTimeout(f"no answer within {self._timeout:.0f} s", request=request) from None
        headers = httpx.Headers(raw_headers)
        if "date" not in headers:
            headers["Date"] = formatdate(usegmt=True)
        return httpx.Response(status, headers=headers, content=body, request=request)


# ------------------------------------------------------------------ dry run


def _against_ledger(plan: Plan, client: LedgerClient, municipality_id: int, ledger: dict[str, Any]) -> LedgerState | None:
    """What the ledger holds for the plan (public reads), or None when it cannot be read
    (``ledger["error"]`` says why: unreachable, or the mapping's code names another
    municipality than ``municipality_id``); lag of the indexer is a warning, as in the CLI's
    dry run."""
    mapping = plan.mapping
    try:
        municipality = find_municipality(client, mapping.issuer)
        if int(municipality["id"]) != municipality_id:
            ledger["error"] = (f"the ledger's municipality with code {mapping.issuer.code!r} is number "
                               f"{municipality['id']}, not {municipality_id}")
            return None
        ledger["municipality"] = {k: municipality.get(k) for k in ("id", "name", "code")}
        try:
            ledger["health"] = wait_until_indexed(client, timeout_seconds=0, poll_interval_seconds=0)
        except IndexerLagError as exc:
            ledger.setdefault("warnings", []).append(f"{exc} (dry run: comparing with a possibly stale state)")
        wanted = {op.commitment_ref for op in (*plan.deliveries, *plan.revocations)}
        return read_state(client, municipality_id, with_deliveries=wanted)
    except ImporterError as exc:
        ledger["error"] = str(exc)
        return None


def dry_run(root: Path, job: Job, transport: httpx.BaseTransport, base_url: str, batch_size: int = MAX_BATCH_SIZE) -> Job:
    """Plan the job against the ledger, writing nothing (the importer's ``--dry-run``): its
    ``plan.json`` and ``counts`` rewritten. A ledger that cannot be read leaves every
    operation ``would_do`` and says why (``ledger.error`` of the report)."""
    job_dir = _job_dir(root, job.id)
    plan = plan_of(root, job)
    ledger: dict[str, Any] = {}
    with LedgerClient(base_url, None, transport=transport, max_attempts=2, max_retry_seconds=10) as client:
        state = _against_ledger(plan, client, job.municipality_id, ledger)
    result = apply_plan(plan, None, state, dry_run=True, batch_size=batch_size)
    report = build_report(plan, result, mapping_path=job.mapping_name, data_dir="(uploaded with the job)",
                          api_url="in-process", dry_run=True, ledger=ledger, batch_size=batch_size)
    write_report(report, job_dir / "plan.json")
    job.counts = {**summary(plan, result), "progress": report["progress"]}
    _save(root, job)
    return job


# ------------------------------------------------------------------ the run


class _Report:
    """The run's report as it goes: rewritten (atomically, the importer's `write_report`)
    after results came, at most every `REPORT_INTERVAL_SECONDS` and no sooner than
    `REPORT_TIME_SHARE_INVERSE` times its last rewrite took, and at the end."""

    def __init__(self, plan: Plan, path: Path, ledger: dict[str, Any], header: dict[str, Any]) -> None:
        self.plan, self.path, self.ledger, self.header = plan, path, ledger, header
        self.result: ApplyResult | None = None
        self._dirty = False
        self._saved_at = float("-inf")
        self._gap = REPORT_INTERVAL_SECONDS

    def update(self, result: ApplyResult) -> None:
        self.result = result
        self._dirty = True

    def flush(self) -> None:
        if self._dirty and time.monotonic() - self._saved_at >= self._gap:
            self.save()

    def save(self, *, complete: bool = False, interruption: dict[str, Any] | None = None) -> dict[str, Any]:
        self._dirty = False
        started = time.monotonic()
        report = build_report(self.plan, self.result, ledger=self.ledger, complete=complete, interruption=interruption,
                              **self.header)
        write_report(report, self.path)
        self._saved_at = time.monotonic()
        # a big source's report takes long to build and write: rewrite it at most a fifth of the time
        self._gap = max(REPORT_INTERVAL_SECONDS, REPORT_TIME_SHARE_INVERSE * (self._saved_at - started))
        return report


def start_run(
    root: Path,
    job: Job,
    *,
    account_id: int,
    identity: Any,
    registry: Any,
    transport: httpx.BaseTransport,
    base_url: str,
    batch_size: int = MAX_BATCH_SIZE,
    sync_timeout_seconds: float = 60.0,
) -> bool:
    """Start the job's run in a thread of its own (the importer applies the plan as
    ``identity``, through an ephemeral token of ``registry``); return at once.

    Returns:
        False if it runs already (in any process), True once started (``job.json`` says
        ``running``).
    """
    job_dir = _job_dir(root, job.id)
    fd = os.open(job_dir / "run.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    try:
        current = _read(root, job.id) or job
        current.state, current.interruption = "running", None
        current.runs += 1
        current.started_by = account_id
        _save(root, current)
        thread = threading.Thread(target=_run, name=f"import-{job.id[:8]}", daemon=True,
                                  args=(root, current, fd, identity, registry, transport, base_url, batch_size,
                                        sync_timeout_seconds))
        thread.start()
    except BaseException:
        os.close(fd)
        raise
    return True


def _run(root: Path, job: Job, fd: int, identity: Any, registry: Any, transport: httpx.BaseTransport, base_url: str,
         batch_size: int, sync_timeout_seconds: float) -> None:
    """The run (the CLI's, without its terminal): check the token's municipality, wait for
    the indexer, read the ledger, apply what is missing; the report rewritten as it goes.
    Always ends the token, records the job ``done`` or ``interrupted``, and releases the lock."""
    job_dir = _job_dir(root, job.id)
    token = None
    report: _Report | None = None
    try:
        plan = plan_of(root, job)
        ledger: dict[str, Any] = {}
        report = _Report(plan, job_dir / "report.json", ledger, dict(
            mapping_path=job.mapping_name, data_dir="(uploaded with the job)", api_url="in-process", dry_run=False,
            batch_size=batch_size))
        report.save()
        token = registry.issue_ephemeral(identity, TOKEN_TTL_SECONDS, label=f"import-{job.id[:16]}")
        with LedgerClient(base_url, token, transport=transport, max_attempts=100, max_retry_seconds=60.0,
                          max_consecutive_failures=5, write_wait_seconds=10, write_timeout_seconds=300.0,
                          idempotency_namespace=plan.mapping.issuer.code, before_request=report.flush) as client:
            municipality = check_municipality(client, plan.mapping.issuer)
            ledger["municipality"] = {k: municipality.get(k) for k in ("id", "name", "code")}
            ledger["health"] = wait_until_indexed(client, timeout_seconds=sync_timeout_seconds, poll_interval_seconds=0.5)
            wanted = {op.commitment_ref for op in (*plan.deliveries, *plan.revocations)}
            texts = {op.external_ref for op in plan.commitments} if needs_texts(plan.mapping) else set()
            state = read_state(client, int(municipality["id"]), with_deliveries=wanted, with_texts=texts)
            result = apply_plan(plan, client, state, dry_run=False, batch_size=batch_size, on_progress=report.update,
                                max_in_flight=MAX_IN_FLIGHT)
        report.result = result
        final = report.save(complete=True)
        _finish(root, job.id, "done", {**summary(plan, result), "progress": final["progress"]}, None)
    except ImporterError as exc:
        reason = "consecutive-failures" if type(exc).__name__ == "ConsecutiveFailuresError" else "refused"
        _stopped(root, job.id, report, reason, str(exc))
    except Exception as exc:  # noqa: BLE001 - a crash still leaves its report and the job says so
        logger.exception("import job %s crashed", job.id)
        _stopped(root, job.id, report, "crash", f"{type(exc).__name__}: {exc}")
    finally:
        if token is not None:
            registry.revoke_ephemeral(token)
        os.close(fd)


def _stopped(root: Path, job_id: str, report: _Report | None, reason: str, detail: str) -> None:
    at = _now()
    counts = None
    if report is not None:
        try:
            saved = report.save(interruption={"reason": reason, "detail": detail,
                                              "at": datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds")})
            counts = {**summary(report.plan, report.result), "progress": saved["progress"]}
        except Exception:  # noqa: BLE001 - the job's state matters more than its last report
            logger.exception("import job %s: the report could not be written", job_id)
    _finish(root, job_id, "interrupted", counts, Interruption(reason=reason, detail=detail, at=at))


def _finish(root: Path, job_id: str, state: State, counts: dict[str, Any] | None, interruption: Interruption | None) -> None:
    job = _read(root, job_id)
    if job is None:
        return
    job.state, job.interruption = state, interruption
    if counts is not None:
        job.counts = counts
    _save(root, job)


def wait_until_settled(root: Path, job_id: str, timeout_seconds: float, poll_seconds: float = 0.1,
                       sleep: Callable[[float], None] = time.sleep) -> Job | None:
    """The job once it is not ``running`` any more, or as it is after ``timeout_seconds``
    (for tests and scripts)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        job = load_job(root, job_id)
        if job is None or job.state != "running" or time.monotonic() > deadline:
            return job
        sleep(poll_seconds)
