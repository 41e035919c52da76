"""Staff tokens expire and are revoked (ledger/staff.py); a v1/v2 key file with plain keys is
refused until migrated into keystores; the registry is checked when built and keeps its
tokens when a later change of the file does not load."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from eth_account import Account

from ledger.errors import LedgerConfigError, StaffAuthError
from ledger.keystore import KeystoreMissingError, KeystoreOptions, KeystorePasswordError
from ledger.staff import (
    ExpiredStaffTokenError,
    LegacyKeyFileError,
    RevokedStaffTokenError,
    StaffIdentity,
    StaffRegistry,
    TokenRecord,
    UnknownStaffTokenError,
    UnknownTokenIdError,
    issue_token,
    list_tokens,
    migrate_key_file,
    revoke_token,
    set_relayer_key,
    token_id_of,
    token_sha256,
)

KEY_A = "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e"
KEY_B = "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356"
A = Account.from_key(KEY_A).address
B = Account.from_key(KEY_B).address
FAST = KeystoreOptions("pw", "pbkdf2", 2)
T0 = 1_800_000_000


class Clock:
    """A settable clock, Unix seconds."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> float:
        return float(self.now)


def test_a_token_is_valid_until_it_expires(tmp_path: Path) -> None:
    path = tmp_path / "staff-keys.json"
    token = issue_token(path, 1, KEY_A, expires_in_seconds=3600, now=T0, options=FAST)
    clock = Clock(T0 + 3599)
    registry = StaffRegistry(path, options=FAST, clock=clock)
    assert registry.authenticate(token) == StaffIdentity(1, A, KEY_A)
    clock.now = T0 + 3600
    with pytest.raises(ExpiredStaffTokenError) as refused:
        registry.authenticate(token)
    token_id = token_id_of(path, token)
    assert (refused.value.token_id, refused.value.expires_at) == (token_id, T0 + 3600)
    assert str(refused.value) == (f"This staff token ({token_id}) expired at 2027-01-15T09:00:00Z. Ask an operator for "
                                  "a new one (`python -m scripts.admin tokens issue`).")
    assert token not in str(refused.value)
    assert isinstance(refused.value, StaffAuthError)
    assert len(registry) == 0


def test_a_revoked_token_is_refused_at_once_by_a_running_registry(tmp_path: Path) -> None:
    path = tmp_path / "staff-keys.json"
    token = issue_token(path, 1, KEY_A, now=T0, options=FAST)
    other = issue_token(path, 2, KEY_B, now=T0, options=FAST)
    registry = StaffRegistry(path, options=FAST, clock=Clock(T0 + 10))
    assert registry.authenticate(token).token_id == token_id_of(path, token)
    record = revoke_token(path, token_id_of(path, token), now=T0 + 20)
    assert record == TokenRecord(token_id_of(path, token), 1, ("registrar",), A, T0, T0 + 90 * 86400, T0 + 20)
    with pytest.raises(RevokedStaffTokenError, match=rf"\({record.token_id}\) was revoked at 2027-01-15T08:00:20Z"):
        registry.authenticate(token)
    assert registry.authenticate(other).municipality_id == 2
    assert revoke_token(path, record.token_id, now=T0 + 99).revoked_at == T0 + 20  # the first revocation stays
    assert [r.state(T0 + 30) for r in list_tokens(path)] == ["revoked", "active"]


def test_revoking_an_unknown_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "staff-keys.json"
    issue_token(path, 1, KEY_A, options=FAST)
    before = path.read_text()
    with pytest.raises(UnknownTokenIdError, match="No token 'tok_00000000'"):
        revoke_token(path, "tok_00000000")
    assert path.read_text() == before


def test_a_token_for_an_existing_keystore_needs_no_key(tmp_path: Path) -> None:
    path = tmp_path / "staff-keys.json"
    issue_token(path, 1, KEY_A, options=FAST)
    token = issue_token(path, 2, None, ["confirmer"], account=A.lower(), options=FAST)
    assert StaffRegistry(path, options=FAST).authenticate(token) == StaffIdentity(2, A, KEY_A, frozenset({"confirmer"}))
    with pytest.raises(KeystoreMissingError):
        issue_token(path, 1, account=B, options=FAST)
    with pytest.raises(KeystorePasswordError):
        issue_token(path, 1, account=A, options=KeystoreOptions("other", "pbkdf2", 2))
    with pytest.raises(LedgerConfigError, match="not both"):
        issue_token(path, 1, KEY_A, account=A, options=FAST)


def test_the_registry_refuses_a_wrong_password_when_built(tmp_path: Path) -> None:
    path = tmp_path / "staff-keys.json"
    issue_token(path, 1, KEY_A, options=FAST)
    with pytest.raises(KeystorePasswordError, match=f"does not unlock {tmp_path / 'keystores' / A}.json"):
        StaffRegistry(path, options=KeystoreOptions("wrong", "pbkdf2", 2))


def test_expired_and_revoked_tokens_need_no_keystore(tmp_path: Path) -> None:
    path = tmp_path / "staff-keys.json"
    issue_token(path, 1, KEY_A, expires_in_seconds=10, now=T0, options=FAST)
    revoke_token(path, token_id_of(path, issue_token(path, 1, KEY_B, now=T0, options=FAST)), now=T0 + 1)
    for keystore in (tmp_path / "keystores").iterdir():
        keystore.unlink()
    registry = StaffRegistry(path, options=FAST, clock=Clock(T0 + 10))
    assert len(registry) == 0


