"""All run-time settings in one typed place, overridable by `SURVEILRISK_*` env vars or `.env`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODEL_DIR = REPO_ROOT / "models" / "shipped"
DEFAULT_POLICY_PATH = REPO_ROOT / "data" / "policy.yaml"


class Settings(BaseSettings):
    """Read once per process by the CLI or the app factory; never at import time."""

    model_config = SettingsConfigDict(env_prefix="SURVEILRISK_", env_file=".env", extra="ignore")

    # --- model -------------------------------------------------------------------------
    model: str = Field(
        default=str(SHIPPED_MODEL_DIR),
        description="Model to serve: an artifact folder, or a baseline name (`keyword`, `tfidf`).",
    )
    inference_batch_size: int = Field(default=32, ge=1, le=512, description="Windows per forward pass.")
    torch_threads: int | None = Field(default=None, ge=1, description="torch intra-op threads; default: torch's.")

    # --- input limits ------------------------------------------------------------------
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, description="Largest accepted upload.")
    max_pages: int = Field(default=300, ge=1, description="Most PDF pages read from one document.")
    max_chars: int = Field(default=400_000, ge=1000, description="Most characters of extracted text classified.")
    extraction_timeout_s: float = Field(default=30.0, gt=0, description="Wall-clock limit for extracting one file.")
    batch_max_items: int = Field(default=20, ge=1, description="Most documents in one batch request.")

    # --- storage and service -----------------------------------------------------------
    data_dir: Path = Field(default=REPO_ROOT / "var", description="Folder for the SQLite database and files.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file `surveilrisk.db` in data_dir."
    )
    store_raw_documents: bool = Field(default=False, description="Keep uploaded bytes next to extracted text.")
    policy_path: Path = Field(default=DEFAULT_POLICY_PATH, description="Screening policy YAML file.")
    environment: str = Field(default="development", description="`development` or `production`.")
    metrics_public: bool = Field(default=False, description="Serve /metrics without an API key.")

    @field_validator("environment")
    @classmethod
    def _known_environment(cls, v: str) -> str:
        if v not in {"development", "production"}:
            raise ValueError(f"environment must be 'development' or 'production', got {v!r}")
        return v

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'surveilrisk.db').resolve()}"


def get_settings() -> Settings:
    """A fresh Settings from the current environment (callers keep the instance)."""
    return Settings()
