"""One settings object, read from the environment (``LEDGER_*`` variables).

brownie pins python-dotenv 0.16, which rules out pydantic-settings; this is a pydantic model
filled from ``os.environ`` by :func:`load_settings`. Outside local use (``LEDGER_ENV`` other
than ``local``) it refuses the unsafe local defaults: the implicit SQLite file, a loopback
RPC URL that nobody configured, and a staff key file readable by other users.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal, Mapping

from pydantic import BaseModel, Field, ValidationError, field_validator

from ledger.errors import LedgerConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT / "data"
LOCAL_RPC_URL = "http://127.0.0.1:8546"


class Settings(BaseModel):
    """Runtime configuration. Units are in the field names; every field has an env twin.

    Attributes:
        env: ``local`` (developer machine, `make run`) or ``production``.
        rpc_url: JSON-RPC endpoint of the chain (``LEDGER_RPC_URL``).
        database_url: SQLAlchemy URL of the index (``LEDGER_DATABASE_URL``); SQLite file by
            default, ``postgresql+psycopg://...`` works too.
        data_dir: folder for the deployment record, SQLite file, evidence and staff keys.
        deployment_file: JSON record of the deployed contract (address, deploy block).
        evidence_dir: content-addressed store of evidence files (``<sha256 hex>`` names).
        staff_keys_file: JSON list of staff tokens (SHA-256 of the token) bound to one
            registrar key of one municipality.
        confirmations: blocks the indexer stays behind the head (0 on the local dev chain,
            whose blocks are final; 12 or more on a public chain).
        log_chunk_blocks: largest ``eth_getLogs`` range the indexer asks for, in blocks
            (halved on a provider's range error).
        poll_interval_seconds: pause of the indexer when it has caught up, seconds.
        max_evidence_bytes: largest evidence file accepted, bytes.
        head_stale_seconds: health turns ``degraded`` when the indexer has not seen the chain
            head for this long, seconds.
        max_lag_blocks: health turns ``degraded`` when the index lags the head by more blocks.
        tx_timeout_seconds: how long a write waits for its receipt, seconds.
        sources_dir: folder of the importer's source mappings, read for source credits.
        public_rpc_url: read-only JSON-RPC URL that readers' browsers use to check the site
            against the chain (``LEDGER_PUBLIC_RPC_URL``); locally the chain's own URL, empty
            (no in-browser check offered) in production unless set. Never a URL with a key
            that must stay secret: every reader sees it.
        explorer_url: base URL of a block explorer with Etherscan/Blockscout paths
            (``/tx/<hash>``, ``/block/<n>``, ``/address/<a>``), e.g. ``https://etherscan.io``
            (``LEDGER_EXPLORER_URL``); empty: chain references are shown without links.
        network_name: the chain's name as readers know it (``LEDGER_NETWORK_NAME``); empty:
            taken from the chain id (``ledger.networks``).
        site_url: public base URL of the site (``LEDGER_SITE_URL``, e.g.
            ``https://register.baarn.nl``), used in feeds, share links and Open Graph tags;
            empty: the URL of each request.
    """

    env: Literal["local", "production"] = "local"
    rpc_url: str = LOCAL_RPC_URL
    database_url: str = ""
    data_dir: Path = DEFAULT_DATA_DIR
    deployment_file: Path | None = None
    evidence_dir: Path | None = None
    staff_keys_file: Path | None = None
    confirmations: int = Field(default=0, ge=0, le=1000)
    log_chunk_blocks: int = Field(default=2000, ge=1, le=1_000_000)
    poll_interval_seconds: float = Field(default=1.0, gt=0, le=3600)
    max_evidence_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    head_stale_seconds: int = Field(default=60, ge=1)
    max_lag_blocks: int = Field(default=100, ge=0)
    tx_timeout_seconds: float = Field(default=120.0, gt=0)
    sources_dir: Path = REPO_ROOT / "scripts" / "mappings"
    public_rpc_url: str = Field(default="", max_length=2000)
    explorer_url: str = Field(default="", max_length=2000)
    network_name: str = Field(default="", max_length=100)
    site_url: str = Field(default="", max_length=2000)

    @field_validator("public_rpc_url", "explorer_url", "site_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        """Empty, or an http(s) URL (without its trailing slash)."""
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s) URL, not {value!r}")
        return value.rstrip("/")

    def model_post_init(self, __context: object) -> None:
        if self.deployment_file is None:
            self.deployment_file = self.data_dir / "deployment.json"
        if self.evidence_dir is None:
            self.evidence_dir = self.data_dir / "evidence"
        if self.staff_keys_file is None:
            self.staff_keys_file = self.data_dir / "staff-keys.json"
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'ledger.sqlite3'}"
        if not self.public_rpc_url and self.env == "local":
            self.public_rpc_url = self.rpc_url

    def check_safe(self, explicitly_set: set[str]) -> None:
        """Refuse local defaults outside local use.

        Raises:
            LedgerConfigError: in ``production`` when the database URL or RPC URL was not set
                explicitly, or the staff key file is readable by group or others.
        """
        if self.env == "local":
            return
        missing = [name for name in ("database_url", "rpc_url") if name not in explicitly_set]
        if missing:
            names = ", ".join(f"LEDGER_{m.upper()}" for m in missing)
            raise LedgerConfigError(f"LEDGER_ENV=production needs {names} set explicitly.")
        keys = self.staff_keys_file
        if keys is not None and keys.exists() and keys.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise LedgerConfigError(f"{keys} must be readable by its owner only (chmod 600).")


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build :class:`Settings` from ``LEDGER_<FIELD>`` variables, then ``overrides``.

    Args:
        environ: the environment to read (``os.environ`` by default).
        **overrides: field values that win over the environment (tests use this).

    Raises:
        LedgerConfigError: a variable does not parse, or the settings are unsafe.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for name in Settings.model_fields:
        key = f"LEDGER_{name.upper()}"
        if key in environ and environ[key] != "":
            values[name] = environ[key]
    values.update(overrides)
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        raise LedgerConfigError(f"Invalid LEDGER_* settings: {exc}") from exc
    settings.check_safe(set(values))
    return settings
