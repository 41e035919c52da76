"""The API checks its token file and unlocks its keystores at start-up (a broken file, a wrong
password or a missing keystore stops it, naming the file; never a 500 later); expired and
revoked tokens answer 401 saying so; and no key, token, token hash or password appears in
a log line or a response, the access log dropping query strings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from pydantic import SecretStr

with warnings.catch_warnings():  # starlette asks for httpx2, which the pinned env does not have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from api.main import create_app
from ledger.errors import LedgerConfigError
from ledger.keystore import KeystoreMissingError, KeystoreOptions, KeystorePasswordError
from ledger.settings import Settings
from ledger.staff import LegacyKeyFileError, issue_token, revoke_token, set_relayer_key, token_id_of, token_sha256
from tests.api.helpers import commitment_body

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "start-up password 7f3a"
OPTIONS = KeystoreOptions(PASSWORD, "pbkdf2", 2)
PORT = 8650
T_PAST = 1_700_000_000


def _own(settings: Settings, tmp_path: Path) -> Settings:
    """``settings`` with this test's own token file and keystores, unlocked with :data:`PASSWORD`."""
    return settings.model_copy(update={
        "staff_keys_file": tmp_path / "staff-keys.json", "keystore_dir": tmp_path / "keystores",
        "keystore_password": SecretStr(PASSWORD),
    })


def _start(settings: Settings) -> None:
    with TestClient(create_app(settings)):
        pass


def test_a_malformed_token_file_stops_the_start_up_naming_it(settings: Settings, tmp_path: Path) -> None:
    own = _own(settings, tmp_path)
    own.staff_keys_file.write_text('{"version": 3, "tokens": [{"token_id": "tok_1"}]}')
    with pytest.raises(LedgerConfigError, match=f"Staff token file {own.staff_keys_file} is malformed"):
        _start(own)


def test_a_wrong_password_stops_the_start_up_naming_the_keystore(settings: Settings, roles: Any, tmp_path: Path) -> None:
    own = _own(settings, tmp_path)
    issue_token(own.staff_keys_file, 1, roles.registrar.key, options=KeystoreOptions("another", "pbkdf2", 2))
    with pytest.raises(KeystorePasswordError, match=f"does not unlock {own.keystore_dir / roles.registrar.address}.json"):
        _start(own)


def test_a_missing_keystore_stops_the_start_up(settings: Settings, roles: Any, tmp_path: Path) -> None:
    own = _own(settings, tmp_path)
    set_relayer_key(own.staff_keys_file, roles.stranger.key, options=OPTIONS)
    (own.keystore_dir / f"{roles.stranger.address}.json").unlink()
    with pytest.raises(KeystoreMissingError, match="is missing"):
        _start(own)


def test_a_legacy_file_with_plain_keys_stops_the_start_up(settings: Settings, roles: Any, tmp_path: Path) -> None:
    own = _own(settings, tmp_path)
    own.staff_keys_file.write_text(json.dumps({"tokens": [{"token_sha256": token_sha256("t"), "municipality_id": 1,
                                                           "private_key": roles.registrar.key}]}))
    with pytest.raises(LegacyKeyFileError) as refused:
        _start(own)
    assert roles.registrar.key[2:] not in str(refused.value)


