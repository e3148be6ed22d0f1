"""Run-time settings of classification, overridable by `SURVEILRISK_*` env vars or `.env`.

The service extends them with its own (`serving.settings.ServiceSettings`); both are read once
per process by the CLI or the app factory, never at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from classifier.extract import Limits
from classifier.registry import RuntimeChoice
from classifier.resources import data_file
from classifier.review import ReviewThresholds


class Settings(BaseSettings):
    """What the classifier and the screening policy need: model, batch size, input limits."""

    model_config = SettingsConfigDict(env_prefix="SURVEILRISK_", env_file=".env", extra="ignore")

    # --- model -------------------------------------------------------------------------
    model: str = Field(
        default="shipped",
        description="Model to load: `shipped`, an artifact folder, or the `keyword` baseline.",
    )
    inference_batch_size: int = Field(default=32, ge=1, le=512, description="Windows per forward pass.")
    torch_threads: int | None = Field(default=None, ge=1, description="torch intra-op threads; default: torch's.")
    inference_runtime: Literal["auto", "torch", "onnx"] = Field(
        default="auto",
        description="`auto`: the artifact's ONNX graph when exported (`surveilrisk export-onnx`), else torch.",
    )
    onnx_variant: Literal["auto", "exact", "tolerant"] = Field(
        default="auto", description="`auto`: the int8 graph only if its recorded agreement gate passed, else fp32."
    )
    evidence_mode: Literal["auto", "attention", "shortlist", "reread"] = Field(
        default="auto",
        description="Evidence: `reread` (auto) re-reads the best windows' segments; `attention` ranks them by the "
        "first pass's label attention (no second pass); `shortlist` re-reads only the attention's top segments.",
    )
    inference_threads: int | None = Field(
        default=None, ge=1, description="Intra-op threads of the inference runtime; default: all cores."
    )

    # --- input limits ------------------------------------------------------------------
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, description="Largest accepted upload.")
    max_pages: int = Field(default=300, ge=1, description="Most PDF pages read from one document.")
    max_chars: int = Field(default=400_000, ge=1000, description="Most characters of extracted text classified.")
    extraction_timeout_s: float = Field(default=30.0, gt=0, description="Wall-clock limit for extracting one file.")
    extraction_memory_mb: int = Field(
        default=1024, ge=128, description="Address-space limit (RLIMIT_AS) of the child process that parses a file."
    )
    max_parallel_parses: int = Field(default=2, ge=1, le=64, description="Parsing child processes alive at once.")
    max_zip_member_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="Largest inflated size of one part of a DOCX (ZIP) file."
    )
    max_zip_total_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1024, description="Largest inflated size of all parts of a DOCX together."
    )

    # --- when a person must review the reading -------------------------------------------
    review_min_words: int = Field(default=40, ge=0, description="Fewer words than this: review required.")
    review_low_confidence: float = Field(
        default=0.6, ge=0, le=1, description="Likeliest tier below this probability: review required."
    )

    # --- screening policy --------------------------------------------------------------
    policy_path: Path = Field(default_factory=lambda: data_file("policy.yaml"), description="Screening policy YAML.")

    @property
    def runtime(self) -> RuntimeChoice:
        return RuntimeChoice(
            runtime=self.inference_runtime,
            onnx_variant=self.onnx_variant,
            evidence=self.evidence_mode,
            threads=self.inference_threads or self.torch_threads,
        )

    @property
    def review(self) -> ReviewThresholds:
        return ReviewThresholds(min_words=self.review_min_words, low_confidence=self.review_low_confidence)

    @property
    def limits(self) -> Limits:
        return Limits(
            max_bytes=self.max_upload_bytes,
            max_pages=self.max_pages,
            max_chars=self.max_chars,
            timeout_s=self.extraction_timeout_s,
            memory_mb=self.extraction_memory_mb,
            max_parallel_parses=self.max_parallel_parses,
            max_zip_member_bytes=self.max_zip_member_bytes,
            max_zip_total_bytes=self.max_zip_total_bytes,
        )


def get_settings() -> Settings:
    """A fresh Settings from the current environment (callers keep the instance)."""
    return Settings()
