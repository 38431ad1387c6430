"""Configuration from ``BRIDGE_*`` environment variables (and optionally a ``.env`` file).

A missing or malformed setting stops the program with one line naming it; secrets are
``SecretStr`` and never printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, FilePath, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.catalogue import has, text


def default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "pension-bridge"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BRIDGE_", env_file=os.environ.get("BRIDGE_ENV_FILE"),
                                      extra="ignore")

    # Each side of a network gap has only half of these: ``Settings.need`` names what a command lacks.
    platform_url: str | None = Field(default=None, description="base URL including /open/v1")
    app_key: str | None = None
    app_secret: SecretStr | None = None
    internal_db: str | None = Field(default=None, description="SQLAlchemy URL of the internal database")
    state_db: str | None = Field(default=None, description="the bridge's own tables; default: internal_db")
    home: Path = Field(default_factory=default_home)
    scan_dir: Path | None = Field(default=None, description="where scans are kept; default: home/scans "
                                  "(workers on several machines may share one folder)")
    regions: str = Field(default="", description="comma-separated region code prefixes served")
    regions_file: Path | None = None
    # The contract's 10/s and bursts of 20 (platform-api.md §2), less a margin: 2 % of the rate for
    # a platform whose clock or counting differs a little from ours, and 2 of the burst for the
    # jitter between a request leaving here and arriving there (0.2 s at the rate). See
    # docs/performance.md, "At the platform's limit".
    rate_limit: float = Field(default=9.8, ge=0, description="requests/s to the platform; 0: unpaced")
    rate_burst: int = Field(default=18, ge=1)
    timeout: float = Field(default=30.0, gt=0, description="seconds for each phase of a platform request "
                           "(connect, at most 10; one read; one write; a pooled connection)")
    request_deadline: float = Field(default=120.0, gt=0, description="seconds one platform request may take in "
                                    "all, however slowly its answer comes; then it is retried within the budget")
    # The county's network to the platform.
    proxy: str | None = Field(default=None, pattern=r"^(https?|socks5h?)://\S+$",
                              description="proxy to the platform; default: HTTPS_PROXY, unless NO_PROXY names it")
    ca_bundle: FilePath | None = Field(default=None, description="PEM bundle of the CAs the platform's "
                                       "certificate is checked against (a government CA); default: certifi")
    client_cert: FilePath | None = Field(default=None, description="PEM client certificate for mutual TLS "
                                         "at an API gateway")
    client_key: FilePath | None = Field(default=None, description="its private key, when not in the same file")
    retry_budget: int = Field(default=200, ge=0, description="retries one run may spend")
    retry_seconds: float = Field(default=900.0, ge=0, description="seconds of waiting one run may spend")
    feed_overlap: int = Field(default=180, ge=120, description="seconds re-read before the checkpoint")
    page_size: int = Field(default=500, ge=1, le=500)
    scan_workers: int = Field(default=8, ge=1, le=64)
    match_window_days: int = Field(default=7, ge=0)
    full_sweep_days: float = Field(default=7.0, ge=0, description="days between nights whose seal and write-back "
                                   "read the whole ledger (the others read what can have changed); 0: every night")
    review_lookback_hours: float = Field(default=48.0, ge=0, description="how far before the last finished night "
                                         "review times inside (AAE015) are read")
    report_dir: Path | None = Field(default=None, description="where each run writes the day's report")
    console_idle_minutes: float = Field(default=30.0, gt=0, description="minutes without a request after which "
                                        "a console session ends (besides its absolute 8 hours)")
    report_formats: str = Field(default="xlsx,html", pattern="^((xlsx|html|csv|json),?)*$")
    seal_key: Path | None = Field(default=None, description="the agency's seal key file (JSON)")
    seal_algorithm: str = Field(default="SM2-SM3", pattern="^(SM2-SM3|Ed25519)$",
                                description="algorithm of the trial key made when no seal key is set")
    # Personal data at rest (docs/privacy.md): how long it is kept, the key it is kept under.
    data_key: Path | None = Field(default=None, description="the SM4 data key file (0600) scans and raw "
                                  "payloads are encrypted under; without one they are kept clear, with a warning")
    retention_days: int = Field(default=180, ge=1, description="days after a transaction's final state before "
                                "its scans and raw payloads are purged (pension-bridge purge)")
    audit_retention_days: int = Field(default=365, ge=180, description="days audit entries are kept at least "
                                      "(at least 180: six months)")
    ferry_data_key: Path | None = Field(default=None, description="SM4 key file (keys new) both sides of the gap "
                                        "hold: batches are encrypted with it as well as signed")
    # Across the network gap (collect / load): folders the gateway ferries, and the batch key.
    ferry_outbox: Path | None = Field(default=None, description="batches this side writes for the gateway")
    ferry_inbox: Path | None = Field(default=None, description="batches the gateway brings from the other side")
    ferry_signature: str = Field(default="HMAC-SHA256", pattern="^(HMAC-SHA256|SM2-SM3)$")
    ferry_key: SecretStr | None = Field(default=None, description="HMAC secret shared by both sides")
    ferry_key_file: Path | None = Field(default=None, description="this side's SM2 key (ferry keygen)")
    ferry_peer_key: Path | None = Field(default=None, description="the other side's SM2 public key")
    ferry_sender: str = Field(default="", pattern=r"^[A-Za-z0-9_.]{0,40}$",
                              description="this side's name in batch files; default: the host name")
    ferry_one_way: bool = Field(default=False, description="results cannot cross back: hold and report them")
    # Distributed runs (worker, sync --distributed): procrastinate's queue in PostgreSQL.
    queue_db: str | None = Field(default=None, description="PostgreSQL URL of the job queue; default: state_db")
    partition_level: str = Field(default="county", pattern="^(county|township)$")
    worker_heartbeat: float = Field(default=10.0, gt=0, description="seconds between a worker's heartbeats")
    worker_stalled_after: float = Field(default=30.0, gt=0,
                                        description="seconds without a heartbeat before a job is given to another worker")

    @field_validator("platform_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(text("cli.reason.platform_scheme"))
        return value.rstrip("/")

    @field_validator("internal_db", "state_db", "queue_db")
    @classmethod
    def _db_url(cls, value: str | None) -> str | None:
        """A database URL SQLAlchemy can open (``postgresql://…``, ``sqlite:///…``): a path or
        ``host/db`` without a scheme stops here, not in a traceback of the first query."""
        if value is None:
            return None
        from sqlalchemy.engine import make_url

        from connectors.internal.db import normalise_url

        try:
            make_url(normalise_url(value)).get_dialect()
        except Exception:
            raise ValueError(text("cli.reason.db_url")) from None
        return value

    @field_validator("client_key")
    @classmethod
    def _key_needs_its_certificate(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None and info.data.get("client_cert") is None:
            raise ValueError(text("cli.reason.key_needs_cert"))
        return value

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: str) -> str:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if any(not p.isdigit() or not 2 <= len(p) <= 12 for p in parts):
            raise ValueError(text("cli.reason.regions"))
        return ",".join(parts)

    @property
    def region_prefixes(self) -> tuple[str, ...]:
        return tuple(p for p in self.regions.split(",") if p)

    @property
    def state_url(self) -> str:
        """The bridge's own tables; a collector without an internal database keeps them under home."""
        return self.state_db or self.internal_db or f"sqlite:///{self.home / 'state.db'}"

    @property
    def scans_path(self) -> Path:
        return self.scan_dir or self.home / "scans"

    @property
    def queue_url(self) -> str:
        return self.queue_db or self.state_url

    def need(self, *names: str) -> None:
        """Stop with one line naming the first setting this command needs and lacks."""
        for name in names:
            if getattr(self, name) in (None, ""):
                raise SettingsError(text("cli.setting_missing", name=f"BRIDGE_{name.upper()}"))


def prepare_home(home: Path) -> None:
    """BRIDGE_HOME as its owner's alone (0700): it holds the databases, scans, logs, reports,
    receipts and keys. A home an earlier version left open to others is closed, which also
    closes the files it made there (nobody else can reach them)."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = home.stat()
    if info.st_mode & 0o077 and info.st_uid == os.getuid():
        home.chmod(0o700)


class SettingsError(SystemExit):
    """Stops the program with one line naming the setting."""


def load(**overrides: Any) -> Settings:
    """Settings from the environment; raises SettingsError naming the first bad one.

    ``BRIDGE_ENV_FILE`` naming a file that is not there stops here: read silently as absent, it
    left every setting at its default (a fresh SQLite file under the home, an empty queue)."""
    env_file = os.environ.get("BRIDGE_ENV_FILE") or None
    if env_file is not None and not Path(env_file).is_file():
        raise SettingsError(text("cli.env_file_missing", path=env_file))
    try:
        # _env_file is pydantic-settings' own argument; mypy sees only the fields (no pydantic plugin).
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        name = "BRIDGE_" + str(first["loc"][0]).upper() if first["loc"] else "BRIDGE_*"
        if first["type"] == "missing":
            raise SettingsError(text("cli.setting_missing", name=name)) from None
        raise SettingsError(text("cli.setting_invalid", name=name, reason=_reason(first))) from None


def _reason(problem: ErrorDetails) -> str:
    """Why a value was refused, in words (a validator's own words are already the catalogue's)."""
    kind = str(problem["type"])
    if kind == "value_error" and problem.get("ctx", {}).get("error") is not None:
        return str(problem["ctx"]["error"])
    for prefix in ("string_pattern", "path_not_file", "float_parsing", "int_parsing", "bool_parsing",
                   "greater_than", "less_than"):
        if kind.startswith(prefix) and has(f"doctor.reason.{prefix}"):
            return text(f"doctor.reason.{prefix}")
    return text("doctor.reason.other", detail=str(problem.get("msg", ""))[:160])
