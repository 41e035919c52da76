"""Staff tokens: each bound to one registrar account (and its key) of one municipality.

The key file (``settings.staff_keys_file``, readable by its owner only) holds::

    {"tokens": [{"token_sha256": "0x..", "municipality_id": 1,
                 "registrar": "0x..", "private_key": "0x.."}]}

Tokens are never stored in clear: only their SHA-256. :meth:`StaffRegistry.authenticate`
hashes the presented token and compares it with every entry using
:func:`hmac.compare_digest`. The file is re-read when it changes, so a token issued while the
server runs works at once.

Issue a token (prints it once; the registrar key is read from the environment variable
``LEDGER_REGISTRAR_KEY`` or asked for, never taken from the command line)::

    python -m ledger.staff --municipality-id 1 [--keys-file data/staff-keys.json]
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

from eth_account import Account
from eth_utils import to_checksum_address

from ledger.errors import LedgerConfigError, StaffAuthError


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


@dataclass(frozen=True)
class StaffIdentity:
    """Who a token stands for: a registrar account of one municipality, and its signing key.

    Attributes:
        municipality_id: the municipality the token may write for.
        registrar: the registrar account, EIP-55 checksummed.
        private_key: the account's key (``0x`` hex); never printed.
    """

    municipality_id: int
    registrar: str
    private_key: str = field(repr=False)

    def require_municipality(self, municipality_id: int, what: str) -> None:
        """Check that a record of ``municipality_id`` may be written with this token.

        Raises:
            StaffForbiddenError: it belongs to another municipality.
        """
        if municipality_id != self.municipality_id:
            raise StaffForbiddenError(self.municipality_id, municipality_id, what)


def token_sha256(token: str) -> str:
    """``0x`` + SHA-256 hex of the token's UTF-8 bytes: what the key file stores."""
    return "0x" + hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    identity: StaffIdentity


def _parse_entries(path: Path, text: str) -> list[_Entry]:
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
            entries.append(_Entry(digest, StaffIdentity(municipality_id, registrar, key)))
        return entries
    except (KeyError, TypeError, ValueError) as exc:
        raise LedgerConfigError(
            f"Staff key file {path} is malformed ({type(exc).__name__}: {exc}). Expected "
            '{"tokens": [{"token_sha256": "0x..", "municipality_id": 1, "registrar": "0x..", '
            '"private_key": "0x.."}]}.'
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
        self._reload_if_changed()

    def _reload_if_changed(self) -> None:
        try:
            st = self.keys_file.stat()
        except FileNotFoundError:
            with self._lock:
                self._stamp, self._entries = None, []
            return
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp == self._stamp:
                return
            self._entries = _parse_entries(self.keys_file, self.keys_file.read_text(encoding="utf-8"))
            self._stamp = stamp

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


def issue_token(path: Path, municipality_id: int, private_key: str) -> str:
    """Create a token for the registrar account of ``private_key`` in ``municipality_id`` and
    add its SHA-256 to the key file (created if missing), written atomically with mode 0600.

    The token is returned once and stored nowhere in clear. Whether the account really is a
    registrar of the municipality is checked by the contract on every write.

    Args:
        path: the key file.
        municipality_id: the municipality the token may write for (>= 1).
        private_key: the registrar account's key, ``0x`` hex.

    Returns:
        The token (URL-safe text, 32 random bytes).

    Raises:
        LedgerConfigError: the existing file is malformed, or the arguments are invalid.
    """
    if municipality_id < 1:
        raise LedgerConfigError("municipality_id must be >= 1.")
    try:
        registrar = Account.from_key(private_key).address
    except (ValueError, TypeError) as exc:
        raise LedgerConfigError(f"Not a valid private key: {type(exc).__name__}.") from exc
    path = Path(path)
    tokens: list[dict[str, object]] = []
    if path.exists():
        text = path.read_text(encoding="utf-8")
        _parse_entries(path, text)  # refuse to extend a malformed file
        tokens = list(json.loads(text)["tokens"])
    token = secrets.token_urlsafe(32)
    tokens.append(
        {
            "token_sha256": token_sha256(token),
            "municipality_id": municipality_id,
            "registrar": registrar,
            "private_key": private_key,
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".staff-keys-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"tokens": tokens}, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return token


def main(argv: list[str] | None = None) -> int:
    """Command line: issue a staff token and print it once."""
    from ledger.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m ledger.staff", description="Issue a staff token.")
    parser.add_argument("--municipality-id", type=int, required=True)
    parser.add_argument("--keys-file", type=Path, default=None, help="default: settings.staff_keys_file")
    args = parser.parse_args(argv)
    keys_file = args.keys_file or load_settings().staff_keys_file
    key = os.environ.get("LEDGER_REGISTRAR_KEY") or getpass.getpass("Registrar private key (0x...): ")
    token = issue_token(keys_file, args.municipality_id, key.strip())
    print(token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
