"""The staff workspace: council staff sign in with a personal account and register, amend,
withdraw and prove their municipality's commitments in the browser; municipal admins manage
the accounts; confirmers review deliveries. Served by the API app under ``/staff``, rendered
on the server with the citizens' site's templates, texts and styles, and complete without
JavaScript (``static/js/staff.js`` only adds in-browser hashing of evidence files and live
write states).

Pages (each in Dutch and English, as the site):

- ``/staff/sign-in`` (GET, POST), ``/staff/sign-out`` (POST);
- ``/staff``: what needs attention first: overdue, due within :data:`DUE_SOON_DAYS` days,
  deliveries waiting for a confirmer, writes still pending or failed;
- ``/staff/commitments/new``; ``/staff/commitments/{id}`` with its deliveries and actions;
  ``.../amend`` (a preview of before → after, then publish), ``.../withdraw``,
  ``.../deliveries/new`` (evidence files, multipart); ``/staff/deliveries/{id}/revoke``;
- ``/staff/confirmations``: the confirmer's queue, ``/staff/deliveries/{id}/verdict`` (POST);
- ``/staff/writes``, ``/staff/writes/{id}`` (and ``.json`` for the live state): each write
  from queued to confirmed, with its chain reference once final;
- ``/staff/accounts`` (municipal admin): accounts, their roles, disable / enable / reset, and
  the log of who did what with the accounts.

Sign-in and sessions are ``ledger.accounts`` (argon2id passwords, TOTP second factor, lock-out,
idle and absolute session expiry). The session cookie (:data:`SESSION_COOKIE`) is HttpOnly,
``SameSite=Lax``, ``Path=/staff`` and Secure when the request came over TLS; every POST carries
the session's CSRF token (the sign-in form: a double-submit cookie, :data:`SIGN_IN_COOKIE`),
and a cross-site ``Origin`` is refused. The writes are the API's: the same services and the
same outbox (``api.routes.writes.submit``), signed with the key of the account's ``signer``
(``StaffRegistry.signing_identity``). Each form carries its own idempotency key, so a form sent
twice (a double click, a reload) is one write. A registrar sees and touches only their own
municipality: another's commitment or delivery is the 403 page.

Routes only do HTTP: accounts from ``ledger.accounts``, data from ``ledger.db.repository`` and
``ledger.db.outbox``, form rules from :mod:`frontend.staff_forms`.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Mapping
from urllib.parse import urlsplit

from eth_utils import is_address
from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.datastructures import FormData, UploadFile

from api import edges
from api.edges import request_scheme
from api.routes import writes as outbox_http
from api.schemas import MAX_EVIDENCE, AmendmentIn, CommitmentIn, ConfirmationIn, DeliveryForm, ReasonIn
from api.services import confirmations, ledger_writes
from api.services import roles as roles_service
from frontend import staff_forms as forms
from frontend import views
from frontend.i18n import Lang
from frontend.web import internal_url, render, request_lang
from ledger.accounts import (ADMIN, CONFIRMER, REGISTRAR, AccountPolicy, SecretBox, StaffAccount, StaffAccounts,
                             StaffSession)
from ledger.db import outbox as outbox_store
from ledger.db.engine import retry_when_busy, write_unit
from ledger.db import repository
from ledger.errors import AccountInputError, LedgerError, SignInRefusedError
from ledger.keystore import KeystoreError
from ledger.sources import SourceCredit
from ledger.status import STATUSES

logger = logging.getLogger("frontend.workspace")

router = APIRouter(prefix="/staff", include_in_schema=False)

SESSION_COOKIE = "ledger_staff_session"
"""The session cookie: an opaque random token; the server keeps only its SHA-256."""

SIGN_IN_COOKIE = "ledger_staff_signin"
"""The sign-in form's CSRF cookie (double submit: the form's hidden field must equal it)."""

DUE_SOON_DAYS = 30
"""The dashboard's "due soon": due within this many days, days."""

DASHBOARD_LIMIT = 20
"""Rows per list on the dashboard (the rest: a link to the full list)."""

FAILED_SHOWN_DAYS = 7
"""The dashboard lists failed writes of the last this many days, days."""

FINAL_STATES = ("confirmed", "failed")
"""Write states that do not change any more (``ledger.outbox``)."""


class SignInRequired(Exception):
    """No valid session: the request is sent to the sign-in page (303), back here after."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class WorkspaceForbidden(Exception):
    """The signed-in account may not see or do this (another municipality's record, a role it
    does not hold, an expired form): the 403 page, with the reason's text key."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class WorkspaceNotFound(Exception):
    """No such record: the 404 page."""


# ------------------------------------------------------------------ sessions


def staff_accounts(app: FastAPI) -> StaffAccounts:
    """The app's accounts service (built on first use: the default policy, TOTP secrets sealed
    with the keystores' password, ``ledger.accounts.SecretBox``; tests may set
    ``app.state.staff_accounts`` first, e.g. with a fast password hasher)."""
    accounts = getattr(app.state, "staff_accounts", None)
    if accounts is None:
        box = SecretBox(app.state.staff_registry.keystore.options.password)  # TOTP secrets sealed at rest
        accounts = app.state.staff_accounts = StaffAccounts(AccountPolicy(), box=box)
    return accounts


def _now() -> int:
    return int(time.time())


def _unit_of_work(request: Request, work: Callable[[Any], Any], *, write_first: bool = True) -> Any:
    """Run ``work(session)`` in one writing transaction of the app's database (accounts,
    sessions; ``ledger.db.engine.write_unit``), again when SQLite was busy past its timeout
    (``ledger.db.engine.retry_when_busy``)."""
    def once() -> Any:
        if not write_first:  # mostly reads (a session's check writes once a minute): no writer lock up front
            with request.app.state.session_factory() as session, session.begin():
                return work(session)
        with write_unit(request.app.state.session_factory) as session:
            return work(session)
    return retry_when_busy(once)


def current_session(request: Request) -> StaffSession:
    """The signed-in session of the request's cookie.

    Raises:
        SignInRequired: no cookie, or its session is unknown, ended, expired (idle or
            absolute) or of a disabled account.
    """
    token = request.cookies.get(SESSION_COOKIE)
    found = None
    if token:
        accounts = staff_accounts(request.app)
        found = _unit_of_work(request, lambda s: accounts.session_for(s, token, _now()), write_first=False)
    if found is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query and request.method == "GET" else "")
        raise SignInRequired(path if request.method == "GET" else "/staff")
    request.state.staff_session = found
    return found


