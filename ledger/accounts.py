"""Staff accounts of the browser workspace: passwords, TOTP, lock-out and sessions (the rules;
the tables and their SQL are ``ledger.db.accounts``; no HTTP here).

A person of a council signs in with a login, a password and a six-digit authenticator code,
and gets a session: a cookie token (only its SHA-256 is stored) and a CSRF token. Every
method takes the caller's :class:`~sqlalchemy.orm.Session`, writes only in it (it may
``flush``) and never commits; every time is the ``now`` argument, Unix seconds, never the
clock.

**Commit after a refused sign-in too.** :meth:`StaffAccounts.sign_in` counts the failure,
locks the account and writes the audit event *before* raising :class:`SignInRefusedError`:
the caller catches it, commits, then answers. A transaction rolled back by the exception
(``with factory() as s, s.begin(): accounts.sign_in(s, ...)``) forgets the failure, and the
lock-out never comes; :meth:`StaffAccounts.sign_in_committed` does it right for such a
caller (its own transaction, committed, then the refusal raised).

Shapes:

- :class:`StaffAccount`: an account without its secrets; ``roles`` a non-empty frozenset of
  :data:`ROLES`; ``signer`` the EIP-55 address whose server-held key signs the person's
  writes (``None`` only for an admin-only account).
- :class:`Credentials`: a password and a base32 TOTP secret, returned once by
  :meth:`~StaffAccounts.create` and :meth:`~StaffAccounts.reset` and never again (only the
  password's hash is stored); :meth:`Credentials.totp_uri` gives the ``otpauth://`` URI for
  an authenticator app's QR code.
- :class:`StaffSession`: an open session and its account (read again on every request, so a
  role change counts at once).

Rules and their sources:

- Passwords: argon2id (RFC 9106, the password-hashing choice of the OWASP Password Storage
  Cheat Sheet) with argon2-cffi's :class:`~argon2.PasswordHasher` defaults (RFC 9106's second
  recommended option: t=3, 64 MiB, p=4), a PHC string per account; a hash made with other
  parameters is re-hashed on the next successful sign-in (``check_needs_rehash``). Passwords
  are NFKC-normalised before hashing (NIST SP 800-63B §5.1.1.2), at least
  ``min_password_chars`` (12) and at most 1024 characters; generated ones are 20 characters of
  an alphabet without look-alikes (``0 O 1 l I``), from :mod:`secrets` (~115 bits).
- Second factor: TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30 s steps from the Unix epoch, step =
  ``now // totp_period_seconds``), codes of ``totp_valid_window`` steps either side accepted
  (§5.2, clock drift and network delay), and a step at or before the last accepted one
  (``totp_last_step``) refused (§5.2: an OTP is accepted once), through a compare-and-set.
- Refusals (OWASP Authentication Cheat Sheet, "Authentication and Error Messages"): unknown
  login, wrong password and wrong or reused code raise the one :class:`SignInRefusedError`
  with one message; an unknown login is verified against a dummy hash made with the same
  hasher, so it costs the same time. Locked and disabled accounts raise subclasses
  (:class:`AccountLockedError` with ``locked_until``, :class:`AccountDisabledError`); a
  disabled account says so only to the right password. A web layer that wants no difference
  at all answers every :class:`SignInRefusedError` alike.
- Lock-out (OWASP Authentication Cheat Sheet, "Account Lockout"): ``max_failed_attempts``
  (5) consecutive failures lock the account for ``lockout_seconds`` (900): the failure that
  reaches the count sets ``locked_until = now + lockout_seconds`` and raises
  :class:`AccountLockedError`. While ``now < locked_until`` every attempt is refused with it,
  the right credentials included, and neither counts nor extends the lock. The first attempt
  after the lock ran out starts the count again from 0; a successful sign-in resets it, as
  do :meth:`~StaffAccounts.enable` and :meth:`~StaffAccounts.reset`. Open sessions survive a
  lock-out (someone else's guessing does not sign the person out). Throttling by address is
  the web layer's.
- Sessions (OWASP Session Management Cheat Sheet, "Session ID Properties" and "Session
  Expiration"): the token is ``secrets.token_urlsafe(32)`` (256 bits), stored as its SHA-256
  hex only; a per-session CSRF token (OWASP CSRF Prevention Cheat Sheet, synchronizer token).
  A session is alive while ``now < last_seen_at + session_idle_seconds`` (idle timeout, 30
  min) and ``now < expires_at = created_at + session_max_seconds`` (absolute timeout, 8 h):
  both ends are exclusive, so at exactly ``last_seen_at + 1800`` it has ended. A request
  moves ``last_seen_at`` to ``now`` only when it is at least :data:`TOUCH_SECONDS` (60)
  behind, to save writes: the idle timeout then ends at most 59 s early, never late. Signing
  out, disabling and resetting end sessions (``ended_at``); a disabled account's sessions are
  refused in any case. Changing one's password leaves the sessions open (the web layer may
  call :meth:`~StaffAccounts.end_sessions_of` and start a new one).
- Audit: every account change, sign-in, refusal, lock and sign-out writes a
  ``staff_account_events`` row (``ledger.db.accounts.ACTIONS``) with names, roles, counts and
  reasons, never a password, secret or code. An attempt on an unknown login has no account to
  record it under and is not recorded.

Identity providers: :meth:`StaffAccounts.sign_in` is the local identity provider (password
+ TOTP). An OpenID Connect provider added later verifies the ID token itself, maps its
``sub`` (with its issuer, per municipality) to the account whose ``external_subject`` column
holds it (unique together with ``municipality_id``; null and unused for now), checks that it
is not disabled, and calls :meth:`StaffAccounts.start_session` the same way; sessions,
roles, signers and the audit stay as they are.

Errors (``ledger.errors``): :class:`SignInRefusedError` and its :class:`AccountLockedError`,
:class:`AccountDisabledError` (all :class:`~ledger.errors.StaffAuthError`);
:class:`AccountInputError` (``field``, ``code``) for refused input;
:class:`UnknownAccountError` (``account_id``) for an id that names no account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import argon2
import pyotp
from argon2.exceptions import InvalidHashError, VerificationError
from Crypto.Cipher import AES
from eth_utils import is_address, to_checksum_address
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.db import accounts as store
from ledger.db.engine import retry_when_busy, write_unit
from ledger.errors import (
    AccountDisabledError,
    AccountInputError,
    AccountLockedError,
    LedgerConfigError,
    SignInRefusedError,
    UnknownAccountError,
)

ADMIN = "admin"
REGISTRAR = "registrar"
CONFIRMER = "confirmer"
ROLES = (ADMIN, REGISTRAR, CONFIRMER)
"""What a staff account may do: administer the municipality's accounts, register
commitments and deliveries, confirm them. Registrar and confirmer need a ``signer``."""

TOUCH_SECONDS = 60
"""A session's ``last_seen_at`` is moved only when it is at least this far behind ``now``."""

