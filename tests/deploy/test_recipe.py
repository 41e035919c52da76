"""The production recipe in deploy/ holds: Debian's ``nginx -t`` accepts the proxy
configuration (with a throw-away certificate and log folder in place of the real paths),
``systemd-analyze verify`` accepts the units (code paths pointed at this checkout), and the
environment template names only real settings and loads in production mode. Each check is
skipped when its tool is not installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.settings import Settings, load_settings
from tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
EXTRA_SETTINGS = {"LEDGER_PLATFORM_ADMIN_KEY_FILE"}  # scripts/deploy.py's, not Settings'


def env_template() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / "ledger.env.example").read_text().splitlines():
        match = re.match(r"#?(LEDGER_[A-Z_]+)=(.*)$", line)
        if match and not line.startswith("#"):
            values[match[1]] = match[2]
    return values


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    openssl = shutil.which("openssl")
    if nginx is None or openssl is None:
        pytest.skip("nginx or openssl not installed (apt-get install nginx)")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem"), "-days", "1", "-subj", "/CN=register.example.org"],
                   check=True, capture_output=True)
    (tmp_path / "logs").mkdir()
    site = (DEPLOY / "nginx" / "ledger.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/register.example.org/fullchain.pem", str(tmp_path / "cert.pem"))
    site = site.replace("/etc/letsencrypt/live/register.example.org/privkey.pem", str(tmp_path / "key.pem"))
    site = site.replace("/var/log/nginx/", f"{tmp_path}/logs/")
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\nevents {{}}\n"
        f"http {{ include /etc/nginx/mime.types; access_log {tmp_path}/logs/access.log; include {tmp_path}/site.conf; }}\n")
    run = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "test is successful" in run.stderr


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    env_file = tmp_path / "ledger.env"
    env_file.write_text("LEDGER_ENV=production\n")
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text().replace("/opt/ledger/current/.venv/bin/python", sys.executable)
        text = text.replace("/opt/ledger/current", str(REPO_ROOT)).replace("/etc/ledger/ledger.env", str(env_file))
        (tmp_path / unit.name).write_text(text)
    run = subprocess.run([analyze, "verify", "--man=no", "ledger-indexer.service", "ledger-api@8101.service", "ledger.target"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Unknown" not in run.stdout + run.stderr, run.stdout + run.stderr


def test_the_units_and_the_proxy_name_the_same_api_ports() -> None:
    target = (DEPLOY / "systemd" / "ledger.target").read_text()
    upstream = (DEPLOY / "nginx" / "ledger.conf").read_text()
    assert re.findall(r"ledger-api@(\d+)\.service", target) == re.findall(r"server 127\.0\.0\.1:(\d+)", upstream)


def test_the_env_template_names_only_settings_and_loads_in_production(tmp_path: Path) -> None:
    values = env_template()
    fields = {f"LEDGER_{name.upper()}" for name in Settings.model_fields}
    assert set(values) - fields - EXTRA_SETTINGS == set()
    assert values["LEDGER_ENV"] == "production"
    for needed in ("LEDGER_DATABASE_URL", "LEDGER_RPC_URL", "LEDGER_CONFIRMATIONS", "LEDGER_KEYSTORE_DIR",
                   "LEDGER_FORWARDED_ALLOW_IPS", "LEDGER_RATE_LIMIT_STORAGE_URL"):
        assert values.get(needed), needed
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    moved = {key: value.replace("/var/lib/ledger", str(data)) for key, value in values.items()}
    settings = load_settings(moved)
    assert (settings.env, settings.confirmations, settings.log_format) == ("production", 12, "json")
    assert settings.database_url.startswith("postgresql+psycopg://")
