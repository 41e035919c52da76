"""Staff tokens: each bound to one account (and its key) of one municipality, with the roles
the API lets it use; and the API's relayer key.

The key file (``settings.staff_keys_file``, readable by its owner only) holds::

    {"tokens": [{"token_sha256": "0x..", "municipality_id": 1, "registrar": "0x..",
                 "private_key": "0x..", "roles": ["registrar", "confirmer"]}],
     "relayer": {"account": "0x..", "private_key": "0x.."}}

``registrar`` is the token's account (the name is kept from v1 key files, whatever its roles);
``roles`` (:data:`ROLES`, at least one) defaults to ``["registrar"]`` when missing. A role
here only says which API writes a token may make; the contract checks on every write that
the account holds that role on chain (``LedgerNotRegistrar``, ``LedgerNotConfirmer``).
``relayer`` (optional) is the account that submits writes signed elsewhere (``POST /relay``:
the ``...BySig`` functions) and pays their gas; it holds no role.

Tokens are never stored in clear: only their SHA-256. :meth:`StaffRegistry.authenticate`
hashes the presented token and compares it with every entry using
:func:`hmac.compare_digest`. The file is re-read when it changes, so a token issued while the
server runs works at once.

Issue a token (prints it once; the account's key is read from the environment variable
``LEDGER_REGISTRAR_KEY`` or asked for, never taken from the command line), or set the relayer
key (``LEDGER_RELAYER_KEY`` or asked for)::

    python -m ledger.staff --municipality-id 1 [--role registrar] [--role confirmer] [--keys-file data/staff-keys.json]
    python -m ledger.staff --relayer [--keys-file data/staff-keys.json]
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from eth_account import Account
from eth_utils import to_checksum_address

from ledger.errors import LedgerConfigError, StaffAuthError

REGISTRAR = "registrar"
CONFIRMER = "confirmer"
ROLES: tuple[str, ...] = (REGISTRAR, CONFIRMER)
"""Roles a staff token may hold: ``registrar`` (register, amend, withdraw, deliver, revoke,
anchor batches) and ``confirmer`` (confirm or dispute deliveries it did not record)."""


class UnknownStaffTokenError(StaffAuthError):
    """No token was presented, or it matches no entry of the key file (HTTP 401)."""

    def __init__(self, reason: str = "Missing or unknown staff token.") -> None:
        super().__init__(f"{reason} Send `Authorization: Bearer <token>` with a token issued by `python -m ledger.staff`.")


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
    """Who a token stands for: an account of one municipality, its signing key and the roles
    the API lets it use.

    Attributes:
        municipality_id: the municipality the token may write for.
        registrar: the token's account, EIP-55 checksummed (named so since v1; a
            confirmer-only token's account too).
        private_key: the account's key (``0x`` hex); never printed.
        roles: the roles of :data:`ROLES` the token may use (default: registrar).
    """

    municipality_id: int
    registrar: str
    private_key: str = field(repr=False)
    roles: frozenset[str] = frozenset({REGISTRAR})

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
    """``0x`` + SHA-256 hex of the token's UTF-8 bytes: what the key file stores."""
    return "0x" + hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    identity: StaffIdentity


def _roles(value: Any) -> frozenset[str]:
    """The ``roles`` of a key file entry (default ``["registrar"]``).

    Raises:
        ValueError: not a non-empty list of :data:`ROLES`.
    """
    if value is None:
        return frozenset({REGISTRAR})
    if not isinstance(value, list) or not value or any(r not in ROLES for r in value):
        raise ValueError(f"roles must be a non-empty list of {', '.join(ROLES)}, not {value!r}")
    return frozenset(value)


_KEY_FILE_SHAPE = (
    '{"tokens": [{"token_sha256": "0x..", "municipality_id": 1, "registrar": "0x..", "private_key": "0x..", '
    '"roles": ["registrar"]}], "relayer": {"account": "0x..", "private_key": "0x.."}} ("relayer" optional).'
)


def _parse_key_file(path: Path, text: str) -> tuple[list[_Entry], RelayerIdentity | None]:
    try:
        raw = json.loads(text)
        entries = []
        for item in raw["tokens"]:
            digest = bytes.fromhex(str(item["token_sha256"]).removeprefix("0x"))
            if len(digest) != 32:
                raise ValueError("token_sha256 must be 32 bytes")
            key = str(item["private_key"])
            registrar = Account.from_key(key).address
            if "registrar" in item and to_checksum_address(item["registrar"]) != registrar:
                raise ValueError(f"registrar {item['registrar']} does not match its private key")
            municipality_id = int(item["municipality_id"])
            if municipality_id < 1:
                raise ValueError("municipality_id must be >= 1")
            entries.append(_Entry(digest, StaffIdentity(municipality_id, registrar, key, _roles(item.get("roles")))))
        relayer = None
        if raw.get("relayer") is not None:
            key = str(raw["relayer"]["private_key"])
            account = Account.from_key(key).address
            if "account" in raw["relayer"] and to_checksum_address(raw["relayer"]["account"]) != account:
                raise ValueError(f"relayer account {raw['relayer']['account']} does not match its private key")
            relayer = RelayerIdentity(account, key)
        return entries, relayer
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise LedgerConfigError(
            f"Staff key file {path} is malformed ({type(exc).__name__}: {exc}). Expected {_KEY_FILE_SHAPE}"
        ) from exc