MAX_PASSWORD_CHARS = 1024
"""The longest password accepted (characters, after NFKC)."""

PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""Letters and digits of generated passwords: no ``0 O 1 l I``."""

GENERATED_PASSWORD_CHARS = 20

_LOGIN = re.compile(r"[a-z0-9._@-]{3,64}")


@dataclass(frozen=True)
class AccountPolicy:
    """The numbers of the rules (seconds; see the module docstring for their sources)."""

    max_failed_attempts: int = 5
    lockout_seconds: int = 900
    session_idle_seconds: int = 1800
    session_max_seconds: int = 8 * 3600
    totp_period_seconds: int = 30
    totp_valid_window: int = 1
    min_password_chars: int = 12


@dataclass(frozen=True)
class StaffAccount:
    """An account as stored, without its password hash and TOTP secret (times Unix seconds)."""

    id: int
    municipality_id: int
    login: str
    display_name: str
    roles: frozenset[str]
    signer: str | None
    disabled_at: int | None
    locked_until: int | None
    failed_attempts: int
    created_at: int
    updated_at: int
    created_by: int | None

    def has(self, role: str) -> bool:
        """Whether the account holds ``role``."""
        return role in self.roles


@dataclass(frozen=True)
class Credentials:
    """A password and a TOTP secret (base32), shown once (kept out of ``repr``)."""

    password: str = field(repr=False)
    totp_secret: str = field(repr=False)

    def totp_uri(self, login: str, issuer: str = "Van belofte naar bewijs") -> str:
        """The ``otpauth://totp/...`` URI of the secret, for an authenticator app's QR code."""
        return pyotp.TOTP(self.totp_secret).provisioning_uri(name=login, issuer_name=issuer)