SessionNow = Annotated[StaffSession, Depends(current_session)]


def _same_origin(request: Request) -> bool:
    """A POST from our own pages: its ``Origin`` (when the browser sends one) is this server's."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin != "null"
    site = request.app.state.settings.site_url
    own = {f"{request_scheme(request.scope)}://{request.headers.get('host', '')}"}
    if site:
        parts = urlsplit(site)
        own.add(f"{parts.scheme}://{parts.netloc}")
    return origin in own


def check_csrf(request: Request, form: FormData, session: StaffSession) -> None:
    """Refuse a POST whose CSRF token is not the session's, or that comes from another origin.

    Raises:
        WorkspaceForbidden: ``formExpired`` (a form of an ended session, or none).
    """
    sent = forms.text(form, "csrf_token")
    if not _same_origin(request) or not sent or not hmac.compare_digest(sent, session.csrf_token):
        raise WorkspaceForbidden("formExpired")


async def posted(request: Request, session: StaffSession, role: str, work: Callable[..., Response], *args: Any,
                 **form_options: Any) -> Response:
    """A workspace POST: read its form (``form_options`` as Starlette's ``request.form``),
    check its CSRF token and that the account holds ``role``, then ``work(request, session,
    *args, form)`` in the thread pool; the form's uploads are closed afterwards.

    Raises:
        WorkspaceForbidden: a form without the session's CSRF token, or a role not held.
    """
    try:
        form = await request.form(**form_options)
    except StarletteHTTPException as exc:  # a part or the whole beyond the limits: nothing was read into the form
        raise WorkspaceForbidden("tooLarge", status=413) from exc
    try:
        check_csrf(request, form, session)
        require(session, role)
        return await run_in_threadpool(work, request, session, *args, form)
    finally:
        await form.close()


def require(session: StaffSession, role: str) -> None:
    """Raises WorkspaceForbidden (``role.<role>``) unless the account holds ``role``."""
    if not session.account.has(role):
        raise WorkspaceForbidden(f"role.{role}")


def _identity(request: Request, account: StaffAccount) -> Any:
    """The signing identity of ``account`` (its ``signer``'s key).

    Raises:
        WorkspaceForbidden: ``noSigner`` (an account without a signing account) or
            ``noSignerKey`` (this server holds no usable keystore for it).
    """
    if not account.signer:
        raise WorkspaceForbidden("noSigner")
    try:
        return request.app.state.staff_registry.signing_identity(account.municipality_id, account.signer, account.roles)
    except KeystoreError:
        logger.error("no usable keystore for the signer %s of staff account %s", account.signer, account.id)
        raise WorkspaceForbidden("noSignerKey") from None


# ------------------------------------------------------------------ rendering


def _source(request: Request, municipality_code: str | None) -> SourceCredit | None:
    found = (request.app.state.sources or {}).get(municipality_code or "") or []
    return found[0] if found else None


def _zone_of(request: Request, municipality_id: int) -> str | None:
    with request.app.state.session_factory() as session:
        code = repository.municipality_codes(session, [municipality_id]).get(municipality_id)
    source = _source(request, code)
    return source.time_zone if source else None


def page(
    request: Request,
    template: str,
    *,
    title_key: str,
    session: StaffSession | None,
    status_code: int = 200,
    title_params: Mapping[str, Any] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A workspace page: :func:`frontend.web.render` with the account, its municipality's name,
    the session's CSRF token and ``form_key()`` (a fresh key for each form of the page: two
    forms of one page are two writes, one form sent twice is one) in the context; never kept
    by any cache (``Cache-Control: no-store``)."""
    lang = request_lang(request)
    name = None
    if session is not None:
        with request.app.state.session_factory() as db:
            name = repository.municipality_name(db, session.account.municipality_id)
    title = lang.t(title_key, **(title_params or {}))
    return render(
        request, f"staff/{template}", lang, title=title, description=lang.t("staff.description"),
        status_code=status_code, headers={"Cache-Control": "no-store", "Vary": "Cookie, Accept-Language"},
        me=session.account if session else None, municipality_name=name,
        csrf=session.csrf_token if session else "", form_key=lambda: secrets.token_hex(16),
        roles=(ADMIN, REGISTRAR, CONFIRMER), fe=_error_text(lang), **{"errors": {}, "values": {}, **context},
    )


def _error_text(lang: Lang) -> Callable[[forms.FieldError], str]:
    def text(error: forms.FieldError) -> str:
        key = f"staff.error.{error.code}"
        params = {k: lang.number(v) if isinstance(v, int) and not isinstance(v, bool) and k.startswith("max") else v
                  for k, v in error.params.items()}  # "10.485.760 bytes", not "10485760"
        try:
            return lang.t(key, **params)
        except (KeyError, IndexError):
            return lang.t("staff.error.invalid")
    return text


def _redirect(request: Request, path: str, **query: Any) -> RedirectResponse:
    return RedirectResponse(internal_url(path, request_lang(request).code, query), status_code=303)


def install(app: FastAPI) -> None:
    """Serve the workspace on ``app`` (after the site: same templates and assets)."""
    app.include_router(router)
    app.include_router(__import__("frontend.workspace_import", fromlist=["router"]).router)  # bulk imports (imports this module)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return _redirect(request, "/staff/sign-in", next=exc.next_path)

    @app.exception_handler(WorkspaceForbidden)
    async def _forbidden(request: Request, exc: WorkspaceForbidden) -> Response:
        session = getattr(request.state, "staff_session", None)
        return await run_in_threadpool(lambda: page(request, "forbidden.html", title_key="staff.forbidden.title",
                                                    session=session, status_code=exc.status, reason=exc.reason,
                                                    status=exc.status))

    @app.exception_handler(WorkspaceNotFound)
    async def _not_found(request: Request, exc: WorkspaceNotFound) -> Response:
        session = getattr(request.state, "staff_session", None)
        return await run_in_threadpool(lambda: page(request, "forbidden.html", title_key="staff.notFound.title",
                                                    session=session, status_code=404, reason="notFound",
                                                    status=404))


# ------------------------------------------------------------------ sign-in


def _safe_next(value: str | None) -> str:
    """A return path inside the workspace (never another site: an open redirect)."""
    value = value or ""
    if value.startswith("/staff") and not value.startswith("//") and "\\" not in value and "\n" not in value:
        return value
    return "/staff"


@router.get("/sign-in")
def sign_in_page(request: Request, next: str | None = None) -> Response:
    """The sign-in form (login, password, the authenticator's 6-digit code)."""
    token = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)
    response = page(request, "sign_in.html", title_key="staff.signIn.title", session=None,
                    sign_in_token=token, next_path=_safe_next(next), signed_out=request.query_params.get("signed_out"))
    _set_cookie(request, response, SIGN_IN_COOKIE, token, max_age=3600)
    return response


def _set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/staff", httponly=True, samesite="lax",
                        secure=request_scheme(request.scope) == "https")


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Check login, password and code; start a session (303 to ``next``) or show why not
    (400; a locked account: when it opens again). The same message for an unknown login, a
    wrong password and a wrong code. Each refusal counts against the client's
    ``settings.failed_auth_rate_limit`` (as a wrong bearer token does); past it the form
    answers 429 with ``Retry-After`` and checks nothing."""
    form = await request.form()
    refusal = await edges.failed_auth_refusal(request.scope)
    if refusal is not None:
        lang = request_lang(request)
        error = forms.FieldError(forms.FORM_ERROR, "tooManyAttempts",
                                 {"wait": lang.duration(refusal.retry_after_seconds)})
        response = await run_in_threadpool(lambda: page(
            request, "sign_in.html", title_key="staff.signIn.title", session=None, status_code=429,
            sign_in_token=request.cookies.get(SIGN_IN_COOKIE) or "", next_path=_safe_next(forms.text(form, "next")),
            signed_out=None, errors=forms.by_field([error]), values={"login": forms.text(form, "login")}))
        response.headers["Retry-After"] = str(refusal.retry_after_seconds)
        return response
    response = await run_in_threadpool(_sign_in, request, form)
    if response.status_code == 400:
        await edges.count_failed_auth(request.scope)
    return response


def _sign_in(request: Request, form: FormData) -> Response:
    cookie = request.cookies.get(SIGN_IN_COOKIE) or ""
    sent = forms.text(form, "sign_in_token")
    next_path = _safe_next(forms.text(form, "next"))
    if not _same_origin(request) or not cookie or not hmac.compare_digest(sent, cookie):
        # a stale form (or another site's): a fresh one that says so, nothing checked, not counted as a failure
        token = secrets.token_urlsafe(32)
        response = page(request, "sign_in.html", title_key="staff.signIn.title", session=None, status_code=403,
                        sign_in_token=token, next_path=next_path, signed_out=None,
                        errors=forms.by_field([forms.FieldError(forms.FORM_ERROR, "signInExpired", {})]),
                        values={"login": forms.text(form, "login")})
        _set_cookie(request, response, SIGN_IN_COOKIE, token, max_age=3600)
        return response
    accounts = staff_accounts(request.app)
    login = forms.text(form, "login")
    now = _now()
    try:
        account = accounts.sign_in_committed(  # a refusal's count and lock-out are kept, a busy database retried
            request.app.state.session_factory, login=login, password=forms.text(form, "password"),
            code=forms.text(form, "code").strip(), now=now)
    except SignInRefusedError:  # locked, disabled, unknown, wrong: one message, so no login is told to exist
        error = forms.FieldError(forms.FORM_ERROR, "signInRefused", {})
    else:
        token, _session = _unit_of_work(request, lambda s: accounts.start_session(s, account, now))
        response = RedirectResponse(next_path, status_code=303)
        _set_cookie(request, response, SESSION_COOKIE, token, max_age=None)
        response.delete_cookie(SIGN_IN_COOKIE, path="/staff")
        return response
    return page(request, "sign_in.html", title_key="staff.signIn.title", session=None, status_code=400,
                sign_in_token=cookie, next_path=next_path, signed_out=None,
                errors=forms.by_field([error]), values={"login": login})


@router.post("/sign-out")
async def sign_out(request: Request, session: SessionNow) -> Response:
    """End the session (its cookie no longer signs in anywhere) and go to the sign-in page."""
    form = await request.form()
    check_csrf(request, form, session)
    token = request.cookies.get(SESSION_COOKIE) or ""
    accounts = staff_accounts(request.app)
    await run_in_threadpool(_unit_of_work, request, lambda s: accounts.end_session(s, token, _now()))
    response = _redirect(request, "/staff/sign-in", signed_out="1")
    response.delete_cookie(SESSION_COOKIE, path="/staff")
    return response


# ------------------------------------------------------------------ dashboard


def _summaries(request: Request, lang: Lang, rows: list[dict[str, Any]], tz: str | None) -> list[dict[str, Any]]:
    return [{**c, "badge": views.status_badge(c, lang), "progress": views.progress_text(c, lang), "tz": tz} for c in rows]


@router.get("")
def dashboard(request: Request, session: SessionNow) -> Response:
    """What needs attention first: overdue commitments, those due soon, deliveries waiting for
    a confirmer, and writes still pending or failed."""
    lang = request_lang(request)
    me = session.account
    now = _now()
    tz = _zone_of(request, me.municipality_id)
    with request.app.state.session_factory() as db:
        overdue = repository.list_commitments_page(db, now, municipality_id=me.municipality_id, statuses=["overdue"],
                                                   sort="due_date", limit=DASHBOARD_LIMIT)
        open_ = repository.list_commitments_page(db, now, municipality_id=me.municipality_id,
                                                 statuses=["pending", "in_progress"], sort="due_date",
                                                 limit=DASHBOARD_LIMIT)
        soon = [c for c in open_.rows if c["due_date"] <= now + DUE_SOON_DAYS * 86_400]
        everything = repository.list_commitments_page(db, now, municipality_id=me.municipality_id, sort="-id",
                                                      limit=DASHBOARD_LIMIT)
        waiting = repository.unreviewed_deliveries(db, me.municipality_id, limit=DASHBOARD_LIMIT)
        pending, pending_count = outbox_store.list_open_writes(db, me.municipality_id, limit=DASHBOARD_LIMIT,
                                                                failed_since=now - FAILED_SHOWN_DAYS * 86_400)
    return page(request, "dashboard.html", title_key="staff.dashboard.title", session=session,
                overdue=_summaries(request, lang, overdue.rows, tz), overdue_count=overdue.total,
                soon=_summaries(request, lang, soon, tz), recent=_summaries(request, lang, everything.rows, tz),
                total=everything.total, waiting=waiting, writes=[_write_view(w, lang) for w in pending],
                writes_count=pending_count, due_soon_days=DUE_SOON_DAYS, tz=tz)


# ------------------------------------------------------------------ writes


def _write_view(row: Mapping[str, Any], lang: Lang) -> dict[str, Any]:
    body = outbox_http.write_json(dict(row))
    problem = body.get("problem") or {}
    return {**body, "final": body["state"] in FINAL_STATES, "state_text": lang.t(f"staff.write.state.{body['state']}"),
            "kind_text": lang.t(f"staff.write.kind.{body['kind']}") if lang.has(f"staff.write.kind.{body['kind']}")
            else body["kind"], "problem_text": problem.get("detail") or problem.get("title")}


def _journal(request: Request, session: StaffSession, kind: str, material: dict[str, Any], form_key: str,
             run: Callable[[Any, Any, Any], Any], evidence: list[str] | None = None) -> dict[str, Any]:
    """Journal one write of the form (its ``form_key`` is the idempotency key) and return its
    outbox row. ``run(journal, index_session, identity)`` calls the API's service."""
    identity = _identity(request, session.account)
    key = _form_key(form_key)
    with request.app.state.session_factory() as db:
        row, _outcome = outbox_http.submit(request, kind, material, lambda journal: run(journal, db, identity),
                                           staff=identity, evidence=evidence or [], key=key)
    return row  # type: ignore[return-value]


