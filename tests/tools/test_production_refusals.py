"""``LEDGER_ENV=production`` refuses at start-up (``Settings.check_safe``): local chain ids,
the well-known local keys, plain-HTTP public URLs, secrets others may read or folders they
may write, every problem in one message."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from ledger.keystore import Keystore, KeystoreOptions
from ledger.local_keys import WELL_KNOWN_ADDRESSES, WELL_KNOWN_KEYS, is_well_known_address
from ledger.settings import UnsafeSettingsError, load_settings
from ledger.staff import issue_token, set_relayer_key

OWN_KEY = "0x" + "5a" * 32
FAST = KeystoreOptions("pw", "pbkdf2", 2)


def _production(tmp_path: Path, **overrides: Any) -> Any:
    values: dict[str, Any] = {"env": "production", "data_dir": tmp_path,
                              "database_url": f"sqlite:///{tmp_path}/ledger.sqlite3", "rpc_url": "https://rpc.example.org"}
    values.update(overrides)
    return load_settings({}, **values)


def _problems(tmp_path: Path, **overrides: Any) -> tuple[str, ...]:
    with pytest.raises(UnsafeSettingsError) as refused:
        _production(tmp_path, **overrides)
    assert str(refused.value).startswith("LEDGER_ENV=production refuses to start:\n- ")
    return refused.value.problems


def _deployment(tmp_path: Path, chain_id: int) -> None:
    (tmp_path / "deployment.json").write_text(json.dumps(
        {"chain_id": chain_id, "contract_address": "0x" + "11" * 20, "deploy_block": 1}))


def test_a_safe_production_configuration_starts(tmp_path: Path) -> None:
    _deployment(tmp_path, 11155111)
    issue_token(tmp_path / "staff-keys.json", 1, OWN_KEY, options=FAST)
    settings = _production(tmp_path, site_url="https://register.example.nl", public_rpc_url="https://rpc.example.org",
                           explorer_url="https://sepolia.etherscan.io")
    assert settings.env == "production"


@pytest.mark.parametrize("chain_id", [31337, 1337])
def test_a_deployment_on_a_local_chain_id_is_refused(tmp_path: Path, chain_id: int) -> None:
    _deployment(tmp_path, chain_id)
    assert _problems(tmp_path) == (
        f"The deployment record {tmp_path / 'deployment.json'} is for chain id {chain_id}, a local development chain.",)


def test_the_well_known_addresses_are_those_of_the_well_known_keys() -> None:
    from scripts import local_keys
    from tests.conftest import ANVIL_KEYS

    assert WELL_KNOWN_ADDRESSES == {Account.from_key(key).address for key in WELL_KNOWN_KEYS}
    assert ANVIL_KEYS == WELL_KNOWN_KEYS == local_keys.WELL_KNOWN_KEYS  # one list (ledger/local_keys.py)
    assert is_well_known_address("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266")
    assert not is_well_known_address(Account.from_key(OWN_KEY).address)


def test_a_keystore_of_a_well_known_key_is_refused_without_unlocking_it(tmp_path: Path) -> None:
    address = Keystore(tmp_path / "keystores", KeystoreOptions("a password production does not know", "pbkdf2", 2)).write(
        WELL_KNOWN_KEYS[7])
    assert _problems(tmp_path) == (
        f"{tmp_path / 'keystores' / (address + '.json')} uses account {address}, one of the well-known local "
        "development keys (anyone can sign with it).",)


def test_a_token_or_relayer_of_a_well_known_account_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "staff-keys.json"
    issue_token(path, 1, WELL_KNOWN_KEYS[2], keystore_dir=tmp_path / "elsewhere", options=FAST)
    set_relayer_key(path, WELL_KNOWN_KEYS[3], keystore_dir=tmp_path / "elsewhere", options=FAST)
    problems = _problems(tmp_path)
    assert problems == tuple(
        f"{path} uses account {Account.from_key(key).address}, one of the well-known local development keys "
        "(anyone can sign with it)." for key in (WELL_KNOWN_KEYS[2], WELL_KNOWN_KEYS[3]))


@pytest.mark.parametrize("name", ["public_rpc_url", "site_url", "explorer_url"])
def test_a_plain_http_public_url_is_refused(tmp_path: Path, name: str) -> None:
    assert _problems(tmp_path, **{name: "http://example.org"}) == (
        f"LEDGER_{name.upper()} http://example.org is plain HTTP: every reader uses it, give an https:// URL.",)


@pytest.mark.parametrize("url", ["http://10.0.0.5:8545", "http://node.example.org", "ws://node.example.org/ws"])
def test_the_private_rpc_url_over_plain_http_is_refused_off_loopback(tmp_path: Path, url: str) -> None:
    (problem,) = _problems(tmp_path, rpc_url=url)
    assert problem.startswith("LEDGER_RPC_URL uses plain ")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8545", "http://localhost:8545", "http://[::1]:8545",
                                 "https://mainnet.example.org/v3/k", "wss://node.example.org"])
def test_the_private_rpc_url_may_be_plain_http_on_loopback(tmp_path: Path, url: str) -> None:
    assert _production(tmp_path, rpc_url=url).rpc_url == url


def test_an_rpc_url_problem_does_not_repeat_its_path(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, rpc_url="http://node.example.org/v3/secret-project-key")
    assert "secret-project-key" not in problem


def test_secret_folders_others_may_write_are_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    issue_token(data / "staff-keys.json", 1, OWN_KEY, options=FAST)
    os.chmod(data, 0o770)
    os.chmod(data / "keystores", 0o707)
    problems = _problems(data)
    assert problems == (
        f"The keystore folder {data / 'keystores'} is writable by group or others (mode 707): chmod 700.",
        f"The token file's folder {data} is writable by group or others (mode 770): chmod 700.",
    )


def test_readable_secrets_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "staff-keys.json"
    address = Account.from_key(OWN_KEY).address
    issue_token(path, 1, OWN_KEY, options=FAST)
    os.chmod(path, 0o640)
    os.chmod(tmp_path / "keystores" / f"{address}.json", 0o604)
    password_file = tmp_path / "password"
    password_file.write_text("pw")
    os.chmod(password_file, 0o620)
    problems = _problems(tmp_path, keystore_password_file=password_file)
    assert problems == (
        f"{path} must be readable by its owner only (chmod 600).",
        f"The keystore {tmp_path / 'keystores' / (address + '.json')} is readable by group or others (mode 604): chmod 600.",
        f"The password file {password_file} is readable or writable by group or others (mode 620): chmod 600.",
    )


def test_every_problem_is_listed_in_one_message(tmp_path: Path) -> None:
    _deployment(tmp_path, 31337)
    Keystore(tmp_path / "keystores", FAST).write(WELL_KNOWN_KEYS[0])
    os.chmod(tmp_path / "keystores", 0o777)
    with pytest.raises(UnsafeSettingsError) as refused:
        load_settings({}, env="production", data_dir=tmp_path, rpc_url="http://node.example.org",
                      site_url="http://register.example.nl")
    problems = refused.value.problems
    assert len(problems) == 6
    assert problems[0] == "LEDGER_ENV=production needs LEDGER_DATABASE_URL set explicitly."
    assert str(refused.value) == "LEDGER_ENV=production refuses to start:\n" + "\n".join(f"- {p}" for p in problems)


def test_local_use_refuses_none_of_it(tmp_path: Path) -> None:
    _deployment(tmp_path, 31337)
    Keystore(tmp_path / "keystores", FAST).write(WELL_KNOWN_KEYS[0])
    os.chmod(tmp_path / "keystores", 0o777)
    assert load_settings({}, data_dir=tmp_path, rpc_url="http://node.example.org", site_url="http://x.nl").env == "local"