@dataclass(frozen=True)
class StaffSession:
    """An open session: ``id`` is the SHA-256 hex of its cookie token (times Unix seconds)."""

    id: str
    account: StaffAccount
    csrf_token: str = field(repr=False)
    created_at: int
    last_seen_at: int
    expires_at: int


def normalize_login(login: str) -> str:
    """``login`` as stored and compared: stripped, casefolded, NFC (``"J.Jansen "`` →
    ``"j.jansen"``).

    Raises:
        AccountInputError: field ``login``, code ``invalid``: not 3..64 characters of
            ``[a-z0-9._@-]`` afterwards.
    """
    if not isinstance(login, str):
        raise AccountInputError("login", "invalid")
    value = unicodedata.normalize("NFC", unicodedata.normalize("NFC", login.strip()).casefold()).strip()
    if not _LOGIN.fullmatch(value):
        raise AccountInputError("login", "invalid")
    return value


def session_id_of(token: str) -> str:
    """The stored id of a session: the SHA-256 hex of its cookie token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _display_name(value: str) -> str:
    name = unicodedata.normalize("NFC", value.strip()) if isinstance(value, str) else ""
    if not 1 <= len(name) <= 120 or any(unicodedata.category(c) == "Cc" for c in name):
        raise AccountInputError("display_name", "invalid")
    return name


def _roles(roles: Iterable[str]) -> list[str]:
    if isinstance(roles, str):
        raise AccountInputError("roles", "invalid", f"Roles are a list, not the string {roles!r}: e.g. [\"admin\"].")
    given = list(roles)
    if any(role not in ROLES for role in given):
        raise AccountInputError("roles", "invalid")
    if not given:
        raise AccountInputError("roles", "empty")
    return sorted(set(given))


def _signer(signer: str | None, roles: Iterable[str]) -> str | None:
    if signer is None or signer == "":
        if set(roles) - {ADMIN}:
            raise AccountInputError("signer", "required")
        return None
    if not isinstance(signer, str) or not is_address(signer):
        raise AccountInputError("signer", "invalid")
    return to_checksum_address(signer)


def _public(row: Mapping[str, Any]) -> StaffAccount:
    return StaffAccount(
        id=int(row["id"]), municipality_id=int(row["municipality_id"]), login=row["login"],
        display_name=row["display_name"], roles=frozenset(row["roles"]), signer=row["signer"],
        disabled_at=row["disabled_at"], locked_until=row["locked_until"],
        failed_attempts=int(row["failed_attempts"] or 0), created_at=int(row["created_at"]),
        updated_at=int(row["updated_at"]), created_by=row["created_by"],
    )


class SecretBox:
    """Encrypts the TOTP secrets at rest (AES-256-GCM, pycryptodome), so a copy of the database
    alone makes no codes. The key is derived with scrypt (n=2**14, r=8, p=1; RFC 7914) from a
    server secret held outside the database: the keystores' password (``ledger.keystore``,
    ``LEDGER_KEYSTORE_PASSWORD(_FILE)``), and a fixed salt naming this use.

    A stored value is ``v1:`` + URL-safe base64 of nonce (12 bytes) + ciphertext + tag
    (16 bytes). A value without the prefix is read as it is (an account made without a box,
    e.g. by tests), and is encrypted when next written.

    Raises (:meth:`open`):
        LedgerConfigError: a ``v1:`` value that does not decrypt with this key (another
            password than the one it was sealed with).
    """

    PREFIX = "v1:"
    SALT = b"ledger.accounts totp secret v1"

    def __init__(self, server_secret: str) -> None:
        self._key = hashlib.scrypt(server_secret.encode("utf-8"), salt=self.SALT, n=2 ** 14, r=8, p=1, dklen=32)

    def seal(self, plain: str) -> str:
        """``plain`` encrypted, as stored."""
        nonce = secrets.token_bytes(12)
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=nonce)
        sealed, tag = cipher.encrypt_and_digest(plain.encode("utf-8"))
        return self.PREFIX + base64.urlsafe_b64encode(nonce + sealed + tag).decode("ascii")

    def open(self, stored: str) -> str:
        """The plain value of ``stored`` (one without the prefix is returned as it is)."""
        if not stored.startswith(self.PREFIX):
            return stored
        raw = base64.urlsafe_b64decode(stored[len(self.PREFIX):].encode("ascii"))
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=raw[:12])
        try:
            return cipher.decrypt_and_verify(raw[12:-16], raw[-16:]).decode("utf-8")
        except ValueError:
            raise LedgerConfigError("A stored TOTP secret does not decrypt with this server's keystore password: "
                                    "was the password changed? Reset the account's sign-in details.") from None


class StaffAccounts:
    """The rules of staff accounts over ``ledger.db.accounts`` (see the module docstring).

    Args:
        policy: the numbers of the rules.
        hasher: the argon2 hasher (default argon2-cffi's RFC 9106 defaults; tests pass a fast
            one).
    """

    def __init__(self, policy: AccountPolicy = AccountPolicy(), hasher: argon2.PasswordHasher | None = None,
                 box: SecretBox | None = None) -> None:
        self.policy = policy
        self.hasher = hasher if hasher is not None else argon2.PasswordHasher()
        self.box = box  # TOTP secrets at rest: sealed with it when given, else stored as they are
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))  # for unknown logins

    # -- passwords and codes ------------------------------------------------------------

    def _seal(self, totp_secret: str) -> str:
        return self.box.seal(totp_secret) if self.box is not None else totp_secret

    def _open(self, stored: str) -> str:
        return self.box.open(stored) if self.box is not None else stored

    def _password(self, password: str) -> str:
        value = unicodedata.normalize("NFKC", password) if isinstance(password, str) else ""
        if len(value) < self.policy.min_password_chars:
            raise AccountInputError("password", "too_short",
                                    f"A password is at least {self.policy.min_password_chars} characters.")
        if len(value) > MAX_PASSWORD_CHARS:
            raise AccountInputError("password", "too_long")
        return value

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, unicodedata.normalize("NFKC", password))
        except (VerificationError, InvalidHashError, TypeError):
            return False

    def current_code(self, totp_secret: str, now: int) -> str:
        """The TOTP code of ``totp_secret`` at ``now`` (Unix seconds), for local use and tests."""
        return pyotp.TOTP(totp_secret, interval=self.policy.totp_period_seconds).generate_otp(
            int(now) // self.policy.totp_period_seconds)

    def _matching_step(self, totp_secret: str, code: str, now: int) -> int | None:
        """The latest step within the window whose code is ``code``, or ``None``."""
        code = "".join(str(code or "").split())
        if not (len(code) == 6 and code.isascii() and code.isdigit()):
            return None
        totp = pyotp.TOTP(totp_secret, interval=self.policy.totp_period_seconds)
        step = int(now) // self.policy.totp_period_seconds
        window = self.policy.totp_valid_window
        found = None
        for candidate in range(step - window, step + window + 1):
            if hmac.compare_digest(totp.generate_otp(candidate), code):
                found = candidate
        return found

    # -- accounts -----------------------------------------------------------------------

    def _row(self, session: Session, account_id: int) -> dict[str, Any]:
        row = store.get_account(session, account_id)
        if row is None:
            raise UnknownAccountError(account_id)
        return row

    def create(self, session: Session, *, municipality_id: int, login: str, display_name: str, roles: Iterable[str],
               signer: str | None, now: int, created_by: int | None = None,
               password: str | None = None) -> tuple[StaffAccount, Credentials]:
        """Create an account with a new TOTP secret and ``password`` (generated when not
        given); returns it and its credentials, to show once.

        Raises:
            AccountInputError: ``login`` invalid or taken, ``display_name`` invalid, ``roles``
                empty or invalid, ``signer`` invalid (or missing for a registrar or confirmer),
                ``password`` too short or too long.
        """
        login = normalize_login(login)
        name = _display_name(display_name)
        role_list = _roles(roles)
        checked_signer = _signer(signer, role_list)
        if password is None:
            password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(GENERATED_PASSWORD_CHARS))
        password = self._password(password)
        if store.account_by_login(session, login) is not None:
            raise AccountInputError("login", "taken")
        credentials = Credentials(password=password, totp_secret=pyotp.random_base32())
        try:
            with session.begin_nested():
                account_id = store.insert_account(session, {
                    "municipality_id": municipality_id, "login": login, "display_name": name, "roles": role_list,
                    "signer": checked_signer, "password_hash": self.hasher.hash(password),
                    "totp_secret": self._seal(credentials.totp_secret), "created_at": now, "updated_at": now,
                    "created_by": created_by,
                })
        except IntegrityError:  # created by another request at the same moment
            raise AccountInputError("login", "taken") from None
        store.insert_event(session, account_id=account_id, actor_id=created_by, action="created", at=now,
                           detail={"roles": role_list, "signer": checked_signer, "display_name": name})
        return _public(self._row(session, account_id)), credentials

    def get(self, session: Session, account_id: int) -> StaffAccount | None:
        """The account with this id, or ``None``."""
        row = store.get_account(session, account_id)
        return _public(row) if row is not None else None

    def by_login(self, session: Session, login: str) -> StaffAccount | None:
        """The account with this login (normalised first), or ``None`` (also for a login that
        cannot exist)."""
        try:
            row = store.account_by_login(session, normalize_login(login))
        except AccountInputError:
            return None
        return _public(row) if row is not None else None

    def list(self, session: Session, municipality_id: int) -> list[StaffAccount]:
        """The municipality's accounts, ordered by login."""
        return [_public(row) for row in store.list_accounts(session, municipality_id)]

    # -- signing in ---------------------------------------------------------------------

    def sign_in(self, session: Session, *, login: str, password: str, code: str, now: int,
                verified: tuple[str, bool] | None = None) -> StaffAccount:
        """Check ``login``, ``password`` and the authenticator ``code`` at ``now``; returns
        the account (then :meth:`start_session`). Every attempt on an existing account writes
        an audit event; commit after a refusal too (module docstring).

        Args:
            verified: ``(password hash, whether the password matches it)`` already computed by
                the caller outside this transaction (:meth:`sign_in_committed`: the slow
                argon2 check then holds no database lock); used when the account's hash is
                still that one, else the password is checked here.

        Raises:
            AccountLockedError: the account is locked (whatever the credentials), or this
                failure reached ``max_failed_attempts`` and locked it.
            AccountDisabledError: the account is disabled and the password is right.
            SignInRefusedError: unknown login, wrong password, wrong or reused code.
        """
        def matches(password_hash: str) -> bool:
            if verified is not None and verified[0] == password_hash:
                return verified[1]
            return self._verify(password_hash, password)

        try:
            row = store.account_by_login(session, normalize_login(login))
        except AccountInputError:
            row = None
        if row is None:
            matches(self._dummy_hash)  # the same time as a known login
            raise SignInRefusedError()
        account_id = int(row["id"])
        if row["locked_until"] is not None:
            if now < row["locked_until"]:
                matches(row["password_hash"])
                store.insert_event(session, account_id=account_id, action="sign_in_refused", at=now,
                                   detail={"reason": "locked", "locked_until": row["locked_until"]})
                raise AccountLockedError(int(row["locked_until"]))
            store.update_account(session, account_id, locked_until=None, failed_attempts=0)  # the lock ran out
        password_ok = matches(row["password_hash"])
        if row["disabled_at"] is not None:
            store.insert_event(session, account_id=account_id, action="sign_in_refused", at=now,
                               detail={"reason": "disabled"})
            if password_ok:
                raise AccountDisabledError(account_id)
            raise SignInRefusedError()
        if not password_ok:
            self._fail(session, account_id, "password", now)
        step = self._matching_step(self._open(row["totp_secret"]), code, now)
        if step is None:
            self._fail(session, account_id, "code", now)
        if not store.accept_totp_step(session, account_id, step):
            self._fail(session, account_id, "code_reused", now)
        values: dict[str, Any] = {"failed_attempts": 0, "locked_until": None}
        rehashed = self.hasher.check_needs_rehash(row["password_hash"])
        if rehashed:
            values["password_hash"] = self.hasher.hash(unicodedata.normalize("NFKC", password))
        store.update_account(session, account_id, **values)
        store.insert_event(session, account_id=account_id, actor_id=account_id, action="signed_in", at=now,
                           detail={"rehashed": True} if rehashed else None)
        return _public(self._row(session, account_id))

    def sign_in_committed(self, sessions: Callable[[], Session], *, login: str, password: str, code: str,
                          now: int) -> StaffAccount:
        """:meth:`sign_in` in a transaction of its own from ``sessions`` (a sessionmaker),
        committed whether it succeeds or is refused, so the failure count, the lock and the
        audit are kept: for a caller whose unit of work rolls back on an exception.

        The password is checked first, outside any transaction (argon2id takes about 200 ms:
        inside one it would hold SQLite's writer lock, or lose it to another writer and be
        refused as busy); the short transaction that counts, locks or accepts the code then
        runs again if SQLite refused it as busy (``ledger.db.engine.retry_when_busy``), so a
        busy database never drops an attempt uncounted.

        Raises:
            SignInRefusedError: as :meth:`sign_in` (its subclasses too), after the commit.
            sqlalchemy.exc.OperationalError: the database stayed busy through every retry.
        """
        with sessions() as session:
            try:
                row = store.account_by_login(session, normalize_login(login))
            except AccountInputError:
                row = None
        stored_hash = row["password_hash"] if row is not None else self._dummy_hash
        verified = (stored_hash, self._verify(stored_hash, password))

        def once() -> StaffAccount:
            refused: SignInRefusedError | None = None
            with write_unit(sessions) as session:  # type: ignore[arg-type]
                try:
                    account = self.sign_in(session, login=login, password=password, code=code, now=now,
                                           verified=verified)
                except SignInRefusedError as exc:
                    refused = exc
            if refused is not None:
                raise refused
            return account

        return retry_when_busy(once)

    def _fail(self, session: Session, account_id: int, reason: str, now: int) -> None:
        count = store.count_failure(session, account_id)
        store.insert_event(session, account_id=account_id, action="sign_in_refused", at=now,
                           detail={"reason": reason, "failed_attempts": count})
        if count >= self.policy.max_failed_attempts:
            until = now + self.policy.lockout_seconds
            store.update_account(session, account_id, locked_until=until)
            store.insert_event(session, account_id=account_id, action="locked", at=now,
                               detail={"locked_until": until, "failed_attempts": count})
            raise AccountLockedError(until)
        raise SignInRefusedError()

    # -- sessions -----------------------------------------------------------------------

    def start_session(self, session: Session, account: StaffAccount, now: int) -> tuple[str, StaffSession]:
        """Open a session for ``account`` (signed in by :meth:`sign_in`, or by another
        identity provider): returns the cookie token (shown once, only its SHA-256 is stored)
        and the record. The session ends at ``now + session_max_seconds`` at the latest.

        Raises:
            UnknownAccountError: no such account.
            AccountDisabledError: the account is disabled.
        """
        current = _public(self._row(session, account.id))
        if current.disabled_at is not None:
            raise AccountDisabledError(current.id)
        token = secrets.token_urlsafe(32)
        record = StaffSession(id=session_id_of(token), account=current, csrf_token=secrets.token_urlsafe(32),
                              created_at=now, last_seen_at=now, expires_at=now + self.policy.session_max_seconds)
        store.insert_session(session, {
            "id": record.id, "account_id": current.id, "csrf_token": record.csrf_token, "created_at": now,
            "last_seen_at": now, "expires_at": record.expires_at,
        })
        return token, record

    def session_for(self, session: Session, token: str | None, now: int) -> StaffSession | None:
        """The open session of a cookie token at ``now``, its account read again; ``None``
        when the token is missing or unknown, the session ended, idle since ``last_seen_at +
        session_idle_seconds`` or past ``expires_at`` (both exclusive: at that second it has
        ended), or its account is disabled or gone. Moves ``last_seen_at`` to ``now`` when it
        is :data:`TOUCH_SECONDS` or more behind."""
        if not token:
            return None
        row = store.get_session(session, session_id_of(token))
        if row is None or row["ended_at"] is not None:
            return None
        if now >= row["expires_at"] or now >= row["last_seen_at"] + self.policy.session_idle_seconds:
            return None
        account = self.get(session, row["account_id"])
        if account is None or account.disabled_at is not None:
            return None
        last_seen = int(row["last_seen_at"])
        if now - last_seen >= TOUCH_SECONDS:
            store.touch_session(session, row["id"], now)
            last_seen = now
        return StaffSession(id=row["id"], account=account, csrf_token=row["csrf_token"],
                            created_at=int(row["created_at"]), last_seen_at=last_seen,
                            expires_at=int(row["expires_at"]))

    def end_session(self, session: Session, token: str, now: int) -> None:
        """Sign out: end the token's session (nothing when it is unknown or already ended)."""
        if not token:
            return
        row = store.get_session(session, session_id_of(token))
        if row is not None and store.end_session(session, row["id"], now):
            store.insert_event(session, account_id=row["account_id"], actor_id=row["account_id"],
                               action="signed_out", at=now, detail={"sessions_ended": 1})

    def end_sessions_of(self, session: Session, account_id: int, now: int) -> int:
        """End every open session of an account ("sign out everywhere"); returns how many."""
        count = store.end_sessions_of(session, account_id, now)
        if count:
            store.insert_event(session, account_id=account_id, action="signed_out", at=now,
                               detail={"sessions_ended": count})
        return count

    # -- administration -----------------------------------------------------------------

    def disable(self, session: Session, account_id: int, *, actor_id: int | None, now: int) -> StaffAccount:
        """Disable the account (kept, never deleted: the audit names it) and end its
        sessions. Disabling a disabled account keeps its ``disabled_at``.

        Raises:
            UnknownAccountError: no such account.
        """
        row = self._row(session, account_id)
        ended = store.end_sessions_of(session, account_id, now)
        if row["disabled_at"] is None:
            store.update_account(session, account_id, disabled_at=now, updated_at=now)
        store.insert_event(session, account_id=account_id, actor_id=actor_id, action="disabled", at=now,
                           detail={"sessions_ended": ended})
        return _public(self._row(session, account_id))

    def enable(self, session: Session, account_id: int, *, actor_id: int | None, now: int) -> StaffAccount:
        """Enable the account and clear its lock-out (``failed_attempts`` 0).

        Raises:
            UnknownAccountError: no such account.
        """
        self._row(session, account_id)
        store.update_account(session, account_id, disabled_at=None, locked_until=None, failed_attempts=0,
                             updated_at=now)
        store.insert_event(session, account_id=account_id, actor_id=actor_id, action="enabled", at=now)
        return _public(self._row(session, account_id))

    def reset(self, session: Session, account_id: int, *, actor_id: int | None, now: int) -> Credentials:
        """Give the account a new generated password and a new TOTP secret (returned, to show
        once), end its sessions and clear its lock-out. A disabled account stays disabled.

        Raises:
            UnknownAccountError: no such account.
        """
        self._row(session, account_id)
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(GENERATED_PASSWORD_CHARS))
        credentials = Credentials(password=password, totp_secret=pyotp.random_base32())
        store.update_account(session, account_id, password_hash=self.hasher.hash(password),
                             totp_secret=self._seal(credentials.totp_secret), totp_last_step=None, locked_until=None,
                             failed_attempts=0, updated_at=now)
        ended = store.end_sessions_of(session, account_id, now)
        store.insert_event(session, account_id=account_id, actor_id=actor_id, action="reset", at=now,
                           detail={"sessions_ended": ended})
        return credentials

    def set_roles(self, session: Session, account_id: int, roles: Iterable[str], *, actor_id: int | None,
                  now: int) -> StaffAccount:
        """Replace the account's roles (they count at the next request of its sessions).

        Raises:
            UnknownAccountError: no such account.
            AccountInputError: ``roles`` empty or invalid; ``signer`` required (a registrar or
                confirmer role for an account without a signer).
        """
        row = self._row(session, account_id)
        role_list = _roles(roles)
        _signer(row["signer"], role_list)
        store.update_account(session, account_id, roles=role_list, updated_at=now)
        store.insert_event(session, account_id=account_id, actor_id=actor_id, action="roles_changed", at=now,
                           detail={"from": sorted(row["roles"]), "to": role_list})
        return _public(self._row(session, account_id))

    def change_password(self, session: Session, account_id: int, *, current: str, new: str, now: int) -> None:
        """The person's own password change: ``current`` must be right. Sessions stay open.

        Raises:
            UnknownAccountError: no such account.
            AccountInputError: field ``password``: code ``wrong`` (``current``), ``too_short``
                or ``too_long`` (``new``).
        """
        row = self._row(session, account_id)
        if not self._verify(row["password_hash"], current):
            raise AccountInputError("password", "wrong")
        new = self._password(new)
        store.update_account(session, account_id, password_hash=self.hasher.hash(new), updated_at=now)
        store.insert_event(session, account_id=account_id, actor_id=account_id, action="password_changed", at=now)

    def events(self, session: Session, municipality_id: int, limit: int = 100) -> list[dict]:
        """The audit of the municipality's accounts, newest first: ``[{"at", "action",
        "account_id", "login", "actor_login", "detail"}]`` (``detail`` a dict or ``None``)."""
        return store.events_of_municipality(session, municipality_id, limit)


__all__ = (
    "ADMIN", "REGISTRAR", "CONFIRMER", "ROLES", "TOUCH_SECONDS", "AccountPolicy", "StaffAccount", "Credentials",
    "StaffSession", "StaffAccounts", "normalize_login", "session_id_of",
)