def _form_key(form_key: str) -> str | None:
    """The idempotency key of a form's write (``ws-`` + the form's key), or ``None`` for a form
    without a valid one (then the write's own fingerprint is its key)."""
    return f"ws-{form_key}" if form_key and len(form_key) <= 64 and form_key.isalnum() else None


def _to_write(request: Request, row: Mapping[str, Any]) -> Response:
    return _redirect(request, f"/staff/writes/{row['id']}")


def _own_write(request: Request, session: StaffSession, write_id: str) -> dict[str, Any]:
    with request.app.state.session_factory() as db:
        row = outbox_store.get_write(db, write_id)
    if row is None:
        raise WorkspaceNotFound(write_id)
    if row["municipality_id"] != session.account.municipality_id:
        raise WorkspaceForbidden("otherMunicipality")
    return row


WriteId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


@router.get("/writes")
def writes_page(request: Request, session: SessionNow, state: str | None = None) -> Response:
    """The municipality's writes, newest first (100), optionally of one state."""
    lang = request_lang(request)
    chosen = state if state in outbox_store.STATES else None
    with request.app.state.session_factory() as db:
        rows, count = outbox_store.list_writes(db, session.account.municipality_id, state=chosen, limit=100)
    return page(request, "writes.html", title_key="staff.writes.title", session=session,
                writes=[_write_view(r, lang) for r in rows], count=count, state=chosen, states=outbox_store.STATES)


