"""Staff tokens: each bound to one account of one municipality, with the roles the API lets
it use, an expiry and a revocation; and the API's relayer. The accounts' keys live in
encrypted keystores (:mod:`ledger.keystore`), never in the token file.

The token file (``settings.staff_keys_file``, mode 0600) holds, version 3::

    {"version": 3,
     "tokens": [{"token_id": "tok_1a2b3c4d", "token_sha256": "0x..", "municipality_id": 1,
                 "roles": ["registrar", "confirmer"], "account": "0x..",
                 "issued_at": 1767225600, "expires_at": 1774972800, "revoked_at": null}],
     "relayer": {"account": "0x.."}}

``token_id`` is public (listing, revoking, problems); the token itself is never stored, only
its SHA-256. Times are Unix seconds; a token is usable while ``issued_at <= now <
expires_at`` and ``revoked_at`` is null. ``roles`` (:data:`ROLES`, at least one) only say
which API writes a token may make; the contract checks on every write that the account
holds that role on chain (``LedgerNotRegistrar``, ``LedgerNotConfirmer``). ``relayer``
(optional) is the account that submits writes signed elsewhere (``POST /relay``: the
``...BySig`` functions) and pays their gas; it holds no role. Each ``account`` (and the
relayer's) has its keystore ``<keystore_dir>/<account>.json``.

A v1/v2 file (each entry with a plain ``private_key``, accounts named ``registrar``) is
refused (:class:`LegacyKeyFileError`) until :func:`migrate_key_file` (``python -m
scripts.admin keys migrate``) moves the keys into keystores and rewrites it.

:class:`StaffRegistry` loads the file and unlocks every keystore it needs when it is built
(the API's start-up), refusing a malformed file, a missing keystore or a wrong password
there. It hashes a presented token and compares it with every entry using
:func:`hmac.compare_digest`. The file is re-read when it changes, so a token issued or
revoked while the server runs counts at once; a change that does not load is logged (file
name and error, no secret) and the previous tokens stay in force.

Ephemeral tokens (:meth:`StaffRegistry.issue_ephemeral`): short-lived bearer tokens for a
workspace person's signing identity (the staff workspace's bulk import runs the importer with
one), kept as SHA-256 in the registry's memory only, never in the token file; they end at
their expiry, when revoked, or with the process.

People who sign in to the staff workspace (``frontend.workspace``) write with
:meth:`StaffRegistry.signing_identity`: the keystore of their ``signer`` account, unlocked once
and kept in memory.

The command line is ``python -m scripts.admin tokens ...`` / ``keys ...``; ``python -m
ledger.staff`` only says so.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from eth_account import Account
from eth_utils import is_address, to_checksum_address

from ledger.errors import LedgerConfigError, StaffAuthError
from ledger.keystore import Keystore, KeystoreOptions, keystore_options, options_from_environ

if TYPE_CHECKING:
    from ledger.settings import Settings

logger = logging.getLogger("ledger.staff")

KEY_FILE_VERSION = 3
DEFAULT_TOKEN_LIFETIME_SECONDS = 90 * 86400
"""Lifetime of a token issued without one, seconds (``settings.token_lifetime_days``: 90)."""

ADMIN_COMMAND = "python -m scripts.admin"

REGISTRAR = "registrar"
CONFIRMER = "confirmer"
ROLES: tuple[str, ...] = (REGISTRAR, CONFIRMER)
"""Roles a staff token may hold: ``registrar`` (register, amend, withdraw, deliver, revoke,
anchor batches) and ``confirmer`` (confirm or dispute deliveries it did not record)."""


class UnknownStaffTokenError(StaffAuthError):
    """No token was presented, or it matches no entry of the token file (HTTP 401)."""

    def __init__(self, reason: str = "Missing or unknown staff token.") -> None:
        super().__init__(
            f"{reason} Send `Authorization: Bearer <token>` with a token issued by `{ADMIN_COMMAND} tokens issue`."
        )


class ExpiredStaffTokenError(UnknownStaffTokenError):
    """The token is known but its ``expires_at`` has passed (HTTP 401).

    Attributes:
        token_id: the token's public id.
        expires_at: when it expired, Unix seconds.
    """

    def __init__(self, token_id: str, expires_at: int) -> None:
        StaffAuthError.__init__(
            self,
            f"This staff token ({token_id}) expired at {_iso(expires_at)}. Ask an operator for a new one "
            f"(`{ADMIN_COMMAND} tokens issue`).",
        )
        self.token_id = token_id
        self.expires_at = expires_at


class RevokedStaffTokenError(UnknownStaffTokenError):
    """The token is known but was revoked (HTTP 401).

    Attributes:
        token_id: the token's public id.
        revoked_at: when it was revoked, Unix seconds.
    """

    def __init__(self, token_id: str, revoked_at: int) -> None:
        StaffAuthError.__init__(self, f"This staff token ({token_id}) was revoked at {_iso(revoked_at)}.")
        self.token_id = token_id
        self.revoked_at = revoked_at


class LegacyKeyFileError(LedgerConfigError):
    """The token file is a v1/v2 file with plain private keys: refused until migrated."""


class UnknownTokenIdError(LedgerConfigError):
    """No token of the token file has this id (revoking)."""


class StaffForbiddenError(StaffAuthError):
    """A valid token was used on a record of another municipality (HTTP 403)."""

    def __init__(self, token_municipality_id: int, record_municipality_id: int, what: str) -> None:
        super().__init__(
            f"This token is for municipality {token_municipality_id}; {what} belongs to "
            f"municipality {record_municipality_id}."
        )
        self.token_municipality_id = token_municipality_id
        self.record_municipality_id = record_municipality_id


class StaffRoleError(StaffAuthError):
    """A valid token was used for a write its roles do not allow (HTTP 403), e.g. a
    confirmer-only token recording a delivery."""

    def __init__(self, account: str, municipality_id: int, roles: Iterable[str], needed_role: str, what: str) -> None:
        held = ", ".join(sorted(roles)) or "none"
        super().__init__(
            f"This token (account {account} of municipality {municipality_id}) holds the role(s) {held}, "
            f"not {needed_role}, which {what} needs. Use a {needed_role}'s token."
        )
        self.account = account
        self.municipality_id = municipality_id
        self.roles = tuple(sorted(roles))
        self.needed_role = needed_role


@dataclass(frozen=True)
class StaffIdentity:
    """Who a token stands for: an account of one municipality, its signing key (unlocked from
    its keystore) and the roles the API lets it use.

    Attributes:
        municipality_id: the municipality the token may write for.
        registrar: the token's account, EIP-55 checksummed (named so since v1; a
            confirmer-only token's account too).
        private_key: the account's key (``0x`` hex); never printed.
        roles: the roles of :data:`ROLES` the token may use (default: registrar).
        token_id: the token's public id (``tok_`` + 8 hex), empty when built by hand.
    """

    municipality_id: int
    registrar: str
    private_key: str = field(repr=False)
    roles: frozenset[str] = frozenset({REGISTRAR})
    token_id: str = field(default="", compare=False)

    @property
    def account(self) -> str:
        """The token's account (= :attr:`registrar`)."""
        return self.registrar

    def require_role(self, role: str, what: str) -> None:
        """Check that the token may make a write that needs ``role``.

        Raises:
            StaffRoleError: it does not hold that role.
        """
        if role not in self.roles:
            raise StaffRoleError(self.registrar, self.municipality_id, self.roles, role, what)

    def require_municipality(self, municipality_id: int, what: str) -> None:
        """Check that a record of ``municipality_id`` may be written with this token.

        Raises:
            StaffForbiddenError: it belongs to another municipality.
        """
        if municipality_id != self.municipality_id:
            raise StaffForbiddenError(self.municipality_id, municipality_id, what)


