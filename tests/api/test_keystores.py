"""Encrypted keystores (ledger/keystore.py): Web3 Secret Storage v3, one 0600 file per
account in a 0700 folder, unlocked with a password from the environment or a secret file."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from eth_account import Account
from pydantic import SecretStr

from ledger.errors import LedgerConfigError
from ledger.keystore import (
    LOCAL_KEYSTORE_PASSWORD,
    LOCAL_PBKDF2_ITERATIONS,
    PRODUCTION_SCRYPT_N,
    Keystore,
    KeystoreError,
    KeystoreMissingError,
    KeystoreOptions,
    KeystorePasswordError,
    KeystorePasswordMissingError,
    keystore_options,
    options_from_environ,
    read_password_file,
)
from ledger.settings import Settings

KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"
ADDRESS = Account.from_key(KEY).address
FAST = KeystoreOptions("correct horse", "pbkdf2", 2)


def test_a_keystore_is_v3_owner_only_and_holds_no_plain_key(tmp_path: Path) -> None:
    store = Keystore(tmp_path / "keystores", FAST)
    assert store.write(KEY) == ADDRESS
    path = tmp_path / "keystores" / f"{ADDRESS}.json"
    text = path.read_text()
    assert KEY[2:] not in text.lower()
    keyfile = json.loads(text)
    assert (keyfile["version"], keyfile["address"].lower(), keyfile["crypto"]["kdf"], keyfile["crypto"]["kdfparams"]["c"]) == (
        3, ADDRESS[2:].lower(), "pbkdf2", 2)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [f"{ADDRESS}.json"]  # no temporary file left
    assert store.unlock(ADDRESS) == KEY
    assert store.unlock(ADDRESS.lower()) == KEY
    assert store.addresses() == [ADDRESS]
    assert store.kdf_of(ADDRESS) == "pbkdf2 c=2"


def test_a_geth_style_scrypt_keystore_unlocks(tmp_path: Path) -> None:
    folder = tmp_path / "keystores"
    folder.mkdir(mode=0o700)
    keyfile = Account.encrypt(KEY, "pw", kdf="scrypt", iterations=2**4)
    (folder / f"{ADDRESS}.json").write_text(json.dumps(keyfile))
    assert Keystore(folder, KeystoreOptions("pw")).unlock(ADDRESS) == KEY


def test_a_wrong_password_names_the_file_and_not_the_password(tmp_path: Path) -> None:
    Keystore(tmp_path, FAST).write(KEY)
    with pytest.raises(KeystorePasswordError) as refused:
        Keystore(tmp_path, KeystoreOptions("wrong password", "pbkdf2", 2)).unlock(ADDRESS)
    assert str(tmp_path / f"{ADDRESS}.json") in str(refused.value)
    assert "wrong password" not in str(refused.value) and "correct horse" not in str(refused.value)
    assert refused.value.path == tmp_path / f"{ADDRESS}.json"


def test_a_missing_keystore_names_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(KeystoreMissingError, match=f"{ADDRESS}.json is missing .*keys import"):
        Keystore(tmp_path, FAST).unlock(ADDRESS)


@pytest.mark.parametrize("content", ["not json", "[]", '{"version": 2}', '{"version": 3, "crypto": {}}'])
def test_a_malformed_keystore_is_a_keystore_error(tmp_path: Path, content: str) -> None:
    (tmp_path / f"{ADDRESS}.json").write_text(content)
    with pytest.raises(KeystoreError, match="is malformed"):
        Keystore(tmp_path, FAST).unlock(ADDRESS)


def test_a_keystore_holding_another_accounts_key_is_refused(tmp_path: Path) -> None:
    other = Account.create()
    (tmp_path / f"{ADDRESS}.json").write_text(json.dumps(Account.encrypt(other.key, "pw", kdf="pbkdf2", iterations=2)))
    with pytest.raises(KeystoreError, match="another account"):
        Keystore(tmp_path, KeystoreOptions("pw", "pbkdf2", 2)).unlock(ADDRESS)


def test_an_invalid_private_key_is_refused_without_repeating_it(tmp_path: Path) -> None:
    with pytest.raises(LedgerConfigError) as refused:
        Keystore(tmp_path, FAST).write("0x1234abcd")
    assert "1234abcd" not in str(refused.value)
    assert not list(tmp_path.iterdir())


def test_the_options_repr_hides_the_password() -> None:
    assert "correct horse" not in repr(FAST)


def test_local_defaults_are_a_fixed_password_and_cheap_pbkdf2(tmp_path: Path) -> None:
    options = keystore_options(Settings(data_dir=tmp_path))
    assert options == KeystoreOptions(LOCAL_KEYSTORE_PASSWORD, "pbkdf2", LOCAL_PBKDF2_ITERATIONS)


def test_production_defaults_to_geths_scrypt_and_needs_a_password(tmp_path: Path) -> None:
    with pytest.raises(KeystorePasswordMissingError, match="LEDGER_KEYSTORE_PASSWORD_FILE"):
        keystore_options(Settings(env="production", data_dir=tmp_path))
    options = keystore_options(Settings(env="production", data_dir=tmp_path, keystore_password="s3cret"))
    assert (options.password, options.kdf, options.iterations) == ("s3cret", "scrypt", 2**18)
    assert PRODUCTION_SCRYPT_N == 2**18  # geth's StandardScryptN


def test_the_kdf_and_its_work_factor_are_settings(tmp_path: Path) -> None:
    options = keystore_options(Settings(data_dir=tmp_path, keystore_kdf="scrypt", keystore_kdf_iterations=2**14))
    assert (options.kdf, options.iterations) == ("scrypt", 2**14)
    with pytest.raises(LedgerConfigError, match="power of 2"):
        keystore_options(Settings(data_dir=tmp_path, keystore_kdf="scrypt", keystore_kdf_iterations=1000))


def test_the_password_file_must_be_owner_only(tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text("from the file\n")
    os.chmod(password_file, 0o640)
    with pytest.raises(KeystorePasswordMissingError, match="readable by its owner only"):
        read_password_file(password_file)
    os.chmod(password_file, 0o600)
    assert read_password_file(password_file) == "from the file"
    settings = Settings(env="production", data_dir=tmp_path, keystore_password_file=password_file)
    assert keystore_options(settings).password == "from the file"
    with pytest.raises(KeystorePasswordMissingError, match="not both"):
        keystore_options(settings.model_copy(update={"keystore_password": SecretStr("x")}))


def test_an_empty_or_missing_password_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeystorePasswordMissingError, match="cannot be read"):
        read_password_file(tmp_path / "absent")
    (tmp_path / "empty").write_text("\n")
    os.chmod(tmp_path / "empty", 0o600)
    with pytest.raises(KeystorePasswordMissingError, match="is empty"):
        read_password_file(tmp_path / "empty")


def test_options_from_the_environment(tmp_path: Path) -> None:
    assert options_from_environ({}) == KeystoreOptions(LOCAL_KEYSTORE_PASSWORD, "pbkdf2", LOCAL_PBKDF2_ITERATIONS)
    environ = {"LEDGER_KEYSTORE_PASSWORD": "pw", "LEDGER_KEYSTORE_KDF": "pbkdf2", "LEDGER_KEYSTORE_KDF_ITERATIONS": "7"}
    assert options_from_environ(environ) == KeystoreOptions("pw", "pbkdf2", 7)
    with pytest.raises(KeystorePasswordMissingError):
        options_from_environ({"LEDGER_ENV": "production"})
    with pytest.raises(LedgerConfigError, match="Invalid LEDGER_KEYSTORE"):
        options_from_environ({"LEDGER_KEYSTORE_KDF": "md5"})


def test_the_settings_repr_hides_the_password(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, keystore_password="hunter2-secret")
    assert "hunter2-secret" not in repr(settings) and "hunter2-secret" not in str(settings.model_dump())
    assert settings.keystore_dir == tmp_path / "keystores"