@router.get("/writes/{write_id}.json")
def write_state(request: Request, write_id: WriteId, session: SessionNow) -> Response:
    """The write's state as JSON (``api.routes.writes.Write``), for the page's live updates."""
    row = _own_write(request, session, write_id)
    view = _write_view(row, request_lang(request))
    return JSONResponse({k: view[k] for k in ("id", "state", "state_text", "final", "confirmations",
                                              "confirmations_required", "tx_hash", "block_number", "result",
                                              "problem_text")})


@router.get("/writes/{write_id}")
def write_page(request: Request, write_id: WriteId, session: SessionNow) -> Response:
    """One write: its state, confirmations, and once confirmed its chain reference and what
    it recorded (links to the public pages); once failed, why."""
    lang = request_lang(request)
    row = _own_write(request, session, write_id)
    return page(request, "write.html", title_key="staff.write.title", session=session, write=_write_view(row, lang))


# ------------------------------------------------------------------ commitments


CommitmentId = Annotated[int, Path(ge=1, le=2**63 - 1)]
DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _own_commitment(request: Request, session: StaffSession, commitment_id: int, now: int) -> dict[str, Any]:
    """The commitment, if it is of the account's municipality.

    Raises:
        WorkspaceNotFound: not in the index. WorkspaceForbidden: another municipality's.
    """
    with request.app.state.session_factory() as db:
        c = repository.get_commitment(db, commitment_id, now, evidence_stored=request.app.state.evidence_store.exists)
    if c is None:
        raise WorkspaceNotFound(commitment_id)
    if c["municipality_id"] != session.account.municipality_id:
        raise WorkspaceForbidden("otherMunicipality")
    return c


def _writable(c: Mapping[str, Any]) -> Mapping[str, Any]:
    """``c``, if it still takes amendments and deliveries.

    Raises:
        WorkspaceForbidden: ``withdrawn`` (its form would only be refused when sent).
    """
    if c.get("withdrawn"):
        raise WorkspaceForbidden("withdrawn", status=409)
    return c


def _refused(request: Request, exc: Exception, template: str, title_key: str, session: StaffSession,
             values: Mapping[str, Any], quantity_field: str = "quantity", **context: Any) -> Response:
    """The form again with the refusal next to its field (422), nothing written."""
    errors = forms.field_errors(exc, quantity_field=quantity_field)
    if errors is None:
        raise exc
    return page(request, template, title_key=title_key, session=session, status_code=422,
                errors=forms.by_field(errors), values=dict(values), **context)


STAFF_PAGE_SIZE = 25
"""Commitments per page of the workspace's list."""

STAFF_SORTS = ("status", "due_date", "-id", "-last_change")
"""Orders the workspace's list offers (``repository.COMMITMENT_SORTS``): what needs attention
first (the default), by due date, newest first, last changed first."""


