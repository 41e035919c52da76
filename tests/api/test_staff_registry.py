"""Staff tokens (ledger/staff.py): issued once, stored as SHA-256 (with an id, an expiry and a
revocation) in a 0600 file that holds no key; the accounts' keys in encrypted keystores."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from eth_account import Account

from ledger.errors import LedgerConfigError, StaffAuthError
from ledger.staff import (
    StaffForbiddenError,
    StaffIdentity,
    StaffRegistry,
    UnknownStaffTokenError,
    issue_token,
    token_sha256,
)

KEY_A = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
KEY_B = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"


def test_issue_token_writes_only_the_tokens_hash_with_owner_only_mode(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "staff-keys.json"
    token = issue_token(path, 1, KEY_A, now=1_800_000_000)
    assert len(token) >= 43
    text = path.read_text()
    assert token not in text
    assert KEY_A[2:] not in text.lower()
    data = json.loads(text)
    token_id = data["tokens"][0]["token_id"]
    assert len(token_id) == 12 and token_id.startswith("tok_") and int(token_id[4:], 16) >= 0
    assert data == {
        "version": 3,
        "tokens": [
            {
                "token_id": token_id,
                "token_sha256": token_sha256(token),
                "municipality_id": 1,
                "roles": ["registrar"],
                "account": Account.from_key(KEY_A).address,
                "issued_at": 1_800_000_000,
                "expires_at": 1_800_000_000 + 90 * 86400,
                "revoked_at": None,
            }
        ],
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == [".staff-keys.json.lock", "keystores", "staff-keys.json"]
    keystore = path.parent / "keystores" / f"{Account.from_key(KEY_A).address}.json"
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    assert stat.S_IMODE(keystore.parent.stat().st_mode) == 0o700
    assert KEY_A[2:] not in keystore.read_text().lower()
    assert json.loads(keystore.read_text())["version"] == 3


def test_authenticate_returns_the_identity_of_the_token(tmp_path: Path) -> None:
    path = tmp_path / "staff-keys.json"
    token_a = issue_token(path, 1, KEY_A)
    token_b = issue_token(path, 2, KEY_B)
    registry = StaffRegistry(path)
    assert registry.authenticate(token_a) == StaffIdentity(1, Account.from_key(KEY_A).address, KEY_A)
    assert registry.authenticate(token_b).municipality_id == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_private_key_is_never_in_the_identitys_repr() -> None:
    assert KEY_A[2:] not in repr(StaffIdentity(1, "0xabc", KEY_A))


@pytest.mark.parametrize("token", [None, "", "not-a-token"])
def test_missing_or_unknown_tokens_are_refused(tmp_path: Path, token: str | None) -> None:
    path = tmp_path / "staff-keys.json"
    issue_token(path, 1, KEY_A)
    with pytest.raises(UnknownStaffTokenError):
        StaffRegistry(path).authenticate(token)


def test_a_missing_key_file_means_no_token_is_valid(tmp_path: Path) -> None:
    registry = StaffRegistry(tmp_path / "absent.json")
    assert len(registry) == 0
    with pytest.raises(StaffAuthError):
        registry.authenticate("anything")


def test_a_token_issued_while_running_is_accepted_at_once(tmp_path: Path) -> None:
    path = tmp_path / "staff-keys.json"
    registry = StaffRegistry(path)
    token = issue_token(path, 1, KEY_A)
    assert registry.authenticate(token).municipality_id == 1


def test_a_malformed_key_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "staff-keys.json"
    path.write_text('{"version": 3, "tokens": [{"token_sha256": "0x12"}]}')
    with pytest.raises(LedgerConfigError, match="malformed"):
        StaffRegistry(path)
    with pytest.raises(LedgerConfigError):
        issue_token(path, 1, KEY_A)


def test_an_account_without_its_keystore_is_a_config_error(tmp_path: Path) -> None:
    from ledger.keystore import KeystoreMissingError

    path = tmp_path / "staff-keys.json"
    issue_token(path, 1, KEY_A)
    data = json.loads(path.read_text())
    data["tokens"][0]["account"] = Account.from_key(KEY_B).address
    path.write_text(json.dumps(data))
    with pytest.raises(KeystoreMissingError, match=f"keystores/{Account.from_key(KEY_B).address}.json is missing"):
        StaffRegistry(path)


def test_issue_token_refuses_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(LedgerConfigError):
        issue_token(tmp_path / "k.json", 0, KEY_A)
    with pytest.raises(LedgerConfigError):
        issue_token(tmp_path / "k.json", 1, "0x1234")
    assert not (tmp_path / "k.json").exists()


def test_require_municipality_refuses_another_municipalitys_record() -> None:
    identity = StaffIdentity(1, "0xabc", KEY_A)
    identity.require_municipality(1, "commitment 3")
    with pytest.raises(StaffForbiddenError, match="commitment 3 belongs to municipality 2"):
        identity.require_municipality(2, "commitment 3")


def test_a_token_holds_the_roles_it_was_issued_with(tmp_path: Path) -> None:
    path = tmp_path / "staff-keys.json"
    registrar = issue_token(path, 1, KEY_A)
    confirmer = issue_token(path, 1, KEY_B, ["confirmer"])
    both = issue_token(path, 2, KEY_A, ("confirmer", "registrar"))
    registry = StaffRegistry(path)
    assert registry.authenticate(registrar).roles == frozenset({"registrar"})
    assert registry.authenticate(confirmer) == StaffIdentity(1, Account.from_key(KEY_B).address, KEY_B,
                                                             frozenset({"confirmer"}))
    assert registry.authenticate(both).roles == frozenset({"registrar", "confirmer"})
    assert [t["roles"] for t in json.loads(path.read_text())["tokens"]] == [
        ["registrar"], ["confirmer"], ["registrar", "confirmer"]]


@pytest.mark.parametrize("roles", [[], ["admin"], ["registrar", "owner"]])
def test_unknown_or_no_roles_are_refused(tmp_path: Path, roles: list[str]) -> None:
    with pytest.raises(LedgerConfigError, match="roles must be one or more of registrar, confirmer"):
        issue_token(tmp_path / "k.json", 1, KEY_A, roles)
    assert not (tmp_path / "k.json").exists()
    path = tmp_path / "staff-keys.json"
    issue_token(path, 1, KEY_A)
    data = json.loads(path.read_text())
    data["tokens"][0]["roles"] = roles
    path.write_text(json.dumps(data))
    with pytest.raises(LedgerConfigError, match="roles must be a non-empty list of registrar, confirmer"):
        StaffRegistry(path)


def test_require_role_refuses_a_write_the_token_may_not_make() -> None:
    from ledger.staff import StaffRoleError

    identity = StaffIdentity(1, "0xabc", KEY_A, frozenset({"confirmer"}))
    identity.require_role("confirmer", "confirming a delivery")
    with pytest.raises(StaffRoleError) as refused:
        identity.require_role("registrar", "recording a delivery")
    assert str(refused.value) == ("This token (account 0xabc of municipality 1) holds the role(s) confirmer, not "
                                  "registrar, which recording a delivery needs. Use a registrar's token.")
    assert (refused.value.needed_role, refused.value.roles) == ("registrar", ("confirmer",))


def test_the_relayer_key_is_kept_in_its_keystore_and_its_account_beside_the_tokens(tmp_path: Path) -> None:
    from ledger.staff import RelayerIdentity, set_relayer_key

    path = tmp_path / "staff-keys.json"
    token = issue_token(path, 1, KEY_A)
    registry = StaffRegistry(path)
    assert registry.relayer() is None
    assert set_relayer_key(path, KEY_B) == Account.from_key(KEY_B).address
    assert registry.relayer() == RelayerIdentity(Account.from_key(KEY_B).address, KEY_B)  # re-read on change
    assert registry.authenticate(token).municipality_id == 1
    assert json.loads(path.read_text())["relayer"] == {"account": Account.from_key(KEY_B).address}
    assert (tmp_path / "keystores" / f"{Account.from_key(KEY_B).address}.json").is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KEY_B[2:] not in repr(registry.relayer())
    set_relayer_key(path, KEY_A)
    assert registry.relayer().account == Account.from_key(KEY_A).address


def test_a_relayer_without_its_keystore_is_a_config_error(tmp_path: Path) -> None:
    from ledger.keystore import KeystoreMissingError
    from ledger.staff import set_relayer_key

    path = tmp_path / "staff-keys.json"
    set_relayer_key(path, KEY_A)
    data = json.loads(path.read_text())
    data["relayer"]["account"] = Account.from_key(KEY_B).address
    path.write_text(json.dumps(data))
    with pytest.raises(KeystoreMissingError, match="is missing"):
        StaffRegistry(path)


def test_the_old_command_line_says_where_it_moved(capsys: pytest.CaptureFixture[str]) -> None:
    from ledger.staff import main

    assert main(["--municipality-id", "3"]) == 2
    assert "python -m scripts.admin tokens issue" in capsys.readouterr().err


def test_key_for_finds_a_keystore_no_token_names_and_none_for_an_account_without_one(tmp_path: Path) -> None:
    registry = StaffRegistry(tmp_path / "keys.json")
    signer = Account.create()
    registry.keystore.write(signer.key.hex())
    assert registry.key_for(signer.address.lower()) == "0x" + signer.key.hex().removeprefix("0x")
    assert registry.key_for(Account.create().address) is None
