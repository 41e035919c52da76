"""scripts/deploy.py refuses the publicly known development keys outside local use (issue 5).

Local use is ``LEDGER_ENV=local`` on a local chain (chain id 31337 or 1337). With
``LEDGER_ENV=production`` a well-known key is refused and the platform admin key must be given
explicitly (no default). A refusal is a typed error, exit status 2, and nothing is sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3

from scripts.deploy import (
    EXIT_REFUSED,
    LOCAL_PLATFORM_ADMIN_KEY,
    InvalidPlatformAdminKeyError,
    MissingPlatformAdminKeyError,
    UnsafePlatformAdminKeyError,
    check_platform_admin_key,
    resolve_platform_admin_key,
)
from scripts.local_keys import LOCAL_CHAIN_IDS, WELL_KNOWN_KEYS, WELL_KNOWN_MNEMONIC, is_well_known_key

REPO_ROOT = Path(__file__).resolve().parents[2]
OWN_KEY = "0x" + "4c" * 32  # not derived from the public mnemonic
OWN_ADDRESS = Account.from_key(OWN_KEY).address


# ---------------------------------------------------------------- the list of keys


def test_the_list_holds_the_ten_accounts_of_the_public_mnemonic() -> None:
    Account.enable_unaudited_hdwallet_features()
    derived = tuple(
        "0x" + Account.from_mnemonic(WELL_KNOWN_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key.hex().removeprefix("0x")
        for i in range(10)
    )
    assert WELL_KNOWN_KEYS == derived


def test_a_well_known_key_is_recognised_in_any_spelling() -> None:
    key = WELL_KNOWN_KEYS[3]
    assert is_well_known_key(key)
    assert is_well_known_key(key.upper().replace("0X", "0x"))
    assert is_well_known_key(key[2:])
    assert is_well_known_key(f"  {key}\n")
    assert not is_well_known_key(OWN_KEY)


# ---------------------------------------------------------------- the rule


@pytest.mark.parametrize("key", WELL_KNOWN_KEYS)
def test_production_refuses_every_well_known_key_even_on_a_local_chain_id(key: str) -> None:
    with pytest.raises(UnsafePlatformAdminKeyError) as refused:
        check_platform_admin_key(key, "production", 31337)
    assert (refused.value.env, refused.value.chain_id, refused.value.address) == (
        "production", 31337, Account.from_key(key).address
    )


@pytest.mark.parametrize("chain_id", [1, 10, 8453, 11155111, 100])
def test_local_env_refuses_a_well_known_key_on_a_public_chain(chain_id: int) -> None:
    with pytest.raises(UnsafePlatformAdminKeyError) as refused:
        check_platform_admin_key(LOCAL_PLATFORM_ADMIN_KEY, "local", chain_id)
    assert refused.value.chain_id == chain_id


@pytest.mark.parametrize("chain_id", sorted(LOCAL_CHAIN_IDS))
def test_local_use_accepts_the_well_known_keys(chain_id: int) -> None:
    assert LOCAL_CHAIN_IDS == {31337, 1337}
    for key in WELL_KNOWN_KEYS:
        check_platform_admin_key(key, "local", chain_id)


@pytest.mark.parametrize(("env", "chain_id"), [("production", 1), ("production", 31337), ("local", 1)])
def test_an_own_key_is_accepted_everywhere(env: str, chain_id: int) -> None:
    check_platform_admin_key(OWN_KEY, env, chain_id)


def test_production_without_a_key_has_no_default() -> None:
    with pytest.raises(MissingPlatformAdminKeyError) as missing:
        resolve_platform_admin_key("production", environ={})
    assert missing.value.env == "production"
    assert isinstance(missing.value, ValueError)  # a LedgerConfigError


def test_local_use_without_a_key_falls_back_to_anvil_s_first_key() -> None:
    assert resolve_platform_admin_key("local", environ={}) == LOCAL_PLATFORM_ADMIN_KEY == WELL_KNOWN_KEYS[0]


def test_the_key_comes_from_the_option_then_the_variable_then_the_file(tmp_path: Path) -> None:
    key_file = tmp_path / "platform-admin.key"
    key_file.write_text(OWN_KEY + "\n")
    key_file.chmod(0o600)
    other = "0x" + "5d" * 32
    assert resolve_platform_admin_key("production", key=other, key_file=key_file, environ={"LEDGER_PLATFORM_ADMIN_KEY": OWN_KEY}) == other
    assert resolve_platform_admin_key("production", key_file=key_file, environ={"LEDGER_PLATFORM_ADMIN_KEY": other}) == other
    assert resolve_platform_admin_key("production", key_file=key_file, environ={}) == OWN_KEY
    assert resolve_platform_admin_key("production", environ={"LEDGER_PLATFORM_ADMIN_KEY_FILE": str(key_file)}) == OWN_KEY


def test_production_refuses_a_key_file_others_can_read(tmp_path: Path) -> None:
    key_file = tmp_path / "platform-admin.key"
    key_file.write_text(OWN_KEY)
    key_file.chmod(0o644)
    with pytest.raises(InvalidPlatformAdminKeyError, match="chmod 600"):
        resolve_platform_admin_key("production", key_file=key_file, environ={})


def test_a_malformed_key_is_refused() -> None:
    with pytest.raises(InvalidPlatformAdminKeyError):
        resolve_platform_admin_key("production", key="0x1234", environ={})


# ---------------------------------------------------------------- the command, on a throwaway anvil


def _deploy(anvil_url: str, tmp_path: Path, env: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    environ |= {
        "LEDGER_ENV": env,
        "LEDGER_RPC_URL": anvil_url,
        "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'index.sqlite3'}",
        "LEDGER_DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(REPO_ROOT),
    } | extra
    return subprocess.run([sys.executable, "-m", "scripts.deploy", *args], cwd=REPO_ROOT, env=environ,
                          capture_output=True, text=True, timeout=120)


def _head(anvil_url: str) -> int:
    return Web3(HTTPProvider(anvil_url)).eth.block_number


def test_production_deploy_with_anvil_s_first_key_is_refused_and_sends_nothing(anvil_url: str, tmp_path: Path) -> None:
    head = _head(anvil_url)
    result = _deploy(anvil_url, tmp_path, "production", "--key", LOCAL_PLATFORM_ADMIN_KEY)
    assert result.returncode == EXIT_REFUSED
    assert "UnsafePlatformAdminKeyError" in result.stderr
    assert Account.from_key(LOCAL_PLATFORM_ADMIN_KEY).address in result.stderr
    assert LOCAL_PLATFORM_ADMIN_KEY[2:] not in result.stderr + result.stdout  # the key itself is never printed
    assert _head(anvil_url) == head
    assert not (tmp_path / "deployment.json").exists()


def test_production_deploy_with_a_well_known_key_from_the_environment_is_refused(anvil_url: str, tmp_path: Path) -> None:
    head = _head(anvil_url)
    result = _deploy(anvil_url, tmp_path, "production", LEDGER_PLATFORM_ADMIN_KEY=WELL_KNOWN_KEYS[9])
    assert result.returncode == EXIT_REFUSED
    assert "UnsafePlatformAdminKeyError" in result.stderr
    assert _head(anvil_url) == head


def test_production_deploy_without_a_key_is_refused_and_sends_nothing(anvil_url: str, tmp_path: Path) -> None:
    head = _head(anvil_url)
    result = _deploy(anvil_url, tmp_path, "production")
    assert result.returncode == EXIT_REFUSED
    assert "MissingPlatformAdminKeyError" in result.stderr
    assert _head(anvil_url) == head
    assert not (tmp_path / "deployment.json").exists()


def test_production_deploys_with_an_explicit_own_key_from_a_file(anvil_url: str, tmp_path: Path) -> None:
    w3 = Web3(HTTPProvider(anvil_url))
    w3.provider.make_request("anvil_setBalance", [OWN_ADDRESS, hex(10**18)])
    key_file = tmp_path / "platform-admin.key"
    key_file.write_text(OWN_KEY + "\n")
    key_file.chmod(0o600)
    result = _deploy(anvil_url, tmp_path, "production", "--key-file", str(key_file))
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "deployment.json").read_text())
    owner = w3.eth.call({"to": record["contract_address"], "data": "0x8da5cb5b"})  # owner()
    assert Web3.to_checksum_address(owner[-20:]) == OWN_ADDRESS
    assert record["abi_version"] == "2.1.0"


def test_local_use_deploys_with_the_default_local_key(anvil_url: str, tmp_path: Path) -> None:
    result = _deploy(anvil_url, tmp_path, "local")
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "deployment.json").read_text())
    assert record["chain_id"] == 31337
    again = _deploy(anvil_url, tmp_path, "local")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("Reusing")