@router.get("/commitments")
def commitments_page(request: Request, session: SessionNow, q: str | None = None, status: str | None = None,
                     sort: str | None = None, after: str | None = None, before: str | None = None) -> Response:
    """The municipality's commitments, :data:`STAFF_PAGE_SIZE` a page: a text search (title,
    description, reference), one status, an order (:data:`STAFF_SORTS`), and a pager by cursor.
    A cursor that is not one of this list starts again at the first page."""
    lang = request_lang(request)
    me = session.account
    now = _now()
    chosen_sort = sort if sort in STAFF_SORTS else "status"
    chosen_status = status if status in STATUSES else None
    text_query = (q or "").strip()[:200] or None
    tz = _zone_of(request, me.municipality_id)
    with request.app.state.session_factory() as db:
        try:
            found = repository.list_commitments_page(
                db, now, municipality_id=me.municipality_id, statuses=[chosen_status] if chosen_status else [],
                q=text_query, sort=chosen_sort, limit=STAFF_PAGE_SIZE, after=after or None,
                before=None if after else (before or None))
        except repository.InvalidCursorError:
            found = repository.list_commitments_page(
                db, now, municipality_id=me.municipality_id, statuses=[chosen_status] if chosen_status else [],
                q=text_query, sort=chosen_sort, limit=STAFF_PAGE_SIZE)
    return page(request, "commitments.html", title_key="staff.list.title", session=session,
                rows=_summaries(request, lang, found.rows, tz), total=found.total, next_cursor=found.next_cursor,
                prev_cursor=found.prev_cursor, q=text_query or "", status=chosen_status, sort=chosen_sort,
                statuses=STATUSES, sorts=STAFF_SORTS)


COMMITMENT_FIELDS = ("external_ref", "title", "description", "theme", "target_quantity", "unit", "promised_at",
                     "due_date", "source_document_sha256", "source_uri")


@router.get("/commitments/new")
def new_commitment_page(request: Request, session: SessionNow) -> Response:
    """The form to register a commitment."""
    require(session, REGISTRAR)
    return page(request, "commitment_new.html", title_key="staff.new.title", session=session)


@router.post("/commitments/new")
async def new_commitment(request: Request, session: SessionNow) -> Response:
    """Register the commitment of the form (``registerCommitment``), or show why not."""
    return await posted(request, session, REGISTRAR, _new_commitment)


def _new_commitment(request: Request, session: StaffSession, form: FormData) -> Response:
    values = {name: forms.text(form, name) for name in COMMITMENT_FIELDS}
    tz = _zone_of(request, session.account.municipality_id)
    try:
        forms.check_link("source_uri", values["source_uri"])
        promised = forms.parse_day("promised_at", values["promised_at"])
        due = forms.parse_day("due_date", values["due_date"])
        body = CommitmentIn.model_validate({
            **{k: v.strip() if k in ("target_quantity", "source_document_sha256") else v for k, v in values.items()
               if k not in ("promised_at", "due_date", "source_document_sha256")},
            "promised_at": forms.day_start(promised, tz) if promised else None,
            "due_date": forms.day_end(due, tz) if due else None,
            "source_document_sha256": values["source_document_sha256"].strip() or None,
        })
        row = _journal(request, session, "register_commitment", body.model_dump(mode="json"), forms.text(form, "form_key"),
                       lambda journal, db, who: ledger_writes.register_commitment(journal, who, body, db))
    except (forms.DateInputError, forms.LinkSchemeError, ValidationError, LedgerError) as exc:
        return _refused(request, exc, "commitment_new.html", "staff.new.title", session, values,
                        quantity_field="target_quantity")
    return _to_write(request, row)


@router.get("/commitments/{commitment_id}")
def commitment_page(request: Request, commitment_id: CommitmentId, session: SessionNow) -> Response:
    """A commitment as staff see it: its terms, amendments and deliveries, with the actions."""
    lang = request_lang(request)
    now = _now()
    c = _own_commitment(request, session, commitment_id, now)
    tz = _zone_of(request, c["municipality_id"])
    deliveries = [{**d, "state": views.delivery_state(d, lang), "title": views.delivery_title(d, lang)}
                  for d in c["deliveries"]]
    return page(request, "commitment.html", title_key="staff.commitment.title", title_params={"title": c["title"]},
                session=session, c={**c, "badge": views.status_badge(c, lang), "progress": views.progress_text(c, lang)},
                deliveries=deliveries, tz=tz)


AMEND_FIELDS = ("title", "description", "target_quantity", "due_date")


def _amend_values(c: Mapping[str, Any], tz: str | None) -> dict[str, str]:
    return {"title": c["title"], "description": c.get("description") or "", "target_quantity": c["target_quantity"],
            "due_date": forms.day_of(c["due_date"], tz), "reason": "", "expected_amendment_count": str(c["amendment_count"])}


@router.get("/commitments/{commitment_id}/amend")
def amend_page(request: Request, commitment_id: CommitmentId, session: SessionNow) -> Response:
    """The amendment form, filled with the current terms."""
    require(session, REGISTRAR)
    c = _writable(_own_commitment(request, session, commitment_id, _now()))
    tz = _zone_of(request, c["municipality_id"])
    return page(request, "amend.html", title_key="staff.amend.title", session=session, c=c,
                values=_amend_values(c, tz), preview=None)


@router.post("/commitments/{commitment_id}/amend")
async def amend(request: Request, commitment_id: CommitmentId, session: SessionNow) -> Response:
    """``action=preview``: the before → after the amendment will publish; ``action=publish``:
    amend (``amendCommitment``) with the count read when the form was opened, or show why not."""
    return await posted(request, session, REGISTRAR, _amend, commitment_id)


def _amend(request: Request, session: StaffSession, commitment_id: int, form: FormData) -> Response:
    now = _now()
    c = _own_commitment(request, session, commitment_id, now)
    tz = _zone_of(request, c["municipality_id"])
    values = {name: forms.text(form, name) for name in (*AMEND_FIELDS, "reason", "expected_amendment_count")}
    current = _amend_values(c, tz)
    try:
        due = forms.parse_day("due_date", values["due_date"])
        changed = {name: values[name].strip() if name == "target_quantity" else values[name]
                   for name in AMEND_FIELDS if values[name].strip() != current[name].strip()}
        if "due_date" in changed:
            changed["due_date"] = forms.day_end(due, tz) if due else None  # type: ignore[assignment]
        body = AmendmentIn.model_validate({"expected_amendment_count": values["expected_amendment_count"] or -1,
                                           "reason": values["reason"], **changed})
        if forms.text(form, "action") != "publish":
            def shown(name: str, value: str) -> str:  # a date as the workspace writes dates elsewhere
                day = forms.parse_day(name, value) if name == "due_date" else None
                return lang.date(forms.day_end(day, tz), tz) if day else value
            lang = request_lang(request)
            before_after = [{"field": name, "before": shown(name, current[name]), "after": shown(name, values[name])}
                            for name in changed]
            return page(request, "amend.html", title_key="staff.amend.title", session=session, c=c, values=values,
                        preview=before_after)
        row = _journal(request, session, "amend_commitment", {"commitment_id": commitment_id, **body.model_dump(mode="json")},
                       forms.text(form, "form_key"),
                       lambda journal, db, who: ledger_writes.amend_commitment(journal, db, who, commitment_id, body, now))
    except (forms.DateInputError, ValidationError, LedgerError) as exc:
        return _refused(request, exc, "amend.html", "staff.amend.title", session, values,
                        quantity_field="target_quantity", c=c, preview=None)
    return _to_write(request, row)


