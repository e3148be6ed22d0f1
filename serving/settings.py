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
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'surveilrisk.db').resolve()}"


def get_service_settings() -> ServiceSettings:
    return ServiceSettings()
