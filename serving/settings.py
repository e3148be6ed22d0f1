"""The service's settings: the classifier's, plus storage, batches and exposure of metrics."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from classifier.resources import default_data_dir
from classifier.settings import Settings


class ServiceSettings(Settings):
    """Read once by the app factory or the CLI; `production` refuses unsafe defaults."""

    batch_max_items: int = Field(default=20, ge=1, description="Most documents in one batch request.")
    inference_queue_limit: int = Field(
        default=16,
        ge=1,
        description="Classification requests in progress at once (extracting, queued or running); "
        "past it, 503 with Retry-After.",
    )
    inference_max_batch_docs: int = Field(
        default=32, ge=1, description="Most documents of waiting requests packed into one model call."
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Folder for the SQLite database: `var/` in a checkout, the user data folder when installed.",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file `surveilrisk.db` in data_dir."
    )
    store_raw_documents: bool = Field(default=False, description="Keep uploaded bytes next to extracted text.")
    environment: str = Field(
        default="development",
        description="`development` or `production` (production needs an explicit database URL and private metrics).",
    )
    metrics_public: bool = Field(default=False, description="Serve /metrics without an API key.")
    four_eyes: bool = Field(
        default=True,
        description="A screening cannot be reviewed with the key that created it; set false only for one-person teams.",
    )
    claim_minutes: int = Field(default=30, ge=1, le=24 * 60, description="How long a reviewer's claim lasts.")
    worklist_scan: int = Field(
        default=5000, ge=10, description="Most unreviewed screenings (newest first) ranked for the worklist."
    )

    # --- cost of one request (see README "Security and limits") ------------------------
    max_request_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=4096,
        description="Largest body of an upload route (classify, batch, screenings), counted while it streams.",
    )
    max_json_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest body of every other route (reviews, keys...)."
    )
    max_form_fields: int = Field(default=16, ge=4, description="Most non-file fields in one multipart form.")
    body_idle_timeout_s: float = Field(
        default=15.0, gt=0, description="A request body that sends nothing for this long gets 408."
    )
    request_timeout_s: float = Field(
        default=120.0, gt=0, description="Deadline of one request; past it 504 and nothing is stored."
    )
    batch_budget_s: float = Field(
        default=60.0, gt=0, description="Time one batch may spend reading its files; later items are refused."
    )

    # --- abuse -------------------------------------------------------------------------
    auth_max_failures: int = Field(default=10, ge=1, description="Failed API keys from one address before lockout.")
    auth_failure_window_s: float = Field(default=60.0, gt=0, description="Window in which failures are counted.")
    auth_lockout_s: float = Field(default=300.0, gt=0, description="How long a locked-out address gets 429.")
    rate_limit_per_minute: int = Field(default=600, ge=1, description="Requests one API key may make a minute.")

    # --- audit trail -------------------------------------------------------------------
    audit_key_file: Path | None = Field(
        default=None,
        description="HMAC key file of the audit chain (created 0600 on first start); default data_dir/audit.key. "
        "SURVEILRISK_AUDIT_KEY (hex) takes precedence.",
    )
    audit_key: str | None = Field(default=None, repr=False, description="Audit HMAC key as hex (instead of a file).")
    audit_anchor_file: Path | None = Field(
        default=None, description="Append-only file of chain heads; default data_dir/audit-anchor.log."
    )
    audit_repair_triggers: bool = Field(
        default=True,
        description="At start-up, re-create missing append-only triggers (and record it in the chain); "
        "false: refuse to start.",
    )

    # --- HTTP server (uvicorn) ---------------------------------------------------------
    server_keepalive_s: int = Field(default=5, ge=1, description="Idle keep-alive connections close after this.")
    server_limit_concurrency: int = Field(
        default=128, ge=1, description="Open connections + tasks above which uvicorn answers 503."
    )
    server_graceful_shutdown_s: int = Field(
        default=30, ge=1, description="On SIGTERM, how long in-flight requests may finish before they are cut."
    )

    @field_validator("environment")
    @classmethod
    def _known_environment(cls, v: str) -> str:
        if v not in {"development", "production"}:
            raise ValueError(f"environment must be 'development' or 'production', got {v!r}")
        return v

    @model_validator(mode="after")
    def _safe_in_production(self) -> ServiceSettings:
        if self.environment != "production":
            return self
        problems = []
        if not self.database_url:
            problems.append("set SURVEILRISK_DATABASE_URL (production does not fall back to a local SQLite file)")
        if self.metrics_public:
            problems.append("SURVEILRISK_METRICS_PUBLIC must be false (metrics name keys and models)")
        if problems:
            raise ValueError("unsafe settings for production: " + "; ".join(problems))
        return self

    @property
    def effective_audit_key_file(self) -> Path:
        return self.audit_key_file or self.data_dir / "audit.key"

    @property
    def effective_audit_anchor_file(self) -> Path:
        return self.audit_anchor_file or self.data_dir / "audit-anchor.log"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'surveilrisk.db').resolve()}"


def get_service_settings() -> ServiceSettings:
    return ServiceSettings()