@router.get("/commitments/{commitment_id}/withdraw")
def withdraw_page(request: Request, commitment_id: CommitmentId, session: SessionNow) -> Response:
    """The withdrawal form (a reason; the commitment then accepts no amendment or delivery)."""
    require(session, REGISTRAR)
    c = _writable(_own_commitment(request, session, commitment_id, _now()))
    return page(request, "withdraw.html", title_key="staff.withdraw.title", session=session, c=c)


@router.post("/commitments/{commitment_id}/withdraw")
async def withdraw(request: Request, commitment_id: CommitmentId, session: SessionNow) -> Response:
    """Withdraw the commitment (``withdrawCommitment``) with the form's reason, or show why not."""
    return await posted(request, session, REGISTRAR, _withdraw, commitment_id)


def _withdraw(request: Request, session: StaffSession, commitment_id: int, form: FormData) -> Response:
    now = _now()
    c = _own_commitment(request, session, commitment_id, now)
    values = {"reason": forms.text(form, "reason")}
    try:
        body = ReasonIn.model_validate(values)
        row = _journal(request, session, "withdraw_commitment", {"commitment_id": commitment_id, **body.model_dump(mode="json")},
                       forms.text(form, "form_key"),
                       lambda journal, db, who: ledger_writes.withdraw_commitment(journal, db, who, commitment_id,
                                                                                  body.reason, now))
    except (ValidationError, LedgerError) as exc:
        return _refused(request, exc, "withdraw.html", "staff.withdraw.title", session, values, c=c)
    return _to_write(request, row)


DELIVERY_FIELDS = ("quantity", "delivered_at", "note", "evidence_uri", "external_ref", "asset_ref")


@router.get("/commitments/{commitment_id}/deliveries/new")
def new_delivery_page(request: Request, commitment_id: CommitmentId, session: SessionNow) -> Response:
    """The form to record a delivery with its evidence files."""
    require(session, REGISTRAR)
    c = _writable(_own_commitment(request, session, commitment_id, _now()))
    return page(request, "delivery_new.html", title_key="staff.delivery.title", session=session, c=c,
                max_evidence_bytes=request.app.state.settings.max_evidence_bytes)


@router.post("/commitments/{commitment_id}/deliveries/new")
async def new_delivery(request: Request, commitment_id: CommitmentId, session: SessionNow) -> Response:
    """Record the delivery of the form (``recordDelivery``): files stored by SHA-256, their
    hashes on chain; or show why not (nothing stored, nothing sent)."""
    settings = request.app.state.settings
    most = MAX_EVIDENCE * settings.max_evidence_bytes + FORM_FIELDS_BYTES
    if int(request.headers.get("content-length") or 0) > most:  # refused before one byte is read
        return await run_in_threadpool(_too_large, request, session, commitment_id)
    return await posted(request, session, REGISTRAR, _new_delivery, commitment_id, max_files=MAX_EVIDENCE + 1,
                        max_fields=200, max_part_size=FORM_FIELDS_BYTES)


FORM_FIELDS_BYTES = 1024 * 1024
"""Most bytes of a delivery form's text fields together (and of any one of them), bytes."""


def _too_large(request: Request, session: StaffSession, commitment_id: int) -> Response:
    """The delivery form again (413): its body is larger than 16 evidence files can be."""
    require(session, REGISTRAR)
    settings = request.app.state.settings
    c = _own_commitment(request, session, commitment_id, _now())
    error = forms.FieldError("evidence", "fileTooLarge", {"max_bytes": settings.max_evidence_bytes})
    return page(request, "delivery_new.html", title_key="staff.delivery.title", session=session, status_code=413,
                errors=forms.by_field([error]), c=c, max_evidence_bytes=settings.max_evidence_bytes)


def _new_delivery(request: Request, session: StaffSession, commitment_id: int, form: FormData) -> Response:
    settings = request.app.state.settings
    now = _now()
    c = _own_commitment(request, session, commitment_id, now)
    tz = _zone_of(request, c["municipality_id"])
    values = {name: forms.text(form, name) for name in DELIVERY_FIELDS}
    uploads = [f for f in form.getlist("evidence") if isinstance(f, UploadFile) and (f.filename or f.size)]
    hashes = [h for raw in form.getlist("evidence_sha256") if isinstance(raw, str) for h in re.split(r"[\s,;]+", raw) if h]
    context = {"c": c, "max_evidence_bytes": settings.max_evidence_bytes}
    try:
        forms.check_link("evidence_uri", values["evidence_uri"])
        day = forms.parse_day("delivered_at", values["delivered_at"])
        data = DeliveryForm.model_validate({
            **{k: v for k, v in values.items() if k != "delivered_at"},
            "quantity": values["quantity"].strip(),
            "delivered_at": forms.day_start(day, tz) if day else None,
            "evidence": uploads, "evidence_sha256": hashes,
        })
        material = {"commitment_id": commitment_id, **data.model_dump(mode="json", exclude={"evidence"})}
        evidence = outbox_http.file_hashes(uploads)
        row = _journal(request, session, "record_delivery", material, forms.text(form, "form_key"),
                       lambda journal, db, who: _record_delivery(journal, db, request, who, commitment_id, data, now,
                                                                 [*evidence, *data.evidence_sha256], settings),
                       evidence=evidence)
    except (forms.DateInputError, forms.LinkSchemeError, ValidationError, LedgerError) as exc:
        return _refused(request, exc, "delivery_new.html", "staff.delivery.title", session, values, **context)
    return _to_write(request, row)


