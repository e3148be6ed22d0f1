"""The artifact's metadata as one typed object, read and written in one place.

An artifact folder holds `weights.safetensors` (only what fine-tuning changed), `artifact.json`
(this metadata), `metrics.json` and `MODEL_CARD.md`. The base weights come from the installed
package and are checked against `base_model.sha256`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

ARTIFACT_FORMAT = "surveilrisk-artifact/1"
WEIGHTS_FILE = "weights.safetensors"
ARTIFACT_FILE = "artifact.json"
METRICS_FILE = "metrics.json"
CARD_FILE = "MODEL_CARD.md"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BaseModelRef(_Strict):
    id: str
    package: str
    sha256: str


class WindowSpec(_Strict):
    max_tokens: int = Field(ge=16)
    overlap_tokens: int = Field(ge=0)


class DataRef(_Strict):
    """What the model learned from: a hash over the input files, their names and split sizes."""

    sha256: str
    files: list[str]
    documents: dict[str, int]
    real_texts: list[str] = Field(default_factory=list, description="Ids of real texts it trained on.")
    real_sha256: str | None = Field(default=None, description="Hash over those texts' own hashes.")
    real_calibration: list[str] = Field(
        default_factory=list, description="Ids of real texts whose logits joined calibration (real-dev)."
    )
    real_note: str = Field(default="", description="Why real texts asked for were not used (corpus-only model).")


class Temperature(_Strict):
    labels: float = 1.0
    tier: float = 1.0


class TierStackerMeta(_Strict):
    """Multinomial logistic regression from document probabilities to the tier."""

    coef: list[list[float]]
    intercept: list[float]
    floor_feature: bool = False
    high_cut: float | None = None


class ThresholdDetail(_Strict):
    threshold: float
    rule: str
    precision: float
    recall: float
    f1: float
    positives: int


class TierChoice(_Strict):
    head_accuracy: float
    head_recall: float
    stacker_cv_accuracy: float
    stacker_cv_recall: float
    stacker_high_cut: float | None = None


class ArtifactMeta(_Strict):
    """Everything `artifact.json` says; `version` is content-derived, `created` holds the date."""

    format: str = ARTIFACT_FORMAT
    version: str = "unsaved"
    created: str
    base_model: BaseModelRef
    capabilities: list[str]
    risk_factors: list[str]
    tiers: list[str]
    taxonomy_version: int
    windows: WindowSpec
    aggregation: str = "max over windows"
    net: dict[str, Any] = Field(description="NetConfig as a dict (classifier.model.NetConfig.from_dict).")
    data: DataRef
    train_config: dict[str, Any] = Field(default_factory=dict)
    history: list[dict[str, float]] = Field(default_factory=list)
    weights_chosen: str = "best epoch"
    temperature: Temperature = Field(default_factory=Temperature)
    thresholds: dict[str, float] = Field(default_factory=dict)
    threshold_details: dict[str, ThresholdDetail] = Field(default_factory=dict)
    tier_choice: TierChoice | None = None
    tier_stacker: TierStackerMeta | None = None
    metrics: dict[str, dict[str, float]] = Field(default_factory=dict)
    previous_ids: list[str] = Field(default_factory=list, description="Ids this same model had before.")

    @property
    def label_ids(self) -> list[str]:
        return [*self.capabilities, *self.risk_factors]

    @property
    def seed(self) -> int:
        return int(self.train_config.get("seed", 0))

    @classmethod
    def read(cls, folder: Path) -> ArtifactMeta:
        """Load and validate `artifact.json`; any problem is a ValueError naming the file."""
        path = Path(folder) / ARTIFACT_FILE
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read model artifact {path}: {exc}") from exc
        try:
            meta = cls.model_validate_json(raw)
        except ValidationError as exc:
            raise ValueError(f"{path} is not a valid SurveilRisk artifact: {exc}") from exc
        if meta.format != ARTIFACT_FORMAT:
            raise ValueError(f"{path} is not a SurveilRisk artifact (format {meta.format!r})")
        return meta

    def write(self, folder: Path) -> Path:
        path = Path(folder) / ARTIFACT_FILE
        path.write_text(self.model_dump_json(indent=2, exclude_none=False) + "\n", encoding="utf-8")
        return path
