"""The one CLI for tokens and keystores (``python -m scripts.admin tokens ...`` / ``keys ...``):
a key comes from stdin, an environment variable or a prompt, never argv; a token is printed
once; listings never show a token or its hash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from typer.testing import CliRunner

from ledger.keystore import KeystoreOptions
from ledger.staff import StaffRegistry, list_tokens, token_sha256
from scripts.admin import app

REPO_ROOT = Path(__file__).resolve().parents[2]
KEY = "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97"
ADDRESS = Account.from_key(KEY).address
RELAYER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"


def _env(tmp_path: Path, **more: str) -> dict[str, str]:
    return {"LEDGER_DATA_DIR": str(tmp_path), "LEDGER_KEYSTORE_PASSWORD": "cli password",
            "LEDGER_KEYSTORE_KDF_ITERATIONS": "2", "LEDGER_ACCOUNT_KEY": "", "LEDGER_RELAYER_KEY": "", **more}


def _run(tmp_path: Path, *args: str, input: str | None = None, **env: str) -> Any:
    return CliRunner().invoke(app, list(args), input=input, env=_env(tmp_path, **env))


def test_issue_reads_the_key_from_the_environment_and_prints_the_token_once(tmp_path: Path) -> None:
    done = _run(tmp_path, "tokens", "issue", "--municipality-id", "1", "--role", "registrar", "--role", "confirmer",
                "--expires-in-days", "7", LEDGER_ACCOUNT_KEY=KEY)
    assert done.exit_code == 0, done.output
    token = done.stdout.strip().splitlines()[-1]
    assert KEY[2:] not in done.output
    (record,) = list_tokens(tmp_path / "staff-keys.json")
    assert (record.municipality_id, record.roles, record.account) == (1, ("registrar", "confirmer"), ADDRESS)
    assert record.expires_at - record.issued_at == 7 * 86400
    assert f"Token {record.token_id} for {ADDRESS}" in done.stderr
    assert (tmp_path / "keystores" / f"{ADDRESS}.json").is_file()
    registry = StaffRegistry(tmp_path / "staff-keys.json", tmp_path / "keystores", KeystoreOptions("cli password"))
    assert registry.authenticate(token).registrar == ADDRESS


def test_issue_reads_the_key_from_stdin_or_a_hidden_prompt(tmp_path: Path) -> None:
    done = _run(tmp_path, "tokens", "issue", "--municipality-id", "2", "--stdin", input=KEY + "\n")
    assert done.exit_code == 0, done.output
    done = _run(tmp_path, "tokens", "issue", "--municipality-id", "3", input=KEY + "\n")
    assert done.exit_code == 0, done.output
    assert KEY[2:] not in done.output  # the prompt does not echo
    assert [r.municipality_id for r in list_tokens(tmp_path / "staff-keys.json")] == [2, 3]


def test_issue_for_an_imported_account_and_the_default_lifetime(tmp_path: Path) -> None:
    done = _run(tmp_path, "keys", "import", "--stdin", input=KEY + "\n")
    assert done.exit_code == 0, done.output
    assert ADDRESS in done.stdout
    done = _run(tmp_path, "tokens", "issue", "--municipality-id", "1", "--account", ADDRESS,
                LEDGER_TOKEN_LIFETIME_DAYS="30")
    assert done.exit_code == 0, done.output
    (record,) = list_tokens(tmp_path / "staff-keys.json")
    assert (record.account, record.expires_at - record.issued_at) == (ADDRESS, 30 * 86400)


def test_a_private_key_is_no_command_line_option() -> None:
    done = CliRunner().invoke(app, ["tokens", "issue", "--municipality-id", "1", "--registrar-key", KEY])
    assert done.exit_code != 0
    done = CliRunner().invoke(app, ["keys", "import", KEY])
    assert done.exit_code != 0


def test_list_shows_ids_and_states_never_tokens_or_hashes(tmp_path: Path) -> None:
    tokens = [_run(tmp_path, "tokens", "issue", "--municipality-id", str(m), LEDGER_ACCOUNT_KEY=KEY).stdout.strip()
              for m in (1, 2)]
    first, second = list_tokens(tmp_path / "staff-keys.json")
    done = _run(tmp_path, "tokens", "revoke", first.token_id)
    assert done.exit_code == 0, done.output
    assert f"Token {first.token_id}" in done.stdout and "revoked at" in done.stdout
    listing = _run(tmp_path, "tokens", "list")
    assert listing.exit_code == 0, listing.output
    lines = {line.split()[1]: line for line in listing.stdout.splitlines() if "tok_" in line}
    assert set(lines) == {first.token_id, second.token_id}
    assert "revoked" in lines[first.token_id] and "active" in lines[second.token_id]
    assert ADDRESS in lines[second.token_id]
    for token in tokens:
        assert token not in listing.stdout
        assert token_sha256(token)[2:] not in listing.stdout and token_sha256(token)[2:18] not in listing.stdout


def test_revoking_an_unknown_id_fails_with_a_message(tmp_path: Path) -> None:
    done = _run(tmp_path, "tokens", "revoke", "tok_deadbeef")
    assert done.exit_code == 1
    assert "No token 'tok_deadbeef'" in done.stderr


def test_keys_list_and_set_relayer(tmp_path: Path) -> None:
    _run(tmp_path, "tokens", "issue", "--municipality-id", "1", LEDGER_ACCOUNT_KEY=KEY)
    done = _run(tmp_path, "keys", "set-relayer", LEDGER_RELAYER_KEY=RELAYER_KEY)
    relayer = Account.from_key(RELAYER_KEY).address
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == f"Relayer: {relayer}"
    (record,) = list_tokens(tmp_path / "staff-keys.json")
    listing = _run(tmp_path, "keys", "list")
    assert listing.exit_code == 0, listing.output
    rows = {line.split()[1]: line for line in listing.stdout.splitlines() if "0x" in line}
    assert set(rows) == {ADDRESS, relayer}
    assert record.token_id in rows[ADDRESS] and "pbkdf2 c=2" in rows[ADDRESS]
    assert "relayer" in rows[relayer]
    assert KEY[2:] not in listing.stdout and RELAYER_KEY[2:] not in listing.stdout


def test_migrate_rewrites_a_legacy_file_without_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "staff-keys.json"
    path.write_text(json.dumps({"tokens": [{"token_sha256": token_sha256("old"), "municipality_id": 1,
                                            "registrar": ADDRESS, "private_key": KEY}]}))
    os.chmod(path, 0o600)
    refused = _run(tmp_path, "tokens", "list")
    assert refused.exit_code == 1 and "keys migrate" in refused.stderr
    done = _run(tmp_path, "keys", "migrate", "--expires-in-days", "10")
    assert done.exit_code == 0, done.output
    assert "1 key(s) moved" in done.stdout
    assert KEY[2:] not in path.read_text()
    (record,) = list_tokens(path)
    assert record.expires_at - record.issued_at == 10 * 86400


def test_production_without_a_password_refuses(tmp_path: Path) -> None:
    done = _run(tmp_path, "tokens", "list", LEDGER_ENV="production", LEDGER_KEYSTORE_PASSWORD="",
                LEDGER_DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3", LEDGER_RPC_URL="http://127.0.0.1:9")
    assert done.exit_code == 1
    assert "LEDGER_KEYSTORE_PASSWORD_FILE" in done.stderr


def test_the_old_command_says_where_it_moved() -> None:
    done = subprocess.run([sys.executable, "-m", "ledger.staff", "--municipality-id", "1"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert done.returncode == 2
    assert "python -m scripts.admin tokens issue" in done.stderr


@pytest.mark.parametrize("command", [["tokens", "--help"], ["keys", "--help"]])
def test_the_groups_have_help(command: list[str]) -> None:
    done = CliRunner().invoke(app, command)
    assert done.exit_code == 0