def test_expired_and_revoked_tokens_answer_401_saying_so(settings: Settings, roles: Any, tmp_path: Path) -> None:
    own = _own(settings, tmp_path)
    path = own.staff_keys_file
    good = issue_token(path, 1, roles.registrar.key, options=OPTIONS)
    expired = issue_token(path, 1, roles.registrar.key, expires_in_seconds=60, now=T_PAST, options=OPTIONS)
    revoked = issue_token(path, 1, roles.registrar.key, options=OPTIONS)
    with TestClient(create_app(own)) as client:
        assert client.get("/api/v1/staff/me", headers={"Authorization": f"Bearer {good}"}).status_code == 200
        revoke_token(path, token_id_of(path, revoked))  # while the API runs
        for token, says in ((expired, "expired at 2023-11-14T22:14:20Z"), (revoked, "was revoked at")):
            response = client.get("/api/v1/staff/me", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, response.text
            body = response.json()
            assert body["type"] == "/problems/unauthorized"
            assert f"This staff token ({token_id_of(path, token)}) " in body["detail"] and says in body["detail"]
            assert token not in response.text and token_sha256(token)[2:] not in response.text


def test_uvicorn_exits_non_zero_naming_the_broken_file(settings: Settings, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "deployment.json").write_bytes(Path(settings.deployment_file).read_bytes())
    (data / "staff-keys.json").write_text("{not json")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "LEDGER_DATA_DIR": str(data), "LEDGER_RPC_URL": settings.rpc_url}
    done = subprocess.run([sys.executable, "-m", "uvicorn", "api.main:app", "--port", str(PORT + 1)], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert f"Staff token file {data / 'staff-keys.json'} is not JSON" in done.stderr


@pytest.fixture()
def served(settings: Settings, roles: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """uvicorn serving the API on :data:`PORT` (its own command line), with a
    good, an expired and a revoked token of ``roles.registrar``, and ``roles.stranger`` as
    the relayer. Yields the tokens, the base URL and ``stop()``, which stops the server and
    returns everything it logged."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "deployment.json").write_bytes(Path(settings.deployment_file).read_bytes())
    path = data / "staff-keys.json"
    good = issue_token(path, 1, roles.registrar.key, options=OPTIONS)
    expired = issue_token(path, 1, roles.registrar.key, expires_in_seconds=60, now=T_PAST, options=OPTIONS)
    revoked = issue_token(path, 1, roles.registrar.key, options=OPTIONS)
    revoke_token(path, token_id_of(path, revoked))
    set_relayer_key(path, roles.stranger.key, options=OPTIONS)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "LEDGER_DATA_DIR": str(data), "LEDGER_RPC_URL": settings.rpc_url,
           "LEDGER_KEYSTORE_PASSWORD": PASSWORD, "LEDGER_LOG_FORMAT": "text"}
    # started as `make run` starts it (uvicorn's own command line, its default log config): the
    # app puts DropQueryString on uvicorn's access logger itself
    command = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(PORT),
               "--log-level", "debug"]
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def stop() -> str:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=60)
        return log.read_text()

    base = f"http://127.0.0.1:{PORT}"
    try:
        for _ in range(600):  # waits up to a minute for the start-up (no timed assert)
            try:
                requests.get(f"{base}/api/v1/health", timeout=2)
                break
            except requests.ConnectionError:
                assert server.poll() is None, log.read_text()
                time.sleep(0.1)
        yield {"base": base, "good": good, "expired": expired, "revoked": revoked, "stop": stop}
    finally:
        stop()


def test_no_secret_reaches_a_log_line_or_a_response(served: dict[str, Any], roles: Any) -> None:
    base, good = served["base"], served["good"]
    bodies = []

    def call(method: str, url: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = requests.request(method, base + url, headers=headers, timeout=120, **kwargs)
        bodies.append(f"{response.status_code} {json.dumps(dict(response.headers))}\n{response.text}")
        return response

    assert call("GET", "/api/v1/staff/me", good).status_code == 200
    assert call("POST", "/api/v1/staff/commitments", good, json=commitment_body()).status_code < 300
    assert call("GET", "/api/v1/staff/me", "not-a-token").status_code == 401
    assert call("GET", "/api/v1/staff/me", served["expired"]).status_code == 401
    assert call("GET", "/api/v1/staff/me", served["revoked"]).status_code == 401
    assert call("GET", f"/api/v1/staff/me?access_token={good}").status_code == 401
    assert call("GET", f"/api/v1/health?token={good}&password={PASSWORD.replace(' ', '+')}").status_code in (200, 503)
    assert call("GET", f"/api/v1/commitments?token={good}").status_code == 200
    log = served["stop"]()
    assert '"GET /api/v1/health HTTP/1.1"' in log and '"GET /api/v1/commitments HTTP/1.1"' in log, log
    assert "?token=" not in log and "access_token" not in log
    secrets = {
        "registrar key": roles.registrar.key[2:].lower(),
        "relayer key": roles.stranger.key[2:].lower(),
        "password": PASSWORD,
        **{f"{name} token": served[name] for name in ("good", "expired", "revoked")},
        **{f"{name} token hash": token_sha256(served[name])[2:] for name in ("good", "expired", "revoked")},
    }
    for where, text in [("log", log), *((f"response {n}", body) for n, body in enumerate(bodies))]:
        for what, secret in secrets.items():
            assert secret not in text and secret not in text.lower(), f"{what} in {where}"


def test_log_config_drops_the_query_of_uvicorns_access_records() -> None:
    import logging
    import logging.config

    from api.logging_config import LOG_CONFIG, DropQueryString

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/api/v1/health?token=abc", "1.1", 200), None)
    assert DropQueryString().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /api/v1/health HTTP/1.1" 200'
    other = logging.LogRecord("api", logging.INFO, __file__, 1, "%s %s %s", ("a", "b", "/x?y"), None)
    assert DropQueryString().filter(other) and other.getMessage() == "a b /x?y"  # other loggers untouched
    assert LOG_CONFIG["loggers"]["uvicorn.access"]["filters"] == ["drop_query_string"]
    assert LOG_CONFIG["filters"]["drop_query_string"] == {"()": "api.logging_config.DropQueryString"}


def test_the_served_app_freezes_its_start_up_objects_and_test_apps_do_not(settings: Settings) -> None:
    """``api.main.app`` (what uvicorn serves) takes the start-up's objects out of the garbage
    collector's reach and collects less often; an app built by ``create_app`` alone changes
    nothing (tests build many)."""
    import gc

    from api.main import GC_THRESHOLDS

    thresholds = gc.get_threshold()
    gc.unfreeze()
    try:
        with TestClient(create_app(settings)):
            assert (gc.get_freeze_count(), gc.get_threshold()) == (0, thresholds)
        with TestClient(create_app(settings, freeze_startup_objects=True)):
            assert gc.get_freeze_count() > 10_000
            assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