class StaffRegistry:
    """The staff tokens of the key file.

    Args:
        keys_file: path of the key file; a missing file means no token is valid.

    Raises:
        LedgerConfigError: the file exists but is malformed.
    """

    def __init__(self, keys_file: Path) -> None:
        self.keys_file = Path(keys_file)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._entries: list[_Entry] = []
        self._relayer: RelayerIdentity | None = None
        self._reload_if_changed()

    def _reload_if_changed(self) -> None:
        try:
            st = self.keys_file.stat()
        except FileNotFoundError:
            with self._lock:
                self._stamp, self._entries, self._relayer = None, [], None
            return
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp == self._stamp:
                return
            self._entries, self._relayer = _parse_key_file(self.keys_file, self.keys_file.read_text(encoding="utf-8"))
            self._stamp = stamp

    def relayer(self) -> RelayerIdentity | None:
        """The relayer of the key file (re-read when it changed), or ``None`` if it has none."""
        self._reload_if_changed()
        return self._relayer

    def __len__(self) -> int:
        return len(self._entries)

    def authenticate(self, token: str | None) -> StaffIdentity:
        """The identity a token stands for.

        Every entry is compared in constant time (the loop does not stop at a match).

        Raises:
            UnknownStaffTokenError: no token, or an unknown one.
        """
        if not token:
            raise UnknownStaffTokenError("No staff token was sent.")
        self._reload_if_changed()
        presented = hashlib.sha256(token.encode("utf-8")).digest()
        found: StaffIdentity | None = None
        for entry in self._entries:
            if hmac.compare_digest(entry.digest, presented):
                found = entry.identity
        if found is None:
            raise UnknownStaffTokenError("Unknown staff token.")
        return found


def _account_of(private_key: str) -> str:
    try:
        return Account.from_key(private_key).address
    except (ValueError, TypeError) as exc:
        raise LedgerConfigError(f"Not a valid private key: {type(exc).__name__}.") from exc


def _read_key_file(path: Path) -> dict[str, Any]:
    """The key file's JSON (``{"tokens": []}`` if missing), after checking it parses.

    Raises:
        LedgerConfigError: the file is malformed (nothing is then written to it).
    """
    if not path.exists():
        return {"tokens": []}
    text = path.read_text(encoding="utf-8")
    _parse_key_file(path, text)  # refuse to extend a malformed file
    return dict(json.loads(text))


def _write_key_file(path: Path, data: dict[str, Any]) -> None:
    """Write the key file atomically (temporary file beside it, fsynced, renamed), mode 0600."""
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


def issue_token(
    path: Path, municipality_id: int, private_key: str, roles: Iterable[str] = (REGISTRAR,)
) -> str:
    """Create a token for the account of ``private_key`` in ``municipality_id`` with ``roles``
    and add its SHA-256 to the key file (created if missing), written atomically with mode 0600.

    The token is returned once and stored nowhere in clear. Whether the account really holds
    the roles on chain is checked by the contract on every write.

    Args:
        path: the key file.
        municipality_id: the municipality the token may write for (>= 1).
        private_key: the account's key, ``0x`` hex.
        roles: roles of :data:`ROLES` the token may use (at least one; default registrar).

    Returns:
        The token (URL-safe text, 32 random bytes).

    Raises:
        LedgerConfigError: the existing file is malformed, or the arguments are invalid.
    """
    if municipality_id < 1:
        raise LedgerConfigError("municipality_id must be >= 1.")
    roles = (roles,) if isinstance(roles, str) else tuple(roles)
    wanted = [role for role in ROLES if role in set(roles)]
    if not wanted or set(roles) - set(ROLES):
        raise LedgerConfigError(f"roles must be one or more of {', '.join(ROLES)}, not {sorted(set(roles))}.")
    registrar = _account_of(private_key)
    path = Path(path)
    data = _read_key_file(path)
    token = secrets.token_urlsafe(32)
    data["tokens"] = [
        *data["tokens"],
        {
            "token_sha256": token_sha256(token),
            "municipality_id": municipality_id,
            "registrar": registrar,
            "private_key": private_key,
            "roles": wanted,
        },
    ]
    _write_key_file(path, data)
    return token


def set_relayer_key(path: Path, private_key: str) -> str:
    """Make the account of ``private_key`` the API's relayer in the key file (created if
    missing; tokens kept), written atomically with mode 0600.

    Returns:
        The relayer's address.

    Raises:
        LedgerConfigError: the existing file is malformed, or the key is invalid.
    """
    account = _account_of(private_key)
    path = Path(path)
    data = _read_key_file(path)
    data["relayer"] = {"account": account, "private_key": private_key}
    _write_key_file(path, data)
    return account


def main(argv: list[str] | None = None) -> int:
    """Command line: issue a staff token and print it once, or set the relayer key."""
    from ledger.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m ledger.staff", description="Issue a staff token, or set the relayer key.")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--municipality-id", type=int)
    target.add_argument("--relayer", action="store_true", help="set the API's relayer key (LEDGER_RELAYER_KEY or asked for)")
    parser.add_argument("--role", action="append", choices=ROLES, help="a role of the token (repeatable; default registrar)")
    parser.add_argument("--keys-file", type=Path, default=None, help="default: settings.staff_keys_file")
    args = parser.parse_args(argv)
    keys_file = args.keys_file or load_settings().staff_keys_file
    if args.relayer:
        key = os.environ.get("LEDGER_RELAYER_KEY") or getpass.getpass("Relayer private key (0x...): ")
        print(set_relayer_key(keys_file, key.strip()))
        return 0
    key = os.environ.get("LEDGER_REGISTRAR_KEY") or getpass.getpass("Account private key (0x...): ")
    token = issue_token(keys_file, args.municipality_id, key.strip(), args.role or (REGISTRAR,))
    print(token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
