"""Settings from the environment (prefix ``CALLVAULT_``); every secret can also come from ``NAME_FILE``."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FIELDS = ("secret_key",)


class Settings(BaseSettings):
    """Runtime configuration. SQLite under ``data_dir`` unless ``database_url`` names PostgreSQL."""

    model_config = SettingsConfigDict(env_prefix="CALLVAULT_", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str = ""
    # Migrations run as the schema owner; the application itself connects as a role without ownership,
    # so PostgreSQL's row-level security applies to it (owners bypass RLS unless it is forced).
    database_admin_url: str = ""
    database_app_role: str = "callvault_app"
    sqlite_busy_timeout_ms: int = 5000
    # Concurrent SQLite transactions share one fsync of the write-ahead log (core/groupcommit.py); a commit still
    # returns only once it is on disk. False: every COMMIT fsyncs on its own (PRAGMA synchronous=FULL).
    sqlite_group_commit: bool = True

    secret_key: SecretStr | None = None
    # The vault's master key (32 raw bytes, mode 0600); default `data_dir/master.key`. Every command refuses to
    # start without it; `callvault demo` and `callvault vault init-key` create it.
    master_key_file: Path | None = None
    # Ed25519 key that signs audit checkpoints; generated (0600) in the data directory when not given.
    audit_signing_key_file: Path | None = None
    audit_checkpoint_every_records: int = Field(default=1000, ge=1)
    audit_checkpoint_every_seconds: float = Field(default=300.0, gt=0)
    # Append-only directory (another disk, a WORM mount) that receives a copy of every signed checkpoint.
    audit_witness_dir: Path | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    cookie_secure: bool = True
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # File uploads (list imports) stream to disk and have their own, larger limit.
    max_upload_bytes: int = Field(default=2 * 1024**3, ge=1024)

    # Drop directories (data_dir/dropbox/<slug>/incoming): `serve` polls them every `dropbox_poll_seconds`
    # (0: off); a file without a FILE.done marker is taken once unchanged for `dropbox_settle_seconds`.
    dropbox_poll_seconds: float = Field(default=10.0, ge=0)
    dropbox_settle_seconds: float = Field(default=120.0, ge=0)

    # Background services (docs/services.md). `serve` and `demo` run them inside the web process unless `services`
    # is off; `callvault worker` runs only them. `services_tenants`: comma-separated slugs this process serves
    # (empty: every institution), to split institutions between worker processes.
    services: bool = True
    services_tenants: str = ""
    service_restart_min_seconds: float = Field(default=1.0, gt=0)
    service_restart_max_seconds: float = Field(default=60.0, gt=0)
    # Webhook delivery: due deliveries, retries on the backoff schedule, dead letters.
    service_webhooks: bool = True
    webhook_interval_seconds: float = Field(default=2.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # Lets webhook URLs reach loopback and private addresses (a local demo institution); off in production.
    webhook_allow_private: bool = False
    webhook_ca_file: Path | None = None
    # Trigger worker: accepted call requests -> engine -> result + webhook.
    service_trigger: bool = True
    trigger_interval_seconds: float = Field(default=1.0, gt=0)
    trigger_ring_timeout_seconds: float = Field(default=30.0, gt=0)
    # Overload control of the trigger API (docs/trigger-api.md): at most this many orders in progress per server
    # process; one more is refused at once (503, Retry-After) before any database work, so the orders admitted
    # keep a bounded latency past saturation instead of all queueing. One process serves roughly 50-100 orders/s
    # (docs/performance.md): 8 in progress is about 100 ms of work queued ahead of an admitted order.
    trigger_max_in_flight: int = Field(default=8, ge=1)
    trigger_retry_after_seconds: int = Field(default=1, ge=1)
    # Campaign runner for running campaigns (one process per institution at a time, through a lease).
    service_campaigns: bool = True
    campaign_interval_seconds: float = Field(default=5.0, gt=0)
    campaign_lease_seconds: float = Field(default=60.0, ge=5)
    # A campaign pass dials for this long (virtual seconds on the sim engine), then finishes its calls.
    campaign_pass_seconds: float = Field(default=60.0, gt=0)
    # Rating of closed customer legs of the call records into billing's ledger.
    service_rating: bool = True
    rating_interval_seconds: float = Field(default=60.0, gt=0)
    rating_lookback_days: int = Field(default=40, ge=1)
    rating_full_scan_seconds: float = Field(default=3600.0, gt=0)
    # The telephony engine the trigger worker and the campaign runner dial on: the in-process simulation
    # (every number answers after `sim_answer_seconds` and presses `sim_callee_keys`) or pjsua2 SIP workers.
    telephony_engine: Literal["sim", "sip"] = "sim"
    sim_callee_keys: str = "1"
    sim_answer_seconds: float = Field(default=2.0, ge=0)
    sip_address: str = "127.0.0.1"
    sip_port: int = 5060
    sip_rtp_port: int = 40000
    sip_dial_uri: str = "sip:{number}@pstn"
    sip_from_uri: str = "sip:callvault@trigger"
    # "host:port" of the SIP front (Kamailio, `callvault sip-front`) through which the engine rings agents' phones
    # and reaches the institutions' outbound trunks; empty: none (agents' phones cannot be rung).
    sip_front: str = ""
    # Inbound calls on the sip engine: the switchboard (DID -> IVR -> ACD -> agent's phone) runs in the process
    # that routes (serve/demo, not `callvault worker`).
    service_inbound: bool = True
    inbound_check_seconds: float = Field(default=5.0, gt=0)

    session_idle_seconds: int = 15 * 60
    session_absolute_seconds: int = 12 * 3600
    lockout_threshold: int = 5
    lockout_seconds: int = 30 * 60
    hmac_skew_seconds: int = 300
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4

    log_level: str = "INFO"
    log_json: bool = True

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, values: Any) -> Any:
        """Let ``CALLVAULT_SECRET_KEY_FILE`` (and the like) supply a secret without putting it in the environment."""
        if not isinstance(values, dict):
            return values
        for name in SECRET_FIELDS:
            path = os.environ.get(f"CALLVAULT_{name.upper()}_FILE")
            if path and not values.get(name):
                values[name] = Path(path).read_text(encoding="utf-8").strip()
        return values

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+pysqlite:///{(self.data_dir / 'callvault.sqlite3').resolve()}"

    @property
    def effective_admin_url(self) -> str:
        return self.database_admin_url or self.effective_database_url

    @property
    def effective_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def service_tenant_slugs(self) -> list[str]:
        return [slug.strip() for slug in self.services_tenants.split(",") if slug.strip()]

    @property
    def is_postgres(self) -> bool:
        return self.effective_database_url.startswith("postgresql")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
