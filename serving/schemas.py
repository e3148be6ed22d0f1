"""API request and response bodies (separate from the database tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from classifier.policy import ACTION_IDS, END_USER_TYPES
from classifier.results import ClassificationResult
from classifier.taxonomy import TIER_IDS

EndUserType = Literal[
    "public_security",
    "military",
    "intelligence",
    "government_civil",
    "research",
    "private_company",
    "individual",
    "unknown",
]
ActionId = Literal["proceed", "proceed_with_due_diligence", "escalate", "block"]
TierId = Literal["minimal", "limited", "high", "critical"]
assert tuple(EndUserType.__args__) == END_USER_TYPES  # type: ignore[attr-defined]
assert tuple(ActionId.__args__) == ACTION_IDS  # type: ignore[attr-defined]
assert tuple(TierId.__args__) == TIER_IDS  # type: ignore[attr-defined]

# Input limits of free-text fields (the byte limit of uploads is a setting, checked before parsing).
MAX_TEXT_CHARS = 20 * 1024 * 1024
MAX_QUOTE_CHARS = 1000


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code.", examples=["file_too_large"])
    message: str = Field(description="What went wrong and what to fix.")
    details: list[dict[str, object]] | None = None


class ClassifyText(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"title": "VX-9 datasheet", "text": "The VX-9 compares every face it sees with a watch list."}]
        },
    )
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="Document text.")
    title: str | None = Field(default=None, max_length=255, description="Shown as `source` in the result.")


class BatchText(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[ClassifyText] = Field(min_length=1, max_length=1000)


class BatchItemResult(BaseModel):
    index: int
    source: str
    ok: bool
    result: ClassificationResult | None = None
    error: ErrorBody | None = None


class BatchResponse(BaseModel):
    results: list[BatchItemResult]


class ScreeningCreate(BaseModel):
    """JSON form of a screening request; multipart requests carry the same fields as form fields."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "text": "The VX-9 compares every face it sees with a police watch list in real time.",
                    "destination": "BR",
                    "end_user_type": "public_security",
                    "end_user_name": "State police",
                    "reference": "PO-2026-118",
                }
            ]
        },
    )
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    title: str | None = Field(default=None, max_length=255)
    destination: str = Field(max_length=8, description="ISO 3166-1 alpha-2 country code of the destination.")
    end_user_type: EndUserType
    end_user_name: str | None = Field(default=None, max_length=200)
    reference: str | None = Field(default=None, max_length=200, description="Your order or case reference.")

    @field_validator("destination")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.strip().upper()


class Actor(BaseModel):
    key_id: int
    name: str


class DestinationOut(BaseModel):
    code: str
    name: str
    group: str


class DocumentOut(BaseModel):
    filename: str | None
    media_type: str
    size_bytes: int
    sha256: str
    text_chars: int
    text: str | None = Field(default=None, description="Extracted text (single-screening view only).")


class DecisionOut(BaseModel):
    action: ActionId
    reasons: list[str]
    rule: int
    policy_version: str


class EvidenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(max_length=64)
    start: int | None = Field(default=None, ge=0, le=2**31 - 1)
    end: int | None = Field(default=None, gt=0, le=2**31 - 1)
    quote: str | None = Field(
        default=None, min_length=3, max_length=MAX_QUOTE_CHARS, description="Alternative to start/end: text to find."
    )


class ReviewCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "verdict": "correct",
                    "capabilities": ["face_identification"],
                    "risk_factors": ["real_time"],
                    "tier": "high",
                    "action": "escalate",
                    "comment": "Watch-list matching is on page 3.",
                    "evidence": [{"label": "real_time", "quote": "alerts within two seconds"}],
                }
            ]
        },
    )
    verdict: Literal["confirm", "correct"]
    capabilities: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, max_length=100, description="Corrected set (required when correcting)."
    )
    risk_factors: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None, max_length=100)
    tier: TierId | None = None
    action: ActionId | None = None
    evidence: list[EvidenceIn] = Field(
        default_factory=list, max_length=100, description="Spans for labels the model did not cite."
    )
    comment: str = Field(min_length=1, max_length=5000)


class ReviewOut(BaseModel):
    id: str
    created_at: datetime
    reviewer: Actor
    verdict: str
    capabilities: list[str]
    risk_factors: list[str]
    tier: str
    action: str
    evidence: list[dict[str, object]]
    comment: str


class ScreeningOut(BaseModel):
    id: str
    created_at: datetime
    created_by: Actor
    reference: str | None
    destination: DestinationOut
    end_user_type: str
    end_user_name: str | None
    document: DocumentOut
    classification: ClassificationResult
    decision: DecisionOut
    model_version: str
    reviews: list[ReviewOut] = Field(default_factory=list)
    permalink: str


class ScreeningSummary(BaseModel):
    id: str
    created_at: datetime
    created_by: Actor
    reference: str | None
    destination: str
    end_user_type: str
    filename: str | None
    tier: str
    action: str
    reviewed: bool


class ScreeningPage(BaseModel):
    items: list[ScreeningSummary]
    total: int
    page: int
    page_size: int


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["screener", "reviewer", "admin"]
    name: str = Field(min_length=1, max_length=120)


class KeyRoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["screener", "reviewer", "admin"]


class KeyOut(BaseModel):
    id: int
    prefix: str
    role: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The secret. Shown once; store it now.")


class WhoAmI(BaseModel):
    key_id: int
    name: str
    role: str