def test_a_change_that_does_not_load_keeps_the_previous_tokens(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "staff-keys.json"
    token = issue_token(path, 1, KEY_A, options=FAST)
    registry = StaffRegistry(path, options=FAST)
    path.write_text('{"version": 3, "tokens": [{"token_sha256": "' + token_sha256(token) + '"}]}')
    with caplog.at_level(logging.ERROR, logger="ledger.staff"):
        assert registry.authenticate(token).municipality_id == 1
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert str(path) in caplog.text and "malformed" in caplog.text
    assert token not in caplog.text and token_sha256(token)[2:] not in caplog.text
    with pytest.raises(LedgerConfigError, match="malformed"):
        StaffRegistry(path, options=FAST)  # a new start-up refuses it


def _legacy_file(path: Path) -> tuple[str, str]:
    tokens = ("legacy-token-one", "legacy-token-two")
    path.write_text(json.dumps({
        "tokens": [
            {"token_sha256": token_sha256(tokens[0]), "municipality_id": 1, "registrar": A, "private_key": KEY_A},
            {"token_sha256": token_sha256(tokens[1]), "municipality_id": 2, "registrar": B, "private_key": KEY_B,
             "roles": ["confirmer"]},
        ],
        "relayer": {"account": B, "private_key": KEY_B},
    }))
    os.chmod(path, 0o600)
    return tokens


def test_a_legacy_key_file_with_plain_keys_is_refused_not_used(tmp_path: Path) -> None:
    path = tmp_path / "staff-keys.json"
    _legacy_file(path)
    with pytest.raises(LegacyKeyFileError, match=f"{path} holds plain private keys .* keys migrate") as refused:
        StaffRegistry(path, options=FAST)
    assert KEY_A[2:] not in str(refused.value)
    with pytest.raises(LegacyKeyFileError):
        issue_token(path, 1, KEY_A, options=FAST)
    with pytest.raises(LegacyKeyFileError):
        set_relayer_key(path, KEY_A, options=FAST)


def test_migration_moves_the_keys_into_keystores_and_the_tokens_keep_working(tmp_path: Path) -> None:
    path = tmp_path / "staff-keys.json"
    one, two = _legacy_file(path)
    done = migrate_key_file(path, options=FAST, expires_in_seconds=86400, now=T0)
    assert done.accounts == tuple(sorted((A, B))) and done.relayer == B
    assert [(t.municipality_id, t.roles, t.account, t.issued_at, t.expires_at) for t in done.tokens] == [
        (1, ("registrar",), A, T0, T0 + 86400), (2, ("confirmer",), B, T0, T0 + 86400)]
    text = path.read_text()
    assert KEY_A[2:] not in text and KEY_B[2:] not in text and "private_key" not in text
    assert sorted(p.name for p in (tmp_path / "keystores").iterdir()) == sorted([f"{A}.json", f"{B}.json"])
    registry = StaffRegistry(path, options=FAST, clock=Clock(T0 + 1))
    assert registry.authenticate(one) == StaffIdentity(1, A, KEY_A)
    assert registry.authenticate(two).roles == frozenset({"confirmer"})
    assert registry.relayer().private_key == KEY_B
    with pytest.raises(LedgerConfigError, match="nothing to migrate"):
        migrate_key_file(path, options=FAST)


def test_a_malformed_legacy_file_is_not_half_migrated(tmp_path: Path) -> None:
    path = tmp_path / "staff-keys.json"
    path.write_text(json.dumps({"tokens": [
        {"token_sha256": token_sha256("x"), "municipality_id": 1, "registrar": A, "private_key": KEY_A},
        {"token_sha256": token_sha256("y"), "municipality_id": 1, "registrar": A, "private_key": KEY_B},
    ]}))
    before = path.read_text()
    with pytest.raises(LedgerConfigError, match="registrar does not match its private key"):
        migrate_key_file(path, options=FAST)
    assert path.read_text() == before
    assert not (tmp_path / "keystores").exists()


def test_an_unknown_token_still_says_unknown(tmp_path: Path) -> None:
    path = tmp_path / "staff-keys.json"
    issue_token(path, 1, KEY_A, options=FAST)
    with pytest.raises(UnknownStaffTokenError) as refused:
        StaffRegistry(path, options=FAST).authenticate("guess")
    assert type(refused.value) is UnknownStaffTokenError
    assert "python -m scripts.admin tokens issue" in str(refused.value)


def test_tokens_issued_and_revoked_at_once_are_all_kept(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "staff-keys.json"
    first = issue_token(path, 1, KEY_A, options=FAST)
    with ThreadPoolExecutor(8) as pool:
        revoking = pool.submit(revoke_token, path, token_id_of(path, first))
        issued = list(pool.map(lambda m: issue_token(path, m, KEY_B, options=FAST), range(1, 17)))
        revoked = revoking.result()
    records = list_tokens(path)
    assert len(records) == 17 and len({r.token_id for r in records}) == 17
    assert [r.token_id for r in records if r.revoked_at is not None] == [revoked.token_id]
    registry = StaffRegistry(path, options=FAST)
    assert sorted(registry.authenticate(t).municipality_id for t in issued) == list(range(1, 17))