def _record_delivery(journal: Any, db: Any, request: Request, who: Any, commitment_id: int, data: DeliveryForm,
                     now: int, hashes: list[str], settings: Any) -> Any:
    """The API's delivery service, after the workspace's own rule: no evidence already cited."""
    ledger_writes.check_evidence_not_cited(db, hashes)
    return ledger_writes.record_delivery(journal, db, request.app.state.evidence_store, who, commitment_id, data, now,
                                         max_evidence_bytes=settings.max_evidence_bytes)


def _own_delivery(request: Request, session: StaffSession, delivery_id: int, now: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The recorded delivery and its commitment, if of the account's municipality."""
    commitment_id = delivery_id // 1_000_000
    c = _own_commitment(request, session, commitment_id, now) if commitment_id else None
    if c is None:
        raise WorkspaceNotFound(delivery_id)
    with request.app.state.session_factory() as db:
        found = repository.recorded_delivery(db, delivery_id, evidence_stored=request.app.state.evidence_store.exists)
    if found is None:
        raise WorkspaceNotFound(delivery_id)
    return c, found


@router.get("/deliveries/{delivery_id}/revoke")
def revoke_page(request: Request, delivery_id: DeliveryId, session: SessionNow) -> Response:
    """The revocation form (a reason; the delivery stops counting, nothing is deleted)."""
    require(session, REGISTRAR)
    lang = request_lang(request)
    c, d = _own_delivery(request, session, delivery_id, _now())
    if d.get("revocation"):
        raise WorkspaceForbidden("alreadyRevoked", status=409)
    return page(request, "revoke.html", title_key="staff.revoke.title", session=session, c=c,
                d={**d, "title": views.delivery_title(d, lang)})


@router.post("/deliveries/{delivery_id}/revoke")
async def revoke(request: Request, delivery_id: DeliveryId, session: SessionNow) -> Response:
    """Revoke the delivery (``revokeDelivery``) with the form's reason, or show why not."""
    return await posted(request, session, REGISTRAR, _revoke, delivery_id)


def _revoke(request: Request, session: StaffSession, delivery_id: int, form: FormData) -> Response:
    now = _now()
    lang = request_lang(request)
    c, d = _own_delivery(request, session, delivery_id, now)
    values = {"reason": forms.text(form, "reason")}
    try:
        body = ReasonIn.model_validate(values)
        row = _journal(request, session, "revoke_delivery", {"delivery_id": delivery_id, **body.model_dump(mode="json")},
                       forms.text(form, "form_key"),
                       lambda journal, db, who: ledger_writes.revoke_delivery(journal, db, who, delivery_id, body.reason, now))
    except (ValidationError, LedgerError) as exc:
        return _refused(request, exc, "revoke.html", "staff.revoke.title", session, values, c=c,
                        d={**d, "title": views.delivery_title(d, lang)})
    return _to_write(request, row)


# ------------------------------------------------------------------ confirmer


@router.get("/confirmations")
def confirmations_page(request: Request, session: SessionNow) -> Response:
    """The confirmer's queue: the municipality's recorded deliveries without a verdict, oldest
    first, with their evidence, except the ones this account's signer recorded itself."""
    require(session, CONFIRMER)
    lang = request_lang(request)
    with request.app.state.session_factory() as db:
        queue = repository.unreviewed_deliveries(db, session.account.municipality_id, limit=100,
                                                 evidence_stored=request.app.state.evidence_store.exists)
    own = (session.account.signer or "").lower()
    queue = [{**d, "title": views.delivery_title(d, lang), "own": d["registrar"].lower() == own} for d in queue]
    return page(request, "confirmations.html", title_key="staff.confirmations.title", session=session, queue=queue)


@router.post("/deliveries/{delivery_id}/verdict")
async def verdict(request: Request, delivery_id: DeliveryId, session: SessionNow) -> Response:
    """``verdict=confirm`` (``confirmDelivery``) or ``verdict=dispute`` with a reason
    (``disputeDelivery``), as a confirmer who did not record the delivery."""
    return await posted(request, session, CONFIRMER, _verdict, delivery_id)


def _verdict(request: Request, session: StaffSession, delivery_id: int, form: FormData) -> Response:
    now = _now()
    lang = request_lang(request)
    c, d = _own_delivery(request, session, delivery_id, now)
    choice = forms.text(form, "verdict")
    values = {"reason": forms.text(form, "reason"), "verdict": choice}
    try:
        if choice == "dispute":
            body: Any = ReasonIn.model_validate({"reason": values["reason"]})
            row = _journal(request, session, "dispute_delivery", {"delivery_id": delivery_id, **body.model_dump(mode="json")},
                           forms.text(form, "form_key"),
                           lambda journal, db, who: confirmations.dispute_delivery(journal, db, who, delivery_id, body.reason))
        else:
            body = ConfirmationIn.model_validate({"evidence_hash": None})
            row = _journal(request, session, "confirm_delivery", {"delivery_id": delivery_id, **body.model_dump(mode="json")},
                           forms.text(form, "form_key"),
                           lambda journal, db, who: confirmations.confirm_delivery(journal, db, who, delivery_id, None))
    except (ValidationError, LedgerError) as exc:
        return _refused(request, exc, "verdict.html", "staff.verdict.title", session, values, c=c,
                        d={**d, "title": views.delivery_title(d, lang)})
    return _to_write(request, row)


# ------------------------------------------------------------------ accounts (municipal admin)


@dataclass(frozen=True)
class _Shown:
    """Credentials shown once (after creating or resetting an account)."""

    login: str
    password: str
    totp_secret: str
    totp_uri: str


def _accounts_page(request: Request, session: StaffSession, *, status_code: int = 200, shown: _Shown | None = None,
                   errors: dict[str, list[forms.FieldError]] | None = None, values: Mapping[str, Any] | None = None,
                   role_errors: dict[str, list[forms.FieldError]] | None = None,
                   role_values: Mapping[str, Any] | None = None) -> Response:
    accounts = staff_accounts(request.app)
    me = session.account
    with request.app.state.session_factory() as db:
        listed = accounts.list(db, me.municipality_id)
        log = accounts.events(db, me.municipality_id, limit=50)
        signers = repository.municipality_signers(db, me.municipality_id)
        municipality = repository.get_municipality(db, me.municipality_id, _now())
    chain_admin = municipality["admin"] if municipality else None
    history = sorted(
        [{**term, "role": role} for role, key in (("registrar", "registrar_history"), ("confirmer", "confirmer_history"))
         for term in (municipality or {}).get(key, [])],
        key=lambda term: (term["added"]["block_number"], term["added"]["log_index"]), reverse=True)
    return page(request, "accounts.html", title_key="staff.accounts.title", session=session, status_code=status_code,
                accounts=listed, log=log, shown=shown, signers=signers, errors=errors or {}, values=dict(values or {}),
                chain_admin=chain_admin, role_history=history, admin_key_held=bool(chain_admin and _holds_key(request, chain_admin)),
                role_errors=role_errors or {}, role_values=dict(role_values or {}))


def _holds_key(request: Request, address: str) -> bool:
    """Whether this server holds the keystore of ``address`` (it can sign as it)."""
    return bool(request.app.state.staff_registry.keystore.exists(address))


@router.get("/accounts")
def accounts_page(request: Request, session: SessionNow) -> Response:
    """The municipality's staff accounts, the form to add one, and who did what with them."""
    require(session, ADMIN)
    return _accounts_page(request, session)


@router.post("/accounts/new")
async def create_account(request: Request, session: SessionNow) -> Response:
    """Add a staff account of the admin's municipality; its password and authenticator secret
    are shown once, on the answer."""
    return await posted(request, session, ADMIN, _create_account)


def _create_account(request: Request, session: StaffSession, form: FormData) -> Response:
    values = {"login": forms.text(form, "login"), "display_name": forms.text(form, "display_name"),
              "signer": forms.text(form, "signer").strip(), "roles": [r for r in form.getlist("roles") if isinstance(r, str)]}
    accounts = staff_accounts(request.app)
    me = session.account
    if values["signer"] and is_address(values["signer"]) and not _holds_key(request, values["signer"]):
        error = forms.FieldError("signer", "account.signer.noKeystore", {})
        return _accounts_page(request, session, status_code=422, errors=forms.by_field([error]), values=values)
    try:
        account, credentials = _unit_of_work(request, lambda s: accounts.create(
            s, municipality_id=me.municipality_id, login=values["login"], display_name=values["display_name"],
            roles=values["roles"], signer=values["signer"] or None, now=_now(), created_by=me.id))
    except AccountInputError as exc:
        error = forms.FieldError(exc.field, f"account.{exc.field}.{exc.code}", {})
        return _accounts_page(request, session, status_code=422, errors=forms.by_field([error]), values=values)
    return _accounts_page(request, session, shown=_Shown(account.login, credentials.password, credentials.totp_secret,
                                                         credentials.totp_uri(account.login)))


@router.post("/roles")
async def change_role(request: Request, session: SessionNow) -> Response:
    """Grant (``action=grant``) or revoke (``action=revoke``) the registrar or confirmer role of
    an account on chain (``addRegistrar`` / ``removeRegistrar`` / ``addConfirmer`` /
    ``removeConfirmer``), signed with the key of the municipality's admin on chain, when this
    server holds it; or show why not next to the field."""
    return await posted(request, session, ADMIN, _change_role)


def _change_role(request: Request, session: StaffSession, form: FormData) -> Response:
    me = session.account
    values = {"account": forms.text(form, "account").strip(), "role": forms.text(form, "role"),
              "action": forms.text(form, "action")}
    with request.app.state.session_factory() as db:
        municipality = repository.get_municipality(db, me.municipality_id, _now())
    chain_admin = municipality["admin"] if municipality else None
    if not chain_admin or not _holds_key(request, chain_admin):
        raise WorkspaceForbidden("noAdminKey")
    problem = None
    if not is_address(values["account"]):
        problem = forms.FieldError("account", "address", {})
    elif values["role"] not in ("registrar", "confirmer") or values["action"] not in ("grant", "revoke"):
        problem = forms.FieldError("role", "invalid", {})
    if problem is not None:
        return _accounts_page(request, session, status_code=422, role_errors=forms.by_field([problem]), role_values=values)
    admin = request.app.state.staff_registry.signing_identity(me.municipality_id, chain_admin, ())
    grant = values["action"] == "grant"
    try:
        row, _ = outbox_http.submit(
            request, "change_role", {"municipality_id": me.municipality_id, **values},
            lambda journal: roles_service.change_role(journal, admin, values["account"], values["role"], grant),  # type: ignore[arg-type]
            staff=admin, key=_form_key(forms.text(form, "form_key")))
    except LedgerError as exc:
        errors = forms.field_errors(exc)
        if errors is None:
            raise
        return _accounts_page(request, session, status_code=422, role_errors=forms.by_field(
            [forms.FieldError("account" if e.field == forms.FORM_ERROR else e.field, e.code, e.params) for e in errors]),
            role_values=values)
    return _to_write(request, row)  # type: ignore[arg-type]


AccountId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/accounts/{account_id}/{action}")
async def account_action(request: Request, account_id: AccountId, action: str, session: SessionNow) -> Response:
    """``disable`` (its sessions end at once), ``enable`` or ``reset`` (a new password and
    authenticator secret, shown once) an account of the admin's municipality; an admin cannot
    disable or reset their own account here (another admin, or the command line, does)."""
    form = await request.form()
    check_csrf(request, form, session)
    require(session, ADMIN)
    if action not in ("disable", "enable", "reset"):
        raise WorkspaceNotFound(action)
    return await run_in_threadpool(_account_action, request, session, account_id, action)


def _account_action(request: Request, session: StaffSession, account_id: int, action: str) -> Response:
    accounts = staff_accounts(request.app)
    me = session.account
    with request.app.state.session_factory() as db:
        target = accounts.get(db, account_id)
    if target is None or target.municipality_id != me.municipality_id:
        raise WorkspaceNotFound(account_id)
    if target.id == me.id and action in ("disable", "reset"):
        raise WorkspaceForbidden("ownAccount")
    now = _now()
    if action == "reset":
        credentials = _unit_of_work(request, lambda s: accounts.reset(s, account_id, actor_id=me.id, now=now))
        return _accounts_page(request, session, shown=_Shown(target.login, credentials.password, credentials.totp_secret,
                                                             credentials.totp_uri(target.login)))
    change = accounts.disable if action == "disable" else accounts.enable
    _unit_of_work(request, lambda s: change(s, account_id, actor_id=me.id, now=now))
    return _redirect(request, "/staff/accounts")


__all__ = ["router", "install", "current_session", "SESSION_COOKIE", "SIGN_IN_COOKIE", "SignInRequired",
           "WorkspaceForbidden", "WorkspaceNotFound", "staff_accounts"]