@dataclass(frozen=True)
class RelayerIdentity:
    """The API's relayer: submits writes signed by registrars and confirmers (``...BySig``) and
    pays their gas. It holds no role; records name the signer.

    Attributes:
        account: EIP-55 checksummed address.
        private_key: its key (``0x`` hex); never printed.
    """

    account: str
    private_key: str = field(repr=False)


def token_sha256(token: str) -> str:
    """``0x`` + SHA-256 hex of the token's UTF-8 bytes: what the token file stores."""
    return "0x" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def _iso(unix_seconds: int) -> str:
    return datetime.fromtimestamp(unix_seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_token_id() -> str:
    """A fresh public token id: ``tok_`` + 8 random lowercase hex."""
    return "tok_" + secrets.token_hex(4)


@dataclass(frozen=True)
class TokenRecord:
    """One token of the token file, as listed (no token, no hash).

    Attributes:
        token_id: public id, ``tok_`` + 8 hex.
        municipality_id: the municipality it may write for.
        roles: its roles, in :data:`ROLES` order.
        account: the account it signs with, EIP-55.
        issued_at: Unix seconds.
        expires_at: Unix seconds; usable before it.
        revoked_at: Unix seconds, or ``None`` while not revoked.
    """

    token_id: str
    municipality_id: int
    roles: tuple[str, ...]
    account: str
    issued_at: int
    expires_at: int
    revoked_at: int | None = None

    def state(self, now: int) -> str:
        """``active``, ``expired`` or ``revoked`` at ``now`` (Unix seconds)."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if now >= self.expires_at else "active"


@dataclass(frozen=True)
class _Entry:
    digest: bytes = field(repr=False)
    record: TokenRecord


@dataclass(frozen=True)
class _KeyFile:
    entries: tuple[_Entry, ...]
    relayer: str | None


def _roles(value: Any) -> tuple[str, ...]:
    """The ``roles`` of a token file entry, in :data:`ROLES` order.

    Raises:
        ValueError: not a non-empty list of :data:`ROLES`.
    """
    if not isinstance(value, list) or not value or any(r not in ROLES for r in value):
        raise ValueError(f"roles must be a non-empty list of {', '.join(ROLES)}, not {value!r}")
    return tuple(role for role in ROLES if role in value)


_KEY_FILE_SHAPE = (
    '{"version": 3, "tokens": [{"token_id": "tok_..", "token_sha256": "0x..", "municipality_id": 1, '
    '"roles": ["registrar"], "account": "0x..", "issued_at": 0, "expires_at": 0, "revoked_at": null}], '
    '"relayer": {"account": "0x.."}} ("relayer" optional).'
)


def _is_legacy(raw: Any) -> bool:
    """Whether ``raw`` is a v1/v2 key file (plain private keys)."""
    if not isinstance(raw, dict):
        return False
    tokens = raw.get("tokens")
    relayer = raw.get("relayer")
    return (isinstance(tokens, list) and any(isinstance(t, dict) and "private_key" in t for t in tokens)) or (
        isinstance(relayer, dict) and "private_key" in relayer
    )


def _address(value: Any, what: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise ValueError(f"{what} must be an address")
    return to_checksum_address(value)


def _unix(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be Unix seconds (an integer >= 0)")
    return value


def _parse_key_file(path: Path, text: str) -> _KeyFile:
    """The tokens and relayer of a v3 token file.

    Raises:
        LegacyKeyFileError: a v1/v2 file with plain keys.
        LedgerConfigError: malformed (the message names the file and the field, never a value
            that could be secret).
    """
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise LedgerConfigError(f"Staff token file {path} is not JSON (line {getattr(exc, 'lineno', '?')}).") from None
    if _is_legacy(raw):
        raise LegacyKeyFileError(
            f"Staff token file {path} holds plain private keys (a v1/v2 file): it is not used. Move them into "
            f"encrypted keystores with `{ADMIN_COMMAND} keys migrate`."
        )
    try:
        if not isinstance(raw, dict) or raw.get("version") != KEY_FILE_VERSION or not isinstance(raw.get("tokens"), list):
            raise ValueError(f"version must be {KEY_FILE_VERSION}, with a list of tokens")
        entries = []
        seen_ids: set[str] = set()
        for n, item in enumerate(raw["tokens"]):
            where = f"token {n}"
            if not isinstance(item, dict):
                raise ValueError(f"{where} must be an object")
            digest_hex = item.get("token_sha256")
            if not isinstance(digest_hex, str):
                raise ValueError(f"{where}: token_sha256 missing")
            digest = bytes.fromhex(digest_hex.removeprefix("0x"))
            if len(digest) != 32:
                raise ValueError(f"{where}: token_sha256 must be 32 bytes")
            token_id = item.get("token_id")
            if not isinstance(token_id, str) or not token_id.startswith("tok_") or len(token_id) > 40:
                raise ValueError(f"{where}: token_id must be tok_...")
            if token_id in seen_ids:
                raise ValueError(f"{where}: token_id {token_id} appears twice")
            seen_ids.add(token_id)
            municipality_id = item.get("municipality_id")
            if isinstance(municipality_id, bool) or not isinstance(municipality_id, int) or municipality_id < 1:
                raise ValueError(f"{where} ({token_id}): municipality_id must be an integer >= 1")
            revoked_at = item.get("revoked_at")
            record = TokenRecord(
                token_id=token_id,
                municipality_id=municipality_id,
                roles=_roles(item.get("roles")),
                account=_address(item.get("account"), f"{where} ({token_id}): account"),
                issued_at=_unix(item.get("issued_at"), f"{where} ({token_id}): issued_at"),
                expires_at=_unix(item.get("expires_at"), f"{where} ({token_id}): expires_at"),
                revoked_at=None if revoked_at is None else _unix(revoked_at, f"{where} ({token_id}): revoked_at"),
            )
            entries.append(_Entry(digest, record))
        relayer = raw.get("relayer")
        if relayer is not None:
            if not isinstance(relayer, dict):
                raise ValueError("relayer must be an object")
            relayer = _address(relayer.get("account"), "relayer account")
        return _KeyFile(tuple(entries), relayer)
    except (TypeError, ValueError) as exc:
        raise LedgerConfigError(f"Staff token file {path} is malformed ({exc}). Expected {_KEY_FILE_SHAPE}") from None


def _read_key_file(path: Path) -> dict[str, Any]:
    """The token file's JSON (an empty v3 file if missing), after checking it loads.

    Raises:
        LedgerConfigError: the file is malformed or legacy (nothing is then written to it).
    """
    if not path.exists():
        return {"version": KEY_FILE_VERSION, "tokens": []}
    text = path.read_text(encoding="utf-8")
    _parse_key_file(path, text)  # refuse to extend a malformed file
    return dict(json.loads(text))


def _write_key_file(path: Path, data: dict[str, Any]) -> None:
    """Write the token file atomically (temporary file beside it, fsynced, renamed), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".staff-keys-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``.<name>.lock`` beside the token file (created 0600) while
    it is read, changed and rewritten, so two commands at once never lose a change."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def default_keystore_dir(keys_file: Path) -> Path:
    """Where the keystores of a token file live unless told otherwise: ``keystores`` beside it
    (``settings.keystore_dir``'s default)."""
    return Path(keys_file).parent / "keystores"


def _keystore(keys_file: Path, keystore_dir: Path | None, options: KeystoreOptions | None) -> Keystore:
    return Keystore(keystore_dir or default_keystore_dir(keys_file), options or options_from_environ())


class StaffRegistry:
    """The staff tokens of the token file, with their accounts' keys unlocked.

    Args:
        keys_file: path of the token file; a missing file means no token is valid.
        keystore_dir: the keystore folder (default: ``keystores`` beside the token file).
        options: password and kdf of the keystores (default: from ``LEDGER_KEYSTORE_*``,
            :func:`ledger.keystore.options_from_environ`).
        clock: the time, Unix seconds (tests pass their own).

    Raises:
        LegacyKeyFileError: the file holds plain keys (migrate it).
        LedgerConfigError: the file is malformed.
        KeystoreError: a keystore of an active token or of the relayer is missing, does not
            unlock with the password, or is malformed (the message names its file).
    """

    def __init__(self, keys_file: Path, keystore_dir: Path | None = None, options: KeystoreOptions | None = None,
                 clock: Any = time.time) -> None:
        self.keys_file = Path(keys_file)
        self.keystore = _keystore(self.keys_file, keystore_dir, options)
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._file = _KeyFile((), None)
        self._keys: dict[str, str] = {}
        self._signers: dict[str, str] = {}  # keys unlocked for workspace sessions (signing_identity)
        self._ephemeral: dict[bytes, tuple[StaffIdentity, float]] = {}  # SHA-256 of the token → (identity, expires_at)
        self._load(strict=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> StaffRegistry:
        """The registry of ``settings`` (token file, keystore folder, password), checked now.

        Raises:
            LedgerConfigError: as the constructor, or no usable password
                (``KeystorePasswordMissingError``).
        """
        return cls(settings.staff_keys_file, settings.keystore_dir, keystore_options(settings))

    def _now(self) -> int:
        return int(self._clock())

    def _load(self, strict: bool) -> None:
        try:
            st = self.keys_file.stat()
        except FileNotFoundError:
            with self._lock:
                self._stamp, self._file = None, _KeyFile((), None)
            return
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp == self._stamp:
                return
            try:
                loaded = _parse_key_file(self.keys_file, self.keys_file.read_text(encoding="utf-8"))
                keys = self._unlock_needed(loaded)
            except LedgerConfigError as exc:
                if strict:
                    raise
                logger.error("staff token file %s changed but does not load (%s: %s); the previous %d token(s) stay "
                             "in force", self.keys_file, type(exc).__name__, exc, len(self._file.entries))
                self._stamp = stamp  # logged once per change
                return
            self._file, self._keys, self._stamp = loaded, keys, stamp

    def _unlock_needed(self, loaded: _KeyFile) -> dict[str, str]:
        """Private keys of the relayer and of the accounts of active tokens (cached ones kept)."""
        now = self._now()
        needed = {e.record.account for e in loaded.entries if e.record.state(now) == "active"}
        if loaded.relayer is not None:
            needed.add(loaded.relayer)
        keys = {}
        for account in sorted(needed):
            keys[account] = self._keys.get(account) or self.keystore.unlock(account)
        return keys

    def relayer(self) -> RelayerIdentity | None:
        """The relayer of the token file (re-read when it changed), or ``None`` if it has none."""
        self._load(strict=False)
        account = self._file.relayer
        if account is None or account not in self._keys:
            return None
        return RelayerIdentity(account, self._keys[account])

    def key_for(self, account: str) -> str | None:
        """The private key this server holds for ``account``: a token's, a workspace signer's
        (:meth:`signing_identity`), else its keystore's if there is one, unlocked now (the write
        outbox signs a journaled write again with it after a restart, when a nonce was taken).
        ``None`` when no keystore of it is here or it does not unlock."""
        checksummed = to_checksum_address(account)
        with self._lock:
            key = self._keys.get(checksummed) or self._signers.get(checksummed)
        if key is not None:
            return key
        try:
            key = self.keystore.unlock(checksummed)
        except LedgerConfigError:
            return None
        with self._lock:
            self._signers[checksummed] = key
        return key

    def signing_identity(self, municipality_id: int, account: str, roles: Iterable[str]) -> StaffIdentity:
        """The identity a staff workspace session writes with: its person's ``signer`` account
        (EIP-55; its key unlocked from its keystore once and kept), its municipality and the
        write roles it holds (``registrar``, ``confirmer``; others are dropped). As a token's,
        its ``token_id`` is empty: the outbox names the account.

        Raises:
            KeystoreMissingError: no keystore for the account (import it with
                ``python -m scripts.admin keys import``).
            KeystoreError: the keystore does not unlock or is malformed.
        """
        checksummed = to_checksum_address(account)
        with self._lock:
            key = self._keys.get(checksummed) or self._signers.get(checksummed)
        if key is None:
            key = self.keystore.unlock(checksummed)
            with self._lock:
                self._signers[checksummed] = key
        return StaffIdentity(municipality_id, checksummed, key, frozenset(r for r in roles if r in ROLES))

    def issue_ephemeral(self, identity: StaffIdentity, ttl_seconds: float, label: str = "") -> str:
        """A short-lived bearer token for ``identity`` (e.g. a workspace session's
        :meth:`signing_identity`), recognised by :meth:`authenticate` until ``ttl_seconds``
        from now or :meth:`revoke_ephemeral`. Kept in this process's memory only (its SHA-256),
        never written to the token file: a restart ends it. The staff workspace's importer runs
        with one, so the importer speaks to the API as the signed-in person.

        Args:
            identity: who the token stands for (municipality, account and key, roles).
            ttl_seconds: lifetime, seconds (> 0).
            label: the identity's ``token_id`` as the outbox records it (``import-<job>``), at
                most 40 characters; empty: ``eph_`` + 8 hex.

        Returns:
            The token (URL-safe text, 32 random bytes).

        Raises:
            ValueError: ``ttl_seconds`` not positive, or ``label`` too long.
        """
        if not ttl_seconds > 0:
            raise ValueError("an ephemeral token's lifetime must be positive")
        if len(label) > 40:
            raise ValueError("an ephemeral token's label is at most 40 characters")
        token = secrets.token_urlsafe(32)
        bound = StaffIdentity(identity.municipality_id, identity.registrar, identity.private_key, identity.roles,
                              label or "eph_" + secrets.token_hex(4))
        now = self._clock()
        with self._lock:
            self._ephemeral = {d: (i, t) for d, (i, t) in self._ephemeral.items() if t > now}  # expired ones go
            self._ephemeral[hashlib.sha256(token.encode("utf-8")).digest()] = (bound, now + ttl_seconds)
        return token

    def revoke_ephemeral(self, token: str) -> None:
        """End an ephemeral token at once (unknown or ended already: nothing happens)."""
        with self._lock:
            self._ephemeral.pop(hashlib.sha256(token.encode("utf-8")).digest(), None)

    def _ephemeral_identity(self, presented: bytes) -> StaffIdentity | None:
        """The identity of an ephemeral token still valid, compared in constant time with each."""
        now = self._clock()
        found = None
        with self._lock:
            entries = list(self._ephemeral.items())
        for digest, (identity, expires_at) in entries:
            if hmac.compare_digest(digest, presented) and now < expires_at:
                found = identity
        return found

    def __len__(self) -> int:
        """How many tokens are active now."""
        now = self._now()
        return sum(1 for e in self._file.entries if e.record.state(now) == "active")

    def tokens(self) -> list[TokenRecord]:
        """Every token of the file (re-read when it changed), in file order."""
        self._load(strict=False)
        return [e.record for e in self._file.entries]

    def authenticate(self, token: str | None) -> StaffIdentity:
        """The identity a token stands for (a token of the file, or an ephemeral one of
        :meth:`issue_ephemeral` still valid).

        Every entry is compared in constant time (the loop does not stop at a match).

        Raises:
            UnknownStaffTokenError: no token, or an unknown one.
            RevokedStaffTokenError: a revoked token.
            ExpiredStaffTokenError: a token past its ``expires_at``.
        """
        if not token:
            raise UnknownStaffTokenError("No staff token was sent.")
        self._load(strict=False)
        presented = hashlib.sha256(token.encode("utf-8")).digest()
        ephemeral = self._ephemeral_identity(presented)
        if ephemeral is not None:
            return ephemeral
        found: TokenRecord | None = None
        for entry in self._file.entries:
            if hmac.compare_digest(entry.digest, presented):
                found = entry.record
        if found is None:
            raise UnknownStaffTokenError("Unknown staff token.")
        if found.revoked_at is not None:
            raise RevokedStaffTokenError(found.token_id, found.revoked_at)
        if self._now() >= found.expires_at:
            raise ExpiredStaffTokenError(found.token_id, found.expires_at)
        key = self._keys.get(found.account)
        if key is None:  # became active after the last load (e.g. a clock set back): unlock now
            key = self.keystore.unlock(found.account)
            self._keys[found.account] = key
        return StaffIdentity(found.municipality_id, found.account, key, frozenset(found.roles), found.token_id)


def _wanted_roles(roles: Iterable[str] | str) -> list[str]:
    roles = (roles,) if isinstance(roles, str) else tuple(roles)
    wanted = [role for role in ROLES if role in set(roles)]
    if not wanted or set(roles) - set(ROLES):
        raise LedgerConfigError(f"roles must be one or more of {', '.join(ROLES)}, not {sorted(set(roles))}.")
    return wanted


def issue_token(
    path: Path,
    municipality_id: int,
    private_key: str | None = None,
    roles: Iterable[str] = (REGISTRAR,),
    *,
    account: str | None = None,
    expires_in_seconds: int | None = None,
    now: int | None = None,
    keystore_dir: Path | None = None,
    options: KeystoreOptions | None = None,
) -> str:
    """Create a token for an account of ``municipality_id`` with ``roles`` and add its SHA-256
    (with a fresh token id, ``issued_at`` and ``expires_at``) to the token file (created if
    missing), written atomically with mode 0600.

    The account is that of ``private_key``, whose keystore is then written (replaced) in the
    keystore folder; or ``account``, whose keystore must exist already and unlock. The token is
    returned once and stored nowhere in clear. Whether the account really holds the roles on
    chain is checked by the contract on every write.

    Args:
        path: the token file.
        municipality_id: the municipality the token may write for (>= 1).
        private_key: the account's key, ``0x`` hex (or ``None`` with ``account``).
        roles: roles of :data:`ROLES` the token may use (at least one; default registrar).
        account: the account of an existing keystore, instead of ``private_key``.
        expires_in_seconds: lifetime, seconds (default ``LEDGER_TOKEN_LIFETIME_DAYS`` or
            :data:`DEFAULT_TOKEN_LIFETIME_SECONDS`).
        now: issue time, Unix seconds (default: the clock).
        keystore_dir: the keystore folder (default: ``keystores`` beside the token file).
        options: keystore password and kdf (default: from ``LEDGER_KEYSTORE_*``).

    Returns:
        The token (URL-safe text, 32 random bytes).

    Raises:
        LedgerConfigError: the existing file is malformed or legacy, the arguments are
            invalid, or the account's keystore is missing or does not unlock.
    """
    if municipality_id < 1:
        raise LedgerConfigError("municipality_id must be >= 1.")
    wanted = _wanted_roles(roles)
    if (private_key is None) == (account is None):
        raise LedgerConfigError("Give the account's private key or the account of an existing keystore (not both).")
    if expires_in_seconds is None:
        days = os.environ.get("LEDGER_TOKEN_LIFETIME_DAYS")
        expires_in_seconds = int(days) * 86400 if days else DEFAULT_TOKEN_LIFETIME_SECONDS
    if expires_in_seconds < 1:
        raise LedgerConfigError("A token's lifetime must be at least 1 second.")
    path = Path(path)
    _read_key_file(path)  # a malformed or legacy file: refused before a keystore is written
    keystore = _keystore(path, keystore_dir, options)
    if private_key is not None:
        address = keystore.write(private_key)
    else:
        if not isinstance(account, str) or not is_address(account):
            raise LedgerConfigError(f"Not an account address: {account!r}.")
        address = to_checksum_address(account)
        keystore.unlock(address)  # a missing keystore or a wrong password now, not at start-up
    issued_at = int(time.time()) if now is None else now
    token = secrets.token_urlsafe(32)
    with _file_lock(path):
        data = _read_key_file(path)
        ids = {t.get("token_id") for t in data["tokens"]}
        token_id = new_token_id()
        while token_id in ids:
            token_id = new_token_id()
        data["version"] = KEY_FILE_VERSION
        data["tokens"] = [
        *data["tokens"],
            {
                "token_id": token_id,
                "token_sha256": token_sha256(token),
                "municipality_id": municipality_id,
                "roles": wanted,
                "account": address,
                "issued_at": issued_at,
                "expires_at": issued_at + expires_in_seconds,
                "revoked_at": None,
            },
        ]
        _write_key_file(path, data)
    return token


def token_id_of(path: Path, token: str) -> str:
    """The public id of ``token`` in the token file.

    Raises:
        UnknownStaffTokenError: no such token.
    """
    digest = token_sha256(token)
    for item in _read_key_file(Path(path))["tokens"]:
        if hmac.compare_digest(str(item["token_sha256"]), digest):
            return str(item["token_id"])
    raise UnknownStaffTokenError("Unknown staff token.")


def list_tokens(path: Path) -> list[TokenRecord]:
    """Every token of the token file (none if it is missing), in file order.

    Raises:
        LedgerConfigError: the file is malformed or legacy.
    """
    path = Path(path)
    if not path.exists():
        return []
    return [e.record for e in _parse_key_file(path, path.read_text(encoding="utf-8")).entries]


def relayer_of(path: Path) -> str | None:
    """The relayer account of the token file, or ``None`` (no file, or no relayer).

    Raises:
        LedgerConfigError: the file is malformed or legacy.
    """
    path = Path(path)
    if not path.exists():
        return None
    return _parse_key_file(path, path.read_text(encoding="utf-8")).relayer


def revoke_token(path: Path, token_id: str, now: int | None = None) -> TokenRecord:
    """Mark the token ``token_id`` revoked at ``now`` (Unix seconds; default the clock) in the
    token file; a token revoked already keeps its first ``revoked_at``.

    Returns:
        The token as now recorded.

    Raises:
        UnknownTokenIdError: no token has this id.
        LedgerConfigError: the file is malformed or legacy.
    """
    path = Path(path)
    with _file_lock(path):
        data = _read_key_file(path)
        for item in data["tokens"]:
            if item["token_id"] == token_id:
                if item.get("revoked_at") is None:
                    item["revoked_at"] = int(time.time()) if now is None else now
                    _write_key_file(path, data)
                return next(r for r in list_tokens(path) if r.token_id == token_id)
    raise UnknownTokenIdError(f"No token {token_id!r} in {path} (`{ADMIN_COMMAND} tokens list` shows them).")


def set_relayer_key(path: Path, private_key: str, *, keystore_dir: Path | None = None,
                    options: KeystoreOptions | None = None) -> str:
    """Make the account of ``private_key`` the API's relayer: its keystore written (replaced)
    in the keystore folder, its address in the token file (created if missing; tokens kept),
    written atomically with mode 0600.

    Returns:
        The relayer's address.

    Raises:
        LedgerConfigError: the existing file is malformed or legacy, or the key is invalid.
    """
    path = Path(path)
    _read_key_file(path)  # a malformed or legacy file: refused before a keystore is written
    account = _keystore(path, keystore_dir, options).write(private_key)
    with _file_lock(path):
        data = _read_key_file(path)
        data["version"] = KEY_FILE_VERSION
        data["relayer"] = {"account": account}
        _write_key_file(path, data)
    return account


@dataclass(frozen=True)
class Migration:
    """What :func:`migrate_key_file` did.

    Attributes:
        accounts: EIP-55 addresses whose keys were moved into keystores, sorted.
        tokens: the migrated tokens (new ids, ``issued_at`` = the migration,
            ``expires_at`` = it + the lifetime).
        relayer: the relayer's address, or ``None``.
    """

    accounts: tuple[str, ...]
    tokens: tuple[TokenRecord, ...]
    relayer: str | None


def migrate_key_file(path: Path, *, keystore_dir: Path | None = None, options: KeystoreOptions | None = None,
                     expires_in_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS, now: int | None = None) -> Migration:
    """Move the plain keys of a v1/v2 key file into keystores and rewrite the file as v3
    (tokens keep their hashes, municipality and roles; each gets an id and an expiry).

    Keystores are written first, then the file is replaced atomically, so an interruption
    leaves the old file (run it again).

    Raises:
        LedgerConfigError: the file is missing, is not a v1/v2 file, or an entry is malformed
            (nothing is written then).
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LedgerConfigError(f"No staff key file at {path}.") from None
    except ValueError:
        raise LedgerConfigError(f"Staff key file {path} is not JSON.") from None
    if not _is_legacy(raw):
        _parse_key_file(path, json.dumps(raw))  # a v3 file: malformed or fine, nothing to migrate
        raise LedgerConfigError(f"Staff token file {path} holds no plain key: nothing to migrate.")
    keystore = _keystore(path, keystore_dir, options)
    issued_at = int(time.time()) if now is None else now
    keys: dict[str, str] = {}
    tokens = []
    try:
        for n, item in enumerate(raw["tokens"]):
            address = Account.from_key(str(item["private_key"])).address
            named = item.get("registrar")
            if named is not None and to_checksum_address(named) != address:
                raise ValueError(f"token {n}: registrar does not match its private key")
            municipality_id = int(item["municipality_id"])
            if municipality_id < 1:
                raise ValueError(f"token {n}: municipality_id must be >= 1")
            digest = bytes.fromhex(str(item["token_sha256"]).removeprefix("0x"))
            if len(digest) != 32:
                raise ValueError(f"token {n}: token_sha256 must be 32 bytes")
            keys[address] = str(item["private_key"])
            tokens.append({
                "token_id": new_token_id(),
                "token_sha256": "0x" + digest.hex(),
                "municipality_id": municipality_id,
                "roles": list(_roles(item.get("roles", [REGISTRAR]))),
                "account": address,
                "issued_at": issued_at,
                "expires_at": issued_at + expires_in_seconds,
                "revoked_at": None,
            })
        relayer = None
        if raw.get("relayer") is not None:
            relayer = Account.from_key(str(raw["relayer"]["private_key"])).address
            named = raw["relayer"].get("account")
            if named is not None and to_checksum_address(named) != relayer:
                raise ValueError("relayer account does not match its private key")
            keys[relayer] = str(raw["relayer"]["private_key"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) and str(exc).startswith(("token", "relayer")) else type(exc).__name__
        raise LedgerConfigError(f"Staff key file {path} is malformed ({reason}): nothing migrated.") from None
    for key in keys.values():
        keystore.write(key)
    data: dict[str, Any] = {"version": KEY_FILE_VERSION, "tokens": tokens}
    if relayer is not None:
        data["relayer"] = {"account": relayer}
    _write_key_file(path, data)
    return Migration(tuple(sorted(keys)), tuple(list_tokens(path)), relayer)


def main(argv: list[str] | None = None) -> int:
    """The old command line: says where the commands moved (exit status 2)."""
    print(
        f"`python -m ledger.staff` has moved: use `{ADMIN_COMMAND} tokens issue --municipality-id N --role registrar`, "
        f"`{ADMIN_COMMAND} tokens list`, `{ADMIN_COMMAND} tokens revoke <token id>`, `{ADMIN_COMMAND} keys import` and "
        f"`{ADMIN_COMMAND} keys set-relayer` (`{ADMIN_COMMAND} --help`).",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
