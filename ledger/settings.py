"""One settings object, read from the environment (``LEDGER_*`` variables).

brownie pins python-dotenv 0.16, which rules out pydantic-settings; this is a pydantic model
filled from ``os.environ`` by :func:`load_settings`. Outside local use (``LEDGER_ENV`` other
than ``local``) it refuses the unsafe local defaults: the implicit SQLite file, a loopback
RPC URL that nobody configured, and a staff key file readable by other users; in
``production`` also local chain ids, the well-known local keys, plain-HTTP public URLs and
secret folders others may write to (:meth:`Settings.check_safe`, every problem in one message).
"""

from __future__ import annotations

import ipaddress
import json
import os
import stat
from pathlib import Path
from typing import Literal, Mapping
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from ledger.errors import LedgerConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT / "data"
LOCAL_RPC_URL = "http://127.0.0.1:8546"
RATE_LIMIT_OFF = "off"
PRODUCTION_RATE_LIMITS = {
    "staff_write_rate_limit": "60/minute",
    "document_check_rate_limit": "30/minute",
    "failed_auth_rate_limit": "10/minute",
}
"""The rate limits of ``LEDGER_ENV=production`` unless set (``api.edges``); locally ``off``."""


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
        staff_keys_file: the token file (``ledger.staff``): per token its SHA-256, id,
            municipality, roles, account and Unix-second ``issued_at`` / ``expires_at`` /
            ``revoked_at``; no key.
        keystore_dir: folder of the encrypted keystores (Web3 Secret Storage v3, one
            ``<address>.json`` per account, mode 0600, folder 0700; ``ledger.keystore``);
            default ``keystores`` beside the token file (``data/keystores``).
        keystore_password: password that unlocks the keystores (``LEDGER_KEYSTORE_PASSWORD``);
            locally a fixed development password when neither it nor the file is set.
        keystore_password_file: file holding that password (``LEDGER_KEYSTORE_PASSWORD_FILE``,
            readable by its owner only; one trailing newline ignored).
        keystore_kdf: key derivation of keystores written from now on: ``scrypt`` or
            ``pbkdf2``; default scrypt in production, pbkdf2 locally (tests, `make run`).
        keystore_kdf_iterations: its work factor (scrypt ``n``, a power of 2; pbkdf2 ``c``);
            default 2**18 for scrypt (geth's standard), 10000 for local pbkdf2.
        token_lifetime_days: default lifetime of a newly issued staff token, days.
        confirmations: blocks the indexer stays behind the head (0 on the local dev chain,
            whose blocks are final; 12 or more on a public chain).
        log_chunk_blocks: largest ``eth_getLogs`` range the indexer asks for, in blocks
            (halved on a provider's range error).
        log_chunk_events: logs one indexer chunk aims to hold at most (one ``eth_getLogs``
            answer and one transaction; ``LEDGER_LOG_CHUNK_EVENTS``): the next chunk's range
            shrinks in proportion when a chunk held more, and doubles (up to
            ``log_chunk_blocks``) while chunks hold fewer than half (``indexer.fetch``); this
            bounds the indexer's memory on a backfill (a chunk may end up to one request
            over it). Default 5,000: on ``bench.chain_fill``'s 100,003-event chain the peak RSS
            of ``python -m indexer`` was 163 / 195 / 307 MB at 2,500 / 5,000 / 10,000, in about
            the same time.
        poll_interval_seconds: pause of the indexer when it has caught up, seconds.
        max_evidence_bytes: largest evidence file accepted, bytes.
        head_stale_seconds: health turns ``degraded`` when the indexer has not seen the chain
            head for this long, seconds.
        max_lag_blocks: health turns ``degraded`` when the index lags the head by more blocks.
        node_probe_timeout_seconds: how long the readiness probe waits for the node's
            ``eth_blockNumber``, seconds (``api.freshness``).
        node_probe_cache_seconds: how long one probe answer is reused, seconds.
        tx_timeout_seconds: how long a write waits for its receipt, seconds.
        outbox_poll_seconds: pause between two passes of the write outbox's reconciler
            (``ledger.outbox``; a new write wakes it at once), seconds.
        outbox_rebroadcast_seconds: a sent write without receipt is broadcast again after this
            long, seconds.
        write_wait_max_seconds: the most a staff write waits for ``Prefer: wait=N``, seconds.
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
        rate_limit_storage_url: where rate-limit counters live (``LEDGER_RATE_LIMIT_STORAGE_URL``,
            a ``limits`` storage URL such as ``redis://127.0.0.1:6379``, so that several API
            processes share them); empty: this process's memory.
        staff_write_rate_limit: staff writes per token (``limits`` notation, e.g.
            ``60/minute``; a moving window); ``off``: none. Default ``60/minute`` in
            production, ``off`` locally (tests, `make run` and local imports write faster).
        document_check_rate_limit: document checks (``/api/v1/verify*``) per client IP;
            default ``30/minute`` in production, ``off`` locally.
        failed_auth_rate_limit: failed staff authentications per client IP; past it every
            staff request from that IP is refused (429) until the window has moved on;
            default ``10/minute`` in production, ``off`` locally.
        forwarded_allow_ips: comma-separated proxy addresses or networks whose
            ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed (``LEDGER_FORWARDED_ALLOW_IPS``);
            empty (the default): the socket peer is the client and the scheme its own.
        cors_origins: comma-separated origins allowed to read the public API from a browser
            (``LEDGER_CORS_ORIGINS``, GET/HEAD only); empty (the default): no CORS.
        cors_staff_origins: comma-separated origins allowed to call staff routes from a
            browser (``LEDGER_CORS_STAFF_ORIGINS``); empty (the default): none.
        metrics_allow_ips: comma-separated addresses or networks that may read ``/metrics``
            (``LEDGER_METRICS_ALLOW_IPS``); loopback by default; empty: nobody.
        log_format: ``text`` or ``json`` (one JSON object per line; ``LEDGER_LOG_FORMAT``);
            default ``text`` locally, ``json`` in production.
        api_workers: uvicorn worker processes of one API server (``LEDGER_API_WORKERS``,
            1..64; ``python -m api.server``); default 1 (locally, and per instance behind
            nginx, where ``ledger.target`` runs several instances instead).
        db_pool_size: connections each API or indexer process keeps open to the index
            (``LEDGER_DB_POOL_SIZE``, 1..100; SQLAlchemy's ``QueuePool``), default 10; up to
            as many again are opened under a burst and closed afterwards
            (``ledger.db.engine.make_engine``).
        response_cache_entries: most read answers one API process keeps in memory, each valid
            for one state of the index (``LEDGER_RESPONSE_CACHE_ENTRIES``, 0..100000; 0: none;
            ``api.caching``), default 2048.
        response_cache_bytes: most bytes of answers kept so (``LEDGER_RESPONSE_CACHE_BYTES``),
            default 32 MiB; an answer above an eighth of it is never kept.
    """

    env: Literal["local", "production"] = "local"
    rpc_url: str = LOCAL_RPC_URL
    database_url: str = ""
    data_dir: Path = DEFAULT_DATA_DIR
    deployment_file: Path | None = None
    evidence_dir: Path | None = None
    staff_keys_file: Path | None = None
    keystore_dir: Path | None = None
    keystore_password: SecretStr = SecretStr("")
    keystore_password_file: Path | None = None
    keystore_kdf: Literal["scrypt", "pbkdf2"] | None = None
    keystore_kdf_iterations: int | None = Field(default=None, ge=1, le=2**24)
    token_lifetime_days: int = Field(default=90, ge=1, le=3650)
    confirmations: int = Field(default=0, ge=0, le=1000)
    log_chunk_blocks: int = Field(default=2000, ge=1, le=1_000_000)
    log_chunk_events: int = Field(default=5_000, ge=1, le=1_000_000)
    poll_interval_seconds: float = Field(default=1.0, gt=0, le=3600)
    max_evidence_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    head_stale_seconds: int = Field(default=60, ge=1)
    max_lag_blocks: int = Field(default=100, ge=0)
    node_probe_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    node_probe_cache_seconds: float = Field(default=3.0, ge=0, le=60)
    tx_timeout_seconds: float = Field(default=120.0, gt=0)
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=3600)
    outbox_rebroadcast_seconds: float = Field(default=3.0, gt=0, le=3600)
    write_wait_max_seconds: float = Field(default=30.0, ge=0, le=600)
    sources_dir: Path = REPO_ROOT / "scripts" / "mappings"
    public_rpc_url: str = Field(default="", max_length=2000)
    explorer_url: str = Field(default="", max_length=2000)
    network_name: str = Field(default="", max_length=100)
    site_url: str = Field(default="", max_length=2000)
    rate_limit_storage_url: str = Field(default="", max_length=2000)
    staff_write_rate_limit: str | None = None
    document_check_rate_limit: str | None = None
    failed_auth_rate_limit: str | None = None
    forwarded_allow_ips: str = ""
    cors_origins: str = ""
    cors_staff_origins: str = ""
    metrics_allow_ips: str = "127.0.0.1,::1"
    log_format: Literal["text", "json"] | None = None
    api_workers: int = Field(default=1, ge=1, le=64)
    db_pool_size: int = Field(default=10, ge=1, le=100)
    response_cache_entries: int = Field(default=2048, ge=0, le=100_000)
    response_cache_bytes: int = Field(default=32 * 1024 * 1024, ge=0, le=2**31)

    @field_validator("staff_write_rate_limit", "document_check_rate_limit", "failed_auth_rate_limit")
    @classmethod
    def _rate_limit(cls, value: str | None) -> str | None:
        """A rate limit in ``limits`` notation (``60/minute``, ``10 per 30 seconds``), or ``off``."""
        from limits import parse_many

        if value is None or value.strip().lower() == RATE_LIMIT_OFF:
            return value if value is None else RATE_LIMIT_OFF
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit such as 60/minute: {value!r}") from exc
        return value

    @field_validator("forwarded_allow_ips", "metrics_allow_ips")
    @classmethod
    def _networks(cls, value: str) -> str:
        """Comma-separated IP addresses or networks (``10.0.0.0/8``)."""
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError as exc:
                raise ValueError(f"not an IP address or network: {part!r}") from exc
        return value

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
        if self.keystore_dir is None:
            self.keystore_dir = self.staff_keys_file.parent / "keystores"
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'ledger.sqlite3'}"
        if not self.public_rpc_url and self.env == "local":
            self.public_rpc_url = self.rpc_url
        if self.log_format is None:
            self.log_format = "json" if self.env == "production" else "text"
        for name, production in PRODUCTION_RATE_LIMITS.items():
            if getattr(self, name) is None:
                setattr(self, name, production if self.env == "production" else RATE_LIMIT_OFF)

    def check_safe(self, explicitly_set: set[str]) -> None:
        """Refuse local defaults outside local use.

        In ``production``, every problem found is listed in one message: the database URL or
        RPC URL not set explicitly; a deployment record of a local chain id
        (``ledger.local_keys.LOCAL_CHAIN_IDS``); a keystore, token-file account or relayer of
        the well-known local keys (``WELL_KNOWN_ADDRESSES``: keystore files name their
        address, so nothing is unlocked here); ``public_rpc_url``, ``site_url`` or
        ``explorer_url`` over plain HTTP, or ``rpc_url`` over plain HTTP to a host other than
        loopback; the token file, a keystore or the password file readable by group or others;
        the keystore folder, the token file's folder or the password file writable by group
        or others.

        Raises:
            UnsafeSettingsError: in ``production``, with :attr:`~UnsafeSettingsError.problems`.
        """
        if self.env == "local":
            return
        problems: list[str] = []
        missing = [name for name in ("database_url", "rpc_url") if name not in explicitly_set]
        if missing:
            names = ", ".join(f"LEDGER_{m.upper()}" for m in missing)
            problems.append(f"LEDGER_ENV=production needs {names} set explicitly.")
        problems += _local_chain_problems(self.deployment_file)
        problems += _url_problems(self)
        problems += _secret_path_problems(self)
        problems += _well_known_key_problems(self)
        if problems:
            raise UnsafeSettingsError(problems)


class UnsafeSettingsError(LedgerConfigError):
    """``LEDGER_ENV=production`` with settings that are only safe locally.

    Attributes:
        problems: one sentence per problem found (all of them, not just the first).
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            "LEDGER_ENV=production refuses to start:\n" + "\n".join(f"- {problem}" for problem in problems)
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_problems(settings: Settings) -> list[str]:
    problems = []
    for name in ("public_rpc_url", "site_url", "explorer_url"):
        value = getattr(settings, name)
        if value.startswith("http://"):
            problems.append(f"LEDGER_{name.upper()} {value} is plain HTTP: every reader uses it, give an https:// URL.")
    parts = urlsplit(settings.rpc_url)
    if parts.scheme in ("http", "ws") and not _is_loopback(parts.hostname or ""):
        problems.append(
            f"LEDGER_RPC_URL uses plain {parts.scheme.upper()} to {parts.hostname!r}: only a loopback node may be "
            "reached without TLS; use https:// (or wss://)."
        )
    return problems


def _local_chain_problems(deployment_file: Path | None) -> list[str]:
    from ledger.local_keys import LOCAL_CHAIN_IDS

    if deployment_file is None or not deployment_file.is_file():
        return []
    try:
        chain_id = int(json.loads(deployment_file.read_text(encoding="utf-8"))["chain_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return []  # load_deployment names what is wrong with the record
    if chain_id in LOCAL_CHAIN_IDS:
        return [f"The deployment record {deployment_file} is for chain id {chain_id}, a local development chain."]
    return []


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


def _secret_path_problems(settings: Settings) -> list[str]:
    problems = []
    others_write = stat.S_IWGRP | stat.S_IWOTH
    others_any = stat.S_IRWXG | stat.S_IRWXO
    keys = settings.staff_keys_file
    assert keys is not None and settings.keystore_dir is not None
    mode = _mode(keys)
    if mode is not None and mode & others_any:
        problems.append(f"{keys} must be readable by its owner only (chmod 600).")
    for folder, what in ((settings.keystore_dir, "keystore folder"), (keys.parent, "token file's folder")):
        mode = _mode(folder)
        if mode is not None and mode & others_write:
            problems.append(f"The {what} {folder} is writable by group or others (mode {mode:o}): chmod 700.")
    if settings.keystore_dir.is_dir():
        for file in sorted(settings.keystore_dir.glob("*.json")):
            mode = _mode(file)
            if mode is not None and mode & others_any:
                problems.append(f"The keystore {file} is readable by group or others (mode {mode:o}): chmod 600.")
    password_file = settings.keystore_password_file
    mode = _mode(password_file) if password_file is not None else None
    if mode is not None and mode & others_any:
        problems.append(f"The password file {password_file} is readable or writable by group or others (mode {mode:o}): chmod 600.")
    return problems


def _well_known_key_problems(settings: Settings) -> list[str]:
    from eth_utils import to_checksum_address

    from ledger.local_keys import is_well_known_address

    found: list[tuple[str, Path]] = []
    assert settings.keystore_dir is not None and settings.staff_keys_file is not None
    if settings.keystore_dir.is_dir():
        for file in sorted(settings.keystore_dir.glob("*.json")):
            try:
                address = str(json.loads(file.read_text(encoding="utf-8"))["address"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # unlocking it at start-up names what is wrong
            if is_well_known_address(address):
                found.append(("0x" + address.removeprefix("0x"), file))
    if settings.staff_keys_file.is_file():
        try:
            raw = json.loads(settings.staff_keys_file.read_text(encoding="utf-8"))
            accounts = [str(t.get("account") or t.get("registrar") or "") for t in raw.get("tokens", [])]
            if isinstance(raw.get("relayer"), dict):
                accounts.append(str(raw["relayer"].get("account") or ""))
        except (OSError, ValueError, AttributeError, TypeError):
            accounts = []  # the staff registry names what is wrong with the file
        found += [(account, settings.staff_keys_file) for account in accounts if account and is_well_known_address(account)]
    seen: set[tuple[str, Path]] = set()
    problems = []
    for address, file in found:
        address = to_checksum_address(address)
        if (address, file) not in seen:
            seen.add((address, file))
            problems.append(
                f"{file} uses account {address}, one of the well-known local development keys (anyone can sign with it)."
            )
    return problems


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
